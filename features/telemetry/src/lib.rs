//! The traces capability.
//!
//! With a collector configured, the app's `tracing` spans (requests, database queries, job
//! runs) are exported over OTLP/HTTP (protobuf, through the app's own reqwest client) by the
//! SDK's batch processor; a request carrying a W3C `traceparent` continues the
//! caller's trace. Without one nothing is installed and nothing is paid for. The OpenTelemetry
//! types stay in this crate: the app sees a `tracing` layer, [`sample_request`] and
//! [`trace_id`].
//!
//! Whether a request is traced is decided before its span exists (by the sampler
//! `OTEL_TRACES_SAMPLER` names, every request by default): a request left out makes no span,
//! and neither do its queries.

use std::collections::HashMap;
use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    Config, IdGenerator, RandomIdGenerator, SamplingDecision, SamplingResult, SdkTracerProvider,
    ShouldSample,
};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// The variable that switches exporting on; shown by the boot table while it is unset.
pub const ENABLE_VARS: &[&str] = &["OTEL_EXPORTER_OTLP_ENDPOINT"];

/// Where spans go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSettings {
    /// The collector's base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`); spans are posted to
    /// `{endpoint}/v1/traces`.
    pub endpoint: String,
    /// `service.name` on every span (`OTEL_SERVICE_NAME`).
    pub service_name: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the OTLP exporter could not be built: {0}")]
pub struct TelemetryError(String);

/// Spans being exported; [`Exporting::shutdown`] sends what is still queued.
pub struct Exporting {
    provider: SdkTracerProvider,
}

impl Exporting {
    /// Starts exporting to `settings`' collector with `client`; the layer turns the
    /// subscriber's spans into OpenTelemetry spans. Needs a Tokio runtime, which sends the exports.
    pub fn start<S>(
        settings: &TraceSettings,
        client: reqwest::Client,
    ) -> Result<(Self, impl Layer<S>), TelemetryError>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let endpoint = format!("{}/v1/traces", settings.endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(OnRuntime {
                client,
                runtime: tokio::runtime::Handle::current(),
            })
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .build()
            .map_err(|err| TelemetryError(err.to_string()))?;
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .build();
        // The sampler `OTEL_TRACES_SAMPLER` names (every trace by default).
        let sampler = Config::default().sampler;
        let builder = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_sampler(RequestsPreSampled(sampler.clone()));
        // The SDK's batch processor: spans wait in a channel its own thread drains once a
        // batch is full (or every few seconds), so ending a span wakes nobody.
        let provider = builder.with_batch_exporter(exporter).build();
        let tracer = provider.tracer("orbit");
        // Spans carry what they are about; where in the code and on which thread they ran,
        // their busy/idle split and an OpenTelemetry context entered at each poll (nothing
        // here reads it) are work on every request for nobody.
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false);
        let _ = REQUEST_SAMPLER.set(sampler);
        Ok((Self { provider }, layer))
    }

    /// Exports what is queued and stops (waiting on a blocking thread: the last export is
    /// sent from the runtime).
    pub async fn shutdown(self) {
        let provider = self.provider;
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(err)) = stopped {
            tracing::warn!(error = %err, "traces not all exported at shutdown");
        }
    }
}

/// The app's reqwest client for the batch processor's thread, which has no reactor for
/// reqwest's futures: each export is sent from the app's runtime.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}

/// The exporter's sampler: a server span is a request the app already chose to trace
/// ([`sample_request`]); every other span (job runs, queries) is left to the configured one.
#[derive(Debug, Clone)]
struct RequestsPreSampled(Box<dyn ShouldSample>);

impl ShouldSample for RequestsPreSampled {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        if *span_kind == SpanKind::Server {
            return SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: parent_context
                    .map(|parent| parent.span().span_context().trace_state().clone())
                    .unwrap_or_default(),
            };
        }
        self.0
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

/// The configured sampler, once spans are exported.
static REQUEST_SAMPLER: OnceLock<Box<dyn ShouldSample>> = OnceLock::new();

/// A request chosen to be traced, with the caller's trace to continue when it sent one.
pub struct TracedRequest(Option<opentelemetry::Context>);

/// Whether to trace a request that came with this W3C `traceparent` (and `tracestate`):
/// `None` when nothing is exported or the sampler leaves it out (a caller's unsampled trace
/// stays unsampled). A missing or malformed `traceparent` starts a new trace.
pub fn sample_request(
    traceparent: Option<&str>,
    tracestate: Option<&str>,
) -> Option<TracedRequest> {
    let sampler = REQUEST_SAMPLER.get()?;
    let parent = traceparent.map(|traceparent| {
        let mut carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        if let Some(state) = tracestate {
            carrier.insert("tracestate".to_owned(), state.to_owned());
        }
        TraceContextPropagator::new().extract(&carrier)
    });
    let parent = parent.filter(|parent| parent.span().span_context().is_valid());
    let decision = sampler.should_sample(
        parent.as_ref(),
        RandomIdGenerator::default().new_trace_id(),
        "request",
        &SpanKind::Server,
        &[],
        &[],
    );
    (decision.decision == SamplingDecision::RecordAndSample).then_some(TracedRequest(parent))
}

impl TracedRequest {
    /// Makes `span` (the request's, of kind server) this request's trace.
    pub fn trace(self, span: &tracing::Span) {
        if let Some(parent) = self.0 {
            let _ = span.set_parent(parent);
        }
    }
}

/// Names `span` once it is known (a request's route is, only after routing).
pub fn rename(span: &tracing::Span, name: String) {
    span.context().span().update_name(name);
}

/// The trace id of `span` (32 hex digits), when spans are exported.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
