//! The export queue: ended spans wait here, already encoded, until a task on the app's runtime
//! posts them to the collector, every few seconds or as soon as a batch is full. One export is
//! in flight at a time; past a bound the newest spans are dropped (and counted) rather than
//! memory growing while the collector is away. A batch's buffer is the body that is posted: the
//! envelope is written into room kept at its start, and the buffer comes back for the next
//! batch once the HTTP client drops the body.

use std::mem;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use tokio::sync::{Notify, oneshot};

use crate::otlp;

/// Spans that make a batch worth sending at once (the OpenTelemetry batch processor's size).
const BATCH_SPANS: usize = 512;
/// Spans kept waiting at most (the batch processor's queue).
const MAX_QUEUED_SPANS: usize = 2048;
/// How long a span waits at most (the batch processor's schedule).
const EXPORT_EVERY: Duration = Duration::from_secs(5);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Queue {
    waiting: Mutex<Waiting>,
    batch_full: Notify,
    /// The bytes kept free at the start of each batch for its envelope.
    envelope_room: usize,
}

struct Waiting {
    /// The envelope's room, then each span as an encoded `ScopeSpans.spans` field.
    spans: Vec<u8>,
    count: usize,
    dropped: u64,
}

impl Queue {
    /// An empty queue whose batches keep `envelope_room` bytes free at their start.
    pub fn new(envelope_room: usize) -> Self {
        Self {
            waiting: Mutex::new(Waiting {
                spans: vec![0; envelope_room],
                count: 0,
                dropped: 0,
            }),
            batch_full: Notify::new(),
            envelope_room,
        }
    }

    /// Queues the span of `len` bytes that `encode` writes (an OTLP `Span` message), straight
    /// into the batch being filled.
    pub fn push(&self, len: usize, encode: impl FnOnce(&mut Vec<u8>)) {
        let mut waiting = self.waiting.lock().expect("never poisoned");
        if waiting.count >= MAX_QUEUED_SPANS {
            waiting.dropped += 1;
            return;
        }
        let header_at = waiting.spans.len();
        otlp::message_header(&mut waiting.spans, 2, len);
        let span_at = waiting.spans.len();
        encode(&mut waiting.spans);
        let written = waiting.spans.len() - span_at;
        debug_assert_eq!(written, len, "a span's announced and written lengths");
        // A span whose length was misjudged would make the whole batch unreadable.
        if written != len {
            waiting.spans.truncate(header_at);
            waiting.dropped += 1;
            return;
        }
        waiting.count += 1;
        if waiting.count == BATCH_SPANS {
            self.batch_full.notify_one();
        }
    }

    /// Takes the waiting spans into `batch`, after the envelope's room, leaving `batch`'s
    /// emptied buffer in their place: the two buffers take turns at their grown size, so a
    /// batch of half a megabyte is never grown, copied and freed again (large frees make
    /// glibc consolidate its whole heap). Returns how many spans were taken and how many
    /// dropped since the last call.
    pub fn take_into(&self, batch: &mut Vec<u8>) -> (usize, u64) {
        batch.clear();
        batch.resize(self.envelope_room, 0);
        let mut waiting = self.waiting.lock().expect("never poisoned");
        mem::swap(&mut waiting.spans, batch);
        (
            mem::take(&mut waiting.count),
            mem::take(&mut waiting.dropped),
        )
    }
}

/// Where and how batches are sent.
pub(crate) struct Collector {
    pub client: reqwest::Client,
    /// `{endpoint}/v1/traces`.
    pub url: String,
    pub headers: HeaderMap,
    /// The encoded `Resource` every batch comes from.
    pub resource: Vec<u8>,
}

/// The instrumentation scope of every span.
pub(crate) const SCOPE: &str = "orbit";

/// A batch's buffer lent to the body of its export; back in `home` when the body is dropped.
struct Lent {
    buffer: Vec<u8>,
    start: usize,
    home: Arc<Mutex<Vec<u8>>>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buffer[self.start..]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Ok(mut home) = self.home.lock() {
            *home = mem::take(&mut self.buffer);
        }
    }
}

/// Sends the queue's batches until `stop` fires, then what is still queued.
pub(crate) async fn run(queue: Arc<Queue>, collector: Collector, mut stop: oneshot::Receiver<()>) {
    // Said once when exports start failing and once when they work again, not per batch.
    let mut failing = false;
    let mut batch = Vec::new();
    let returned = Arc::new(Mutex::new(Vec::new()));
    loop {
        let stopping = tokio::select! {
            _ = queue.batch_full.notified() => false,
            _ = tokio::time::sleep(EXPORT_EVERY) => false,
            _ = &mut stop => true,
        };
        let (count, dropped) = queue.take_into(&mut batch);
        if dropped > 0 {
            tracing::warn!(
                spans = dropped,
                "spans dropped: the collector does not keep up"
            );
        }
        if count > 0 {
            let sent = collector.send(&queue, mem::take(&mut batch), &returned);
            match (sent.await, failing) {
                (Err(problem), false) => {
                    tracing::warn!(%problem, "spans are not exported until the collector answers");
                    failing = true;
                }
                (Ok(()), true) => {
                    tracing::info!("spans are exported again");
                    failing = false;
                }
                _ => {}
            }
            // Empty while the client still holds the body: the queue grows a new buffer.
            batch = mem::take(&mut *returned.lock().expect("never poisoned"));
        }
        if stopping {
            return;
        }
    }
}

impl Collector {
    /// Posts one batch taken from `queue`, its buffer coming back to `returned`; what went
    /// wrong when the collector did not take it.
    async fn send(
        &self,
        queue: &Queue,
        mut batch: Vec<u8>,
        returned: &Arc<Mutex<Vec<u8>>>,
    ) -> Result<(), String> {
        let room = queue.envelope_room;
        let envelope = otlp::envelope(&self.resource, SCOPE, batch.len() - room);
        let start = room - envelope.len();
        batch[start..room].copy_from_slice(&envelope);
        let body = Bytes::from_owner(Lent {
            buffer: batch,
            start,
            home: returned.clone(),
        });
        let response = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/x-protobuf")
            .timeout(EXPORT_TIMEOUT)
            .body(body)
            .send()
            .await
            .map_err(|err| err.to_string())?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(format!("the collector answered {status}")),
        }
    }
}
