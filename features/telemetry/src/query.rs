//! Database queries as spans. The app's pool reports each query as it ends (sea-orm's metric
//! callback), and a query that ran inside a job run's span or a traced request becomes a span
//! of that trace. A `tracing` span per query (sea-orm's `tracing-spans`) cost every query a
//! dozen lookups in the registry and the layers' filters, and most of a traced request's
//! tracing time.

use std::borrow::Cow;
use std::time::Duration;

use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

use crate::layer::{self, KIND_CLIENT, Recording, SpanLayer, TraceStart, Traced};
use crate::otlp::Value;

/// A query that ran for `elapsed` and just ended, on a database of `system` (`postgresql`,
/// `sqlite`): a span of the trace it ran in, child of the span entered or else of the traced
/// request being handled. Nothing when it ran in neither, or no span is exported.
pub fn query_ended(system: &'static str, statement: &str, elapsed: Duration, failed: bool) {
    tracing::dispatcher::get_default(|dispatch| {
        let Some(layer) = dispatch.downcast_ref::<SpanLayer>() else {
            return;
        };
        let entered = dispatch.current_span().id().and_then(|id| {
            let registry = dispatch.downcast_ref::<Registry>()?;
            let span = registry.span(id)?;
            span.scope()
                .find_map(|span| span.extensions().get::<Traced>().map(Traced::as_parent))
        });
        let Some(trace) = entered.unwrap_or_else(layer::request_parent) else {
            return;
        };
        let end = layer::now();
        let elapsed = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let start = end.saturating_sub(elapsed);
        record(trace, system, statement, start, failed).ended_at(end, &layer.queue);
    });
}

/// The span of a query that started at `start` (nanoseconds since the Unix epoch).
fn record(
    trace: TraceStart,
    system: &'static str,
    statement: &str,
    start: u64,
    failed: bool,
) -> Recording {
    let operation = operation(statement);
    let mut query = Recording::started_at(trace, Cow::Borrowed(operation), KIND_CLIENT, start);
    query.set("db.system", Value::Text(system));
    query.set("db.operation", Value::Text(operation));
    query.set("db.statement", Value::Text(statement));
    if failed {
        query.fail();
    }
    query
}

/// The statement's first keyword, named as sea-orm's spans named it.
fn operation(statement: &str) -> &'static str {
    let first = statement.split_whitespace().next().unwrap_or_default();
    ["SELECT", "INSERT", "UPDATE", "DELETE"]
        .into_iter()
        .find(|operation| operation.eq_ignore_ascii_case(first))
        .unwrap_or("EXECUTE")
}
