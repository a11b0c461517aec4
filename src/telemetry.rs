//! The tracing subscriber: JSON lines in production, human-readable in development, and, when
//! a collector is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`), the app's spans exported to it.

use orbit_telemetry::{Exporting, TraceSettings};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, LogSettings};

/// What is exported: the app's own spans (requests, jobs) and the database's queries made
/// inside one of them or while a traced request is handled (the job queue's idle polls are
/// traces of nothing), never the HTTP client's (the exporter's own requests would trace
/// themselves) nor the console mailer's (its events carry sign-in links).
struct Exported(Targets);

const QUERIES: &str = "sea_orm::database";

impl Exported {
    fn new() -> Self {
        Self(
            Targets::new()
                .with_target("orbit", Level::INFO)
                .with_target("orbit_jobs", Level::INFO)
                .with_target("orbit_email", LevelFilter::OFF)
                .with_target("orbit_telemetry", LevelFilter::OFF)
                .with_target(QUERIES, Level::INFO),
        )
    }
}

impl<S: Subscriber + for<'span> LookupSpan<'span>> Filter<S> for Exported {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        self.0.would_enable(meta.target(), meta.level())
            && (!meta.target().starts_with(QUERIES)
                || cx.lookup_current().is_some()
                || orbit_telemetry::in_traced_request())
    }

    /// Settled once per callsite, except queries: whether they are inside an exported span
    /// is asked each time.
    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if !self.0.would_enable(meta.target(), meta.level()) {
            Interest::never()
        } else if meta.target().starts_with(QUERIES) {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::INFO)
    }
}

/// Database queries become spans only inside a traced request or another span (a job run). The
/// layer that decides has no filter of its own because a per-layer filter cannot: the
/// registry still makes a span every per-layer filter turned down (tracing-subscriber counts
/// a span unwanted only when all 64 filter slots refuse it), so under an exporter each query
/// outside a traced request paid for a span nobody kept.
struct QueriesInsideSpans;

fn is_query_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.target().starts_with(QUERIES)
}

impl<S: Subscriber + for<'span> LookupSpan<'span>> Layer<S> for QueriesInsideSpans {
    /// Asked at each query; no say in anything else.
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        match is_query_span(meta) {
            true => Interest::sometimes(),
            false => Interest::always(),
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, cx: Context<'_, S>) -> bool {
        !is_query_span(meta)
            || cx.current_span().id().is_some()
            || orbit_telemetry::in_traced_request()
    }

    /// It enables nothing itself, so the other layers' hints stand.
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::OFF)
    }
}

/// The JSON log layer without spans. Its lines carry neither the current span nor the span
/// list, yet `fmt`'s layer would still write every span's fields as JSON, parsing and
/// re-serializing them at each `record`: a traced request's span paid that for nothing.
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
    let gate = spans.is_some().then_some(QueriesInsideSpans);
    let installed = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans.map(|spans| spans.with_filter(Exported::new())))
        .with(gate)
        .try_init()
        .is_ok();
    exporting.filter(|_| installed)
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::Identity;

    use super::*;

    #[test]
    fn queries_become_spans_only_inside_a_span_or_a_traced_request() {
        let subscriber = tracing_subscriber::registry()
            .with(Identity::new().with_filter(EnvFilter::new("warn")))
            .with(Identity::new().with_filter(Exported::new()))
            .with(QueriesInsideSpans);
        tracing::subscriber::with_default(subscriber, || {
            let query = || tracing::info_span!(target: QUERIES, "sea_orm.query");
            assert!(query().is_disabled(), "a query outside any span");
            let request = tracing::info_span!("request");
            assert!(!request.is_disabled());
            request.in_scope(|| assert!(!query().is_disabled(), "a query inside a span"));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(orbit_telemetry::within(&request, async {
                assert!(!query().is_disabled(), "a query while a request is handled");
            }));
            assert!(query().is_disabled(), "a query after it");
        });
    }
}
