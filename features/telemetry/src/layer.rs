//! The `tracing` layer that turns the app's spans into OTLP spans: a small record per span,
//! filled from its fields, encoded once when the span closes into the exporter's queue.
//!
//! The `otel.*` fields are read as the OpenTelemetry conventions for `tracing` have them:
//! `otel.name` renames the span, `otel.kind` sets its kind, `otel.status_code` (`OK` or
//! `ERROR`) and `otel.status_message` its status. An error event inside a span that has no
//! status yet marks it failed.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt::{Debug, Write};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::export::Queue;
use crate::otlp::{self, Value};
use crate::sampler::Sampler;

/// Where a trace came from, for the span that starts it.
#[derive(Debug, Clone)]
pub(crate) struct TraceStart {
    pub trace_id: [u8; 16],
    /// The caller's span, when the trace continues the caller's.
    pub remote_parent: Option<[u8; 8]>,
    pub trace_state: String,
}

thread_local! {
    /// The trace the next span made on this thread starts (a sampled request's).
    static NEXT_ROOT: Cell<Option<TraceStart>> = const { Cell::new(None) };
}

tokio::task_local! {
    /// The span of the traced request a task is handling, parent of the spans and events made
    /// while no span of theirs is entered. Swapped in at each poll, where entering the span
    /// would cost a lookup in the registry and in each layer's filter, twice.
    static REQUEST: Id;
}

/// Runs `handling` as the work of the request `span`.
pub(crate) async fn within<F: Future>(span: Id, handling: F) -> F::Output {
    REQUEST.scope(span, handling).await
}

/// The traced request the current task is handling.
pub(crate) fn current_request() -> Option<Id> {
    REQUEST.try_with(Id::clone).ok()
}

/// Makes a span with `make`, as the root of `start`'s trace.
pub(crate) fn root_span(start: TraceStart, make: impl FnOnce() -> tracing::Span) -> tracing::Span {
    NEXT_ROOT.with(|next| next.set(Some(start)));
    let span = make();
    NEXT_ROOT.with(|next| next.take());
    span
}

/// A span kept in the extensions of the `tracing` span it mirrors.
enum Traced {
    Kept(Recording),
    /// Left out by the sampler; so are its children.
    Dropped,
}

struct Recording {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_id: Option<[u8; 8]>,
    trace_state: String,
    name: Cow<'static, str>,
    kind: u64,
    start: u64,
    /// Encoded `Span.attributes` fields, in the order they were recorded (a field recorded
    /// twice is sent twice: collectors keep the last).
    attributes: Vec<u8>,
    status: Option<(u64, String)>,
    /// The span's events, each an encoded `Span.events` field.
    events: Vec<u8>,
}

const KIND_INTERNAL: u64 = 1;
const KIND_SERVER: u64 = 2;
const STATUS_OK: u64 = 1;
const STATUS_ERROR: u64 = 2;

pub(crate) struct SpanLayer {
    pub queue: Arc<Queue>,
    pub sampler: Sampler,
}

impl<S> Layer<S> for SpanLayer
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let request = || attrs.is_contextual().then(current_request).flatten();
        let parent = span
            .parent()
            .or_else(|| ctx.span(&request()?))
            .and_then(|parent| {
                parent
                    .extensions()
                    .get::<Traced>()
                    .map(|traced| match traced {
                        Traced::Kept(parent) => {
                            Some((parent.trace_id, parent.span_id, parent.trace_state.clone()))
                        }
                        Traced::Dropped => None,
                    })
            });
        let (trace_id, parent_id, trace_state) = match (NEXT_ROOT.with(Cell::take), parent) {
            (Some(root), _) => (root.trace_id, root.remote_parent, root.trace_state),
            (None, Some(Some((trace_id, parent_id, state)))) => (trace_id, Some(parent_id), state),
            (None, Some(None)) => return span.extensions_mut().insert(Traced::Dropped),
            (None, None) => {
                let trace_id = rand::random();
                if !self.sampler.keeps(&trace_id, None) {
                    return span.extensions_mut().insert(Traced::Dropped);
                }
                (trace_id, None, String::new())
            }
        };
        let mut recording = Recording {
            trace_id,
            span_id: rand::random(),
            parent_id,
            trace_state,
            name: Cow::Borrowed(attrs.metadata().name()),
            kind: KIND_INTERNAL,
            start: now(),
            attributes: spare_buffer(),
            status: None,
            events: Vec::new(),
        };
        attrs.record(&mut Fields(|key, value: Value<'_>| {
            recording.set(key, value)
        }));
        span.extensions_mut().insert(Traced::Kept(recording));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(Traced::Kept(recording)) = span.extensions_mut().get_mut::<Traced>() {
            values.record(&mut Fields(|key, value: Value<'_>| {
                recording.set(key, value)
            }));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let request = || event.is_contextual().then(current_request).flatten();
        let Some(span) = ctx.event_span(event).or_else(|| ctx.span(&request()?)) else {
            return;
        };
        if !matches!(span.extensions().get::<Traced>(), Some(Traced::Kept(_))) {
            return;
        }
        // An `Event`: its time, its message as its name, its level and its other fields,
        // formatted before the span is locked: a field whose formatting logs re-enters this
        // layer (under the global subscriber), which must not find the span locked.
        let mut message = None;
        let mut attributes = Vec::new();
        let level = Value::Text(event.metadata().level().as_str());
        otlp::attribute(&mut attributes, 3, "level", &level);
        event.record(&mut Fields(|key, value: Value<'_>| match (key, value) {
            ("message", Value::Text(text)) => message = Some(text.to_owned()),
            (key, value) => otlp::attribute(&mut attributes, 3, key, &value),
        }));
        let name = message.unwrap_or_else(|| event.metadata().name().to_owned());
        let mut encoded = Vec::with_capacity(attributes.len() + name.len() + 16);
        otlp::fixed64(&mut encoded, 1, now());
        otlp::bytes(&mut encoded, 2, name.as_bytes());
        encoded.extend_from_slice(&attributes);
        if let Some(Traced::Kept(recording)) = span.extensions_mut().get_mut::<Traced>() {
            if *event.metadata().level() == Level::ERROR && recording.status.is_none() {
                recording.status = Some((STATUS_ERROR, name));
            }
            otlp::bytes(&mut recording.events, 11, &encoded);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if let Some(Traced::Kept(recording)) = span.extensions_mut().remove::<Traced>() {
            let end = now();
            self.queue.push(|out| recording.encode(end, out));
            recycle(recording.attributes);
        }
    }
}

