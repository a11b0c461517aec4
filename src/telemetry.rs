//! The tracing subscriber: JSON lines in production, human-readable in development, and, when
//! a collector is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`), the app's spans exported to it.

use orbit_telemetry::{Exporting, TraceSettings};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::DynFilterFn;
use tracing_subscriber::layer::Context;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, LogSettings};

/// What is exported: the app's own spans (requests, jobs) and the database queries made inside
/// them (not the job queue's idle polls), never the HTTP client's (the exporter's own
/// requests would trace themselves).
fn exported<S>(metadata: &Metadata<'_>, context: &Context<'_, S>) -> bool
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let target = metadata.target();
    let ours = target.starts_with("orbit") && !target.starts_with("orbit_telemetry");
    let query = target.starts_with("sea_orm") && context.lookup_current().is_some();
    metadata.level() <= &tracing::Level::INFO && (ours || query)
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
        .with(spans.with_filter(DynFilterFn::new(exported)))
        .try_init()
        .is_ok();
    exporting.filter(|_| installed)
}
