//! A traced request's span. It is not a `tracing` span: the app knows its attributes and sets
//! them here, where each `record` on a `tracing` span costs a lookup in the registry, in each
//! layer's filter and in the span layer.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;

use crate::export::Queue;
use crate::layer::{self, KIND_SERVER, Recording, TraceStart};
use crate::otlp::Value;

/// A request chosen to be traced: the trace it starts or continues.
pub struct TracedRequest {
    pub(crate) start: TraceStart,
    pub(crate) queue: Arc<Queue>,
}

impl TracedRequest {
    /// The request's span, of kind server, named `name` until renamed: the root of this trace
    /// in this process.
    pub fn server_span(self, name: &'static str) -> RequestSpan {
        RequestSpan {
            recording: Box::new(Recording::start(
                self.start,
                Cow::Borrowed(name),
                KIND_SERVER,
            )),
            queue: self.queue,
        }
    }
}

/// A trace's id, shown as its 32 hex digits (formatted only where it is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceId([u8; 16]);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// A traced request's span, from [`TracedRequest::server_span`].
pub struct RequestSpan {
    recording: Box<Recording>,
    queue: Arc<Queue>,
}

impl RequestSpan {
    /// Runs `handling`, the request's handler, as the work of this span: the spans, queries and
    /// events it makes outside spans of their own are the request's children. Hands the span
    /// back with the output.
    pub fn run<F: Future>(self, handling: F) -> Running<F> {
        Running {
            scoped: layer::within(self.recording, handling),
            queue: Some(self.queue),
        }
    }

    /// The trace's id, for the request's log line.
    pub fn trace_id(&self) -> TraceId {
        TraceId(self.recording.trace_id())
    }

    pub fn rename(&mut self, name: String) {
        self.recording.rename(name);
    }

    /// Sets an attribute (`otel.*` keys as on a `tracing` span).
    pub fn set(&mut self, key: &str, value: Value<'_>) {
        self.recording.set(key, value);
    }

    /// Marks the request failed, unless an error event inside it already did.
    pub fn fail(&mut self) {
        self.recording.fail();
    }

    /// Ends the span now and queues it for export.
    pub fn end(self) {
        (*self.recording).end(&self.queue);
    }
}

pin_project! {
    /// A request's handler running as the work of its span. A plain future rather than an
    /// `async fn`, whose state would hold the handler's future (9 KB for the app's) three
    /// times over and copy it at each step.
    pub struct Running<F: Future> {
        #[pin]
        scoped: TaskLocalFuture<RefCell<Box<Recording>>, F>,
        queue: Option<Arc<Queue>>,
    }

    /// A request dropped before it ends (its client went away) is exported as it stands:
    /// the spans it made already point to it.
    impl<F: Future> PinnedDrop for Running<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let Some(queue) = this.queue.take()
                && let Some(recording) = this.scoped.as_mut().take_value()
            {
                recording.into_inner().end(&queue);
            }
        }
    }
}

impl<F: Future> Future for Running<F> {
    type Output = (F::Output, RequestSpan);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let output = ready!(this.scoped.as_mut().poll(cx));
        let recording = this
            .scoped
            .take_value()
            .expect("the scope holds the span until taken");
        let queue = this
            .queue
            .take()
            .expect("a request span is handed back once");
        let span = RequestSpan {
            recording: recording.into_inner(),
            queue,
        };
        Poll::Ready((output, span))
    }
}
