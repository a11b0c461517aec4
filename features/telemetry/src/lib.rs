//! The traces capability.
//!
//! With a collector configured, requests, database queries and the app's `tracing` spans (job
//! runs) are exported over OTLP/HTTP (protobuf, through the app's own reqwest client); a
//! request carrying a W3C `traceparent` continues the caller's trace. Without one nothing is
//! installed and nothing is paid for. The app sees a `tracing` layer, [`sample_request`], the
//! [`RequestSpan`] a traced request's handler runs in, and [`query_ended`], which the
//! database pool calls after each query.
//!
//! Our own small layer rather than the OpenTelemetry SDK behind `tracing-opentelemetry`: that
//! pair builds each span three times (the layer's builder, the SDK's span data, the protobuf
//! types) and cost a fully traced request a sixth of its throughput; here a span is a record
//! encoded once, when it ends, into the batch that is sent.
//!
//! Whether a request is traced is decided before its span exists (by the sampler
//! `OTEL_TRACES_SAMPLER` names, every request by default): a request left out makes no span,
//! and neither do its queries.

mod export;
mod layer;
mod otlp;
mod query;
mod request;
mod sampler;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::export::{Collector, Queue, SCOPE};
use crate::layer::{SpanLayer, TraceStart};
pub use crate::otlp::Value;
pub use crate::query::query_ended;
pub use crate::request::{RequestSpan, Running, TraceId, TracedRequest};
pub use crate::sampler::{SAMPLERS, Sampler};

/// The variable that switches exporting on; shown by the boot table while it is unset.
pub const ENABLE_VARS: &[&str] = &["OTEL_EXPORTER_OTLP_ENDPOINT"];

/// Where spans go.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSettings {
    /// The collector's base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`); spans are posted to
    /// `{endpoint}/v1/traces`.
    pub endpoint: String,
    /// Sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`), such as the collector's API key.
    pub headers: Vec<(String, String)>,
    /// `service.name` on every span (`OTEL_SERVICE_NAME`).
    pub service_name: String,
    /// `service.version` on every span.
    pub service_version: String,
    pub sampler: Sampler,
}

#[derive(Debug, thiserror::Error)]
#[error("the OTLP exporter could not be built: {0}")]
pub struct TelemetryError(String);

/// Spans being exported; [`Exporting::shutdown`] sends what is still queued.
pub struct Exporting {
    stop: oneshot::Sender<()>,
    exporter: JoinHandle<()>,
}

impl Exporting {
    /// Starts exporting to `settings`' collector with `client` from a task on the current Tokio
    /// runtime; the layer records the subscriber's spans for it.
    pub fn start<S>(
        settings: &TraceSettings,
        client: reqwest::Client,
    ) -> Result<(Self, impl Layer<S>), TelemetryError>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let mut headers = HeaderMap::new();
        for (name, value) in &settings.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| TelemetryError(format!("{name:?} is not a header name")))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| TelemetryError(format!("the {name} header's value is not one")))?;
            headers.insert(name, value);
        }
        let resource = otlp::resource(&[
            ("service.name", &settings.service_name),
            ("service.version", &settings.service_version),
            ("telemetry.sdk.language", "rust"),
        ]);
        let queue = Arc::new(Queue::new(otlp::envelope_max_len(&resource, SCOPE)));
        let collector = Collector {
            client,
            url: format!("{}/v1/traces", settings.endpoint.trim_end_matches('/')),
            headers,
            resource,
        };
        let (stop, stopped) = oneshot::channel();
        let exporter = tokio::spawn(export::run(queue.clone(), collector, stopped));
        let layer = SpanLayer {
            queue,
            sampler: settings.sampler,
        };
        Ok((Self { stop, exporter }, layer))
    }

    /// Exports what is queued and stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if tokio::time::timeout(Duration::from_secs(15), self.exporter)
            .await
            .is_err()
        {
            tracing::warn!("traces not all exported at shutdown");
        }
    }
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: `name=value` pairs separated by commas, values
/// percent-encoded; the problem, worded for the operator, when it is not that.
pub fn parse_headers(list: &str) -> Result<Vec<(String, String)>, String> {
    list.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').ok_or_else(|| {
                format!("OTEL_EXPORTER_OTLP_HEADERS must be name=value pairs separated by commas (got {pair:?})")
            })?;
            let name = name.trim().to_ascii_lowercase();
            let value = percent_decode(value.trim())
                .filter(|value| HeaderValue::try_from(value.as_str()).is_ok())
                .ok_or_else(|| format!("OTEL_EXPORTER_OTLP_HEADERS: the value of {name:?} is not a header value"))?;
            HeaderName::try_from(name.as_str())
                .map_err(|_| format!("OTEL_EXPORTER_OTLP_HEADERS: {name:?} is not a header name"))?;
            Ok((name, value))
        })
        .collect()
}

fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// Whether to trace a request that came with this W3C `traceparent` (and `tracestate`):
/// `None` when the current subscriber exports nothing or the sampler leaves it out (a
/// caller's unsampled trace stays unsampled under the default sampler). A missing or
/// malformed `traceparent` starts a new trace.
pub fn sample_request(
    traceparent: Option<&str>,
    tracestate: Option<&str>,
) -> Option<TracedRequest> {
    let (sampler, queue) = tracing::dispatcher::get_default(|dispatch| {
        let layer = dispatch.downcast_ref::<SpanLayer>()?;
        Some((layer.sampler, layer.queue.clone()))
    })?;
    let caller = traceparent.and_then(parse_traceparent);
    let trace_id = caller.map_or_else(layer::random_id, |(trace_id, _, _)| trace_id);
    if !sampler.keeps(&trace_id, caller.map(|(_, _, sampled)| sampled)) {
        return None;
    }
    let trace_state = match (caller, tracestate) {
        (Some(_), Some(state)) if is_sane_trace_state(state) => state.to_owned(),
        _ => String::new(),
    };
    let start = TraceStart {
        trace_id,
        parent_id: caller.map(|(_, parent, _)| parent),
        trace_state,
    };
    Some(TracedRequest { start, queue })
}

/// Whether the current subscriber exports spans.
pub fn exports_spans() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.is::<SpanLayer>())
}

/// A version-00 `traceparent`: trace id, parent span id, and whether the caller sampled it.
fn parse_traceparent(header: &str) -> Option<([u8; 16], [u8; 8], bool)> {
    let mut parts = header.trim().split('-');
    let (version, trace_id, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let valid_version =
        version.len() == 2 && version != "ff" && (version != "00" || parts.next().is_none());
    let trace_id: [u8; 16] = hex_bytes(trace_id)?;
    let parent: [u8; 8] = hex_bytes(parent)?;
    let [flags] = hex_bytes::<1>(flags)?;
    let nonzero = trace_id != [0; 16] && parent != [0; 8];
    (valid_version && nonzero).then_some((trace_id, parent, flags & 1 == 1))
}

fn hex_bytes<const N: usize>(hex: &str) -> Option<[u8; N]> {
    if hex.len() != N * 2 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0; N];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(bytes)
}

/// A `tracestate` worth passing on: short, and nothing but the characters its list may hold.
fn is_sane_trace_state(state: &str) -> bool {
    state.len() <= 512 && state.bytes().all(|byte| (0x20..0x7f).contains(&byte))
}

#[cfg(test)]
mod tests;
