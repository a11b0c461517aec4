//! The tracing subscriber: JSON lines in production, human-readable in development, and, when
//! a collector is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`), the app's spans exported to it.

use orbit_telemetry::{Exporting, TraceSettings};
use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, LogSettings};

/// What is exported: the app's own spans (requests, jobs) and the database's queries (those
/// outside any request or job are dropped by the exporter's sampler), never the HTTP client's
/// (the exporter's own requests would trace themselves). A filter by target alone, so each
/// callsite's answer is cached.
fn exported() -> Targets {
    Targets::new()
        .with_target("orbit", Level::INFO)
        .with_target("orbit_jobs", Level::INFO)
        .with_target("orbit_telemetry", LevelFilter::OFF)
        .with_target("sea_orm::database", Level::INFO)
}

/// Installs the global subscriber. Logs go to stdout, where container platforms collect them.
/// A second call (tests boot many servers in one process) keeps the first subscriber. Returns
/// the exporter, to flush at shutdown, when spans are exported.
pub fn init(log: &LogSettings, traces: Option<&TraceSettings>) -> Option<Exporting> {
    let filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match log.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().boxed(),
    };
    let (exporting, spans) = match traces {
        Some(settings) => match Exporting::start(settings, crate::capabilities::http_client()) {
            Ok((exporting, layer)) => (Some(exporting), Some(layer)),
            Err(err) => {
                eprintln!("orbit: traces are not exported: {err}");
                (None, None)
            }
        },
        None => (None, None),
    };
    let installed = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans.map(|spans| spans.with_filter(exported())))
        .try_init()
        .is_ok();
    exporting.filter(|_| installed)
}