impl Recording {
    /// The OTLP `Span` message.
    fn encode(&self, end: u64, out: &mut Vec<u8>) {
        otlp::bytes(out, 1, &self.trace_id);
        otlp::bytes(out, 2, &self.span_id);
        if !self.trace_state.is_empty() {
            otlp::bytes(out, 3, self.trace_state.as_bytes());
        }
        if let Some(parent_id) = &self.parent_id {
            otlp::bytes(out, 4, parent_id);
        }
        otlp::bytes(out, 5, self.name.as_bytes());
        otlp::uint(out, 6, self.kind);
        otlp::fixed64(out, 7, self.start);
        otlp::fixed64(out, 8, end.max(self.start));
        out.extend_from_slice(&self.attributes);
        out.extend_from_slice(&self.events);
        if let Some((code, message)) = &self.status {
            let mut status = Vec::new();
            if !message.is_empty() {
                otlp::bytes(&mut status, 2, message.as_bytes());
            }
            otlp::uint(&mut status, 3, *code);
            otlp::bytes(out, 15, &status);
        }
    }

    fn set(&mut self, key: &'static str, value: Value<'_>) {
        match (key, value) {
            ("otel.name", Value::Text(name)) => self.name = Cow::Owned(name.to_owned()),
            ("otel.kind", Value::Text(kind)) => self.kind = kind_code(kind),
            ("otel.status_code", Value::Text(code)) => {
                let code = match code.eq_ignore_ascii_case("error") {
                    true => STATUS_ERROR,
                    false => STATUS_OK,
                };
                let message = self
                    .status
                    .take()
                    .map(|(_, message)| message)
                    .unwrap_or_default();
                self.status = Some((code, message));
            }
            ("otel.status_message", Value::Text(message)) => {
                let code = self.status.as_ref().map_or(STATUS_ERROR, |(code, _)| *code);
                self.status = Some((code, message.to_owned()));
            }
            (key, value) => otlp::attribute(&mut self.attributes, 9, key, &value),
        }
    }
}

fn kind_code(kind: &str) -> u64 {
    const KINDS: [(&str, u64); 4] = [
        ("server", KIND_SERVER),
        ("client", 3),
        ("producer", 4),
        ("consumer", 5),
    ];
    KINDS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(kind))
        .map_or(KIND_INTERNAL, |(_, code)| *code)
}

thread_local! {
    /// Attribute buffers of closed spans, for the next spans made on this thread: a query's
    /// statement alone outgrows a fresh buffer, and each span made and freed its own.
    static SPARE_BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

const SPARE_BUFFERS_KEPT: usize = 32;
/// Larger buffers (a span with a huge statement) are freed rather than kept.
const SPARE_BUFFER_MAX: usize = 16 * 1024;

fn spare_buffer() -> Vec<u8> {
    SPARE_BUFFERS
        .with_borrow_mut(Vec::pop)
        .unwrap_or_else(|| Vec::with_capacity(1024))
}

fn recycle(mut buffer: Vec<u8>) {
    if buffer.capacity() <= SPARE_BUFFER_MAX {
        buffer.clear();
        SPARE_BUFFERS.with_borrow_mut(|spare| {
            if spare.len() < SPARE_BUFFERS_KEPT {
                spare.push(buffer);
            }
        });
    }
}

/// Hands each field of a span or event to a function, as an OTLP value.
struct Fields<F>(F);

thread_local! {
    /// Where a `Debug` or `Display` field is written before it is encoded.
    static FORMATTED: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<F: FnMut(&'static str, Value<'_>)> Visit for Fields<F> {
    fn record_str(&mut self, field: &Field, value: &str) {
        (self.0)(field.name(), Value::Text(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        (self.0)(field.name(), Value::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        (self.0)(field.name(), Value::Int(value as i64));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        (self.0)(field.name(), Value::Bool(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        (self.0)(field.name(), Value::Double(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        FORMATTED.with(|formatted| match formatted.try_borrow_mut() {
            Ok(mut text) => {
                text.clear();
                let _ = write!(text, "{value:?}");
                (self.0)(field.name(), Value::Text(&text));
            }
            // A value whose formatting records a field itself.
            Err(_) => (self.0)(field.name(), Value::Text(&format!("{value:?}"))),
        });
    }
}

/// Nanoseconds since the Unix epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}
