//! The `tracing` layer that turns the app's spans into OTLP spans: a small record per span,
//! filled from its fields, encoded once when the span closes into the exporter's queue.
//!
//! The `otel.*` fields are read as the OpenTelemetry conventions for `tracing` have them:
//! `otel.name` renames the span, `otel.kind` sets its kind, `otel.status_code` (`OK` or
//! `ERROR`) and `otel.status_message` its status. An error event inside a span that has no
//! status yet marks it failed.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::{Debug, Write};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::task::futures::TaskLocalFuture;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::export::Queue;
use crate::otlp::{self, Value};
use crate::sampler::Sampler;

/// The trace a new span belongs to and its parent there.
#[derive(Debug, Clone)]
pub(crate) struct TraceStart {
    pub trace_id: [u8; 16],
    /// The parent span: in this process, or the caller's when a request continues its trace.
    pub parent_id: Option<[u8; 8]>,
    pub trace_state: String,
}

tokio::task_local! {
    /// The span of the traced request a task is handling, parent of the spans and events made
    /// while no span of theirs is entered. It is not a `tracing` span: the app sets its
    /// attributes directly, where each `record` on a `tracing` span costs a lookup in the
    /// registry, in each layer's filter and in this layer. Boxed: the scope moves it in and
    /// out of the task-local at each poll.
    static REQUEST: RefCell<Box<Recording>>;
}

/// `handling` as the work of the request span `request`, which the scope holds until taken.
pub(crate) fn within<F: Future>(
    request: Box<Recording>,
    handling: F,
) -> TaskLocalFuture<RefCell<Box<Recording>>, F> {
    REQUEST.scope(RefCell::new(request), handling)
}

/// Where the children of the traced request the current task is handling start.
pub(crate) fn request_parent() -> Option<TraceStart> {
    REQUEST
        .try_with(|request| request.try_borrow().ok().map(|request| request.as_parent()))
        .ok()
        .flatten()
}

/// A span kept in the extensions of the `tracing` span it mirrors.
pub(crate) enum Traced {
    Kept(Recording),
    /// Left out by the sampler; so are its children.
    Dropped,
}

pub(crate) struct Recording {
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
pub(crate) const KIND_SERVER: u64 = 2;
pub(crate) const KIND_CLIENT: u64 = 3;
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
        // The parent's trace, `Some(None)` when the sampler left the parent out.
        let parent = match span.parent() {
            Some(parent) => parent.extensions().get::<Traced>().map(Traced::as_parent),
            None if attrs.is_contextual() => request_parent().map(Some),
            None => None,
        };
        let trace = match parent {
            Some(Some(parent)) => parent,
            Some(None) => return span.extensions_mut().insert(Traced::Dropped),
            None => {
                let trace_id = random_id();
                if !self.sampler.keeps(&trace_id, None) {
                    return span.extensions_mut().insert(Traced::Dropped);
                }
                TraceStart {
                    trace_id,
                    parent_id: None,
                    trace_state: String::new(),
                }
            }
        };
        let name = Cow::Borrowed(attrs.metadata().name());
        let mut recording = Recording::start(trace, name, KIND_INTERNAL);
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

    // Each event is formatted before its span is locked: a field whose formatting logs
    // re-enters this layer (under the global subscriber), which must not find the span locked.
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        match ctx.event_span(event) {
            Some(span) => {
                if !matches!(span.extensions().get::<Traced>(), Some(Traced::Kept(_))) {
                    return;
                }
                let event = SpanEvent::of(event);
                if let Some(Traced::Kept(recording)) = span.extensions_mut().get_mut::<Traced>() {
                    recording.add(event);
                }
            }
            None if event.is_contextual() => {
                let _ = REQUEST.try_with(|request| {
                    let event = SpanEvent::of(event);
                    if let Ok(mut request) = request.try_borrow_mut() {
                        request.add(event);
                    }
                });
            }
            None => {}
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if let Some(Traced::Kept(recording)) = span.extensions_mut().remove::<Traced>() {
            recording.end(&self.queue);
        }
    }
}

impl Traced {
    /// The trace a child of this span belongs to; `None` when it is left out.
    pub(crate) fn as_parent(&self) -> Option<TraceStart> {
        match self {
            Traced::Kept(parent) => Some(parent.as_parent()),
            Traced::Dropped => None,
        }
    }
}

/// A span's `Event`: its time, its message as its name, its level and its other fields.
struct SpanEvent {
    is_error: bool,
    name: String,
    /// The encoded `Span.Event` message.
    encoded: Vec<u8>,
}

impl SpanEvent {
    fn of(event: &Event<'_>) -> Self {
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
        Self {
            is_error: *event.metadata().level() == Level::ERROR,
            name,
            encoded,
        }
    }
}

impl Recording {
    /// A span of `trace` starting now.
    pub(crate) fn start(trace: TraceStart, name: Cow<'static, str>, kind: u64) -> Self {
        Self::started_at(trace, name, kind, now())
    }

