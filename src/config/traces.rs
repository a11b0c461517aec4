//! The traces section: `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base URL; unset: off),
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME` (`orbit-api`), and the sampler,
//! `OTEL_TRACES_SAMPLER` with `OTEL_TRACES_SAMPLER_ARG`.

use orbit_telemetry::{Sampler, TraceSettings};

use super::Vars;

const DEFAULT_SERVICE_NAME: &str = "orbit-api";

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
        let sampler = Sampler::parse(
            self.get("OTEL_TRACES_SAMPLER"),
            self.get("OTEL_TRACES_SAMPLER_ARG"),
        );
        let headers = orbit_telemetry::parse_headers(
            self.get("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or_default(),
        );
        let sampler = sampler.unwrap_or_else(|problem| {
            self.problems.push(problem);
            Sampler::default()
        });
        let headers = headers.unwrap_or_else(|problem| {
            self.problems.push(problem);
            Vec::new()
        });
        let service_name = self
            .get("OTEL_SERVICE_NAME")
            .unwrap_or(DEFAULT_SERVICE_NAME)
            .to_owned();
        Some(TraceSettings {
            endpoint,
            headers,
            service_name,
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            sampler,
        })
    }
}
