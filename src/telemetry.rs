//! The tracing subscriber: JSON lines in production, human-readable in development, and, when
//! a collector is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`), the app's spans exported to it.

use orbit_telemetry::{Exporting, TraceSettings};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, LogSettings};

/// The `tracing` spans exported, with the events inside them: the app's own (job runs), never
/// the HTTP client's (the exporter's own requests would trace themselves) nor the console
/// mailer's (its events carry sign-in links), nor the request's log line (written once the
/// request's span has ended). Requests and database queries are recorded without `tracing`
/// spans.
fn exported() -> Targets {
    Targets::new()
        .with_target("orbit", Level::INFO)
        .with_target("orbit::request", LevelFilter::OFF)
        .with_target("orbit_jobs", Level::INFO)
        .with_target("orbit_email", LevelFilter::OFF)
        .with_target("orbit_telemetry", LevelFilter::OFF)
}

/// The JSON log layer without spans. Its lines carry neither the current span nor the span
/// list, yet `fmt`'s layer would still write every span's fields as JSON, parsing and
/// re-serializing them at each `record`: each exported span paid that for nothing.
struct EventsOnly<L>(L);

impl<S: Subscriber, L: Layer<S>> Layer<S> for EventsOnly<L> {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.0.on_event(event, ctx);
    }
}

/// Installs the global subscriber. Logs go to stdout, where container platforms collect them.
/// A second call (tests boot many servers in one process) keeps the first subscriber. Returns
/// the exporter, to flush at shutdown, when spans are exported.
pub fn init(log: &LogSettings, traces: Option<&TraceSettings>) -> Option<Exporting> {
    let filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match log.format {
        LogFormat::Json => EventsOnly(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false),
        )
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