    /// A span of `trace` that started at `start` (nanoseconds since the Unix epoch).
    pub(crate) fn started_at(
        trace: TraceStart,
        name: Cow<'static, str>,
        kind: u64,
        start: u64,
    ) -> Self {
        Self {
            trace_id: trace.trace_id,
            span_id: random_id(),
            parent_id: trace.parent_id,
            trace_state: trace.trace_state,
            name,
            kind,
            start,
            attributes: spare_buffer(),
            status: None,
            events: Vec::new(),
        }
    }

    /// Where this span's children start: its trace, with this span as their parent.
    fn as_parent(&self) -> TraceStart {
        TraceStart {
            trace_id: self.trace_id,
            parent_id: Some(self.span_id),
            trace_state: self.trace_state.clone(),
        }
    }

    pub(crate) fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// An error event marks a span without a status failed, with its message.
    fn add(&mut self, event: SpanEvent) {
        if event.is_error && self.status.is_none() {
            self.status = Some((STATUS_ERROR, event.name));
        }
        otlp::bytes(&mut self.events, 11, &event.encoded);
    }

    /// Marks the span failed unless a status was set.
    pub(crate) fn fail(&mut self) {
        if self.status.is_none() {
            self.status = Some((STATUS_ERROR, String::new()));
        }
    }

    pub(crate) fn rename(&mut self, name: String) {
        self.name = Cow::Owned(name);
    }

    /// Ends the span now, into `queue`.
    pub(crate) fn end(self, queue: &Queue) {
        self.ended_at(now(), queue);
    }

    /// Ends the span at `end` (nanoseconds since the Unix epoch), into `queue`.
    pub(crate) fn ended_at(self, end: u64, queue: &Queue) {
        queue.push(self.encoded_len(), |out| self.encode(end, out));
        recycle(self.attributes);
    }

    /// The size of the OTLP `Span` message [`Recording::encode`] writes.
    fn encoded_len(&self) -> usize {
        let trace_state = match self.trace_state.len() {
            0 => 0,
            len => otlp::len_field(len),
        };
        let parent_id = self.parent_id.map_or(0, |id| otlp::len_field(id.len()));
        let status = self.status.as_ref().map_or(0, |(code, message)| {
            otlp::len_field(status_len(*code, message))
        });
        otlp::len_field(self.trace_id.len())
            + otlp::len_field(self.span_id.len())
            + trace_state
            + parent_id
            + otlp::len_field(self.name.len())
            + otlp::uint_len(self.kind)
            + 2 * otlp::FIXED64_LEN
            + self.attributes.len()
            + self.events.len()
            + status
    }

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
            otlp::message_header(out, 15, status_len(*code, message));
            if !message.is_empty() {
                otlp::bytes(out, 2, message.as_bytes());
            }
            otlp::uint(out, 3, *code);
        }
    }

    pub(crate) fn set(&mut self, key: &str, value: Value<'_>) {
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

/// The size of a `Status` message: its message when there is one, and its code.
fn status_len(code: u64, message: &str) -> usize {
    let message = match message.len() {
        0 => 0,
        len => otlp::len_field(len),
    };
    message + otlp::uint_len(code)
}

fn kind_code(kind: &str) -> u64 {
    const KINDS: [(&str, u64); 4] = [
        ("server", KIND_SERVER),
        ("client", KIND_CLIENT),
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

thread_local! {
    /// Where trace and span ids are drawn: they must be random, not secret, so a small fast
    /// generator per thread (as OpenTelemetry's SDK does) rather than the thread's
    /// cryptographic one.
    static IDS: RefCell<SmallRng> = RefCell::new(SmallRng::from_rng(&mut rand::rng()));
}

/// A new trace or span id.
pub(crate) fn random_id<const N: usize>() -> [u8; N] {
    IDS.with_borrow_mut(|ids| ids.random())
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_announces_the_length_it_writes() {
        let plain = TraceStart {
            trace_id: [1; 16],
            parent_id: None,
            trace_state: String::new(),
        };
        let continued = TraceStart {
            trace_id: [2; 16],
            parent_id: Some([3; 8]),
            trace_state: "vendor=x".into(),
        };
        for (start, status) in [(plain, None), (continued, Some("refused"))] {
            let mut span = Recording::start(start, Cow::Borrowed("GET"), KIND_SERVER);
            span.set("statement", Value::Text(&"x".repeat(300)));
            span.set("rows", Value::Int(3));
            if let Some(message) = status {
                span.set("otel.status_code", Value::Text("error"));
                span.set("otel.status_message", Value::Text(message));
                otlp::bytes(&mut span.events, 11, b"an event");
            }
            let mut encoded = Vec::new();
            span.encode(now(), &mut encoded);
            assert_eq!(span.encoded_len(), encoded.len());
        }
    }
}
