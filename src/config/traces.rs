//! The traces section: `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base URL; unset: off)
//! and `OTEL_SERVICE_NAME` (`orbit-api`).

use orbit_telemetry::TraceSettings;

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
