//! The traces section: `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base URL; unset: off)
//! and `OTEL_SERVICE_NAME` (`orbit-api`). The OpenTelemetry SDK reads `OTEL_TRACES_SAMPLER`
//! and its argument itself, and quietly ignores what it does not know: they are checked here.

use orbit_telemetry::TraceSettings;

use super::Vars;

const DEFAULT_SERVICE_NAME: &str = "orbit-api";

const SAMPLERS: &[&str] = &[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

impl Vars {
    pub(super) fn traces(&mut self) -> Option<TraceSettings> {
        let endpoint = self.get("OTEL_EXPORTER_OTLP_ENDPOINT")?.to_owned();
        let is_http = url::Url::parse(&endpoint)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
        if !is_http {
            self.problems.push(format!(
                "OTEL_EXPORTER_OTLP_ENDPOINT must be the collector's http(s) URL, such as \
                 http://otel-collector:4318 (got {endpoint:?})"
            ));
        }
        if let Some(sampler) = self.get("OTEL_TRACES_SAMPLER")
            && !SAMPLERS.contains(&sampler)
        {
            let problem = format!(
                "OTEL_TRACES_SAMPLER must be one of {} (got {sampler:?})",
                SAMPLERS.join(", ")
            );
            self.problems.push(problem);
        }
        if let Some(ratio) = self.get("OTEL_TRACES_SAMPLER_ARG")
            && !ratio
                .parse::<f64>()
                .is_ok_and(|ratio| (0.0..=1.0).contains(&ratio))
        {
            let problem = format!(
                "OTEL_TRACES_SAMPLER_ARG must be the share of traces kept, 0 to 1 (got {ratio:?})"
            );
            self.problems.push(problem);
        }
        let service_name = self
            .get("OTEL_SERVICE_NAME")
            .unwrap_or(DEFAULT_SERVICE_NAME)
            .to_owned();
        Some(TraceSettings {
            endpoint,
            service_name,
        })
    }
}
