//! The traces capability.
//!
//! With a collector configured, the app's `tracing` spans (requests, database queries, job
//! runs) are exported over OTLP/HTTP (protobuf, through the app's own reqwest client) by a
//! batch processor on the Tokio runtime; a request carrying a W3C `traceparent` continues the
//! caller's trace. Without one nothing is installed and nothing is paid for. The OpenTelemetry
//! types stay in this crate: the app sees a `tracing` layer, [`continue_trace`] and
//! [`trace_id`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Link, SpanKind, TraceContextExt, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::runtime;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{
    Config, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample,
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
    /// subscriber's spans into OpenTelemetry spans. Needs a Tokio runtime.
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
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .build()
            .map_err(|err| TelemetryError(err.to_string()))?;
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .build();
        // The sampler `OTEL_TRACES_SAMPLER` names (every trace by default), without lone queries.
        let sampler = NoLoneQueries(Config::default().sampler);
        let builder = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_sampler(sampler);
        let provider = match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::CurrentThread => builder.with_span_processor(
                BatchSpanProcessor::builder(exporter, runtime::TokioCurrentThread).build(),
            ),
            _ => builder
                .with_span_processor(BatchSpanProcessor::builder(exporter, runtime::Tokio).build()),
        }
        .build();
        let tracer = provider.tracer("orbit");
        let layer = tracing_opentelemetry::layer().with_tracer(tracer);
        EXPORTING.store(true, Ordering::Relaxed);
        Ok((Self { provider }, layer))
    }

    /// Exports what is queued and stops (waiting on a blocking thread: the batch processor
    /// runs on the runtime).
    pub async fn shutdown(self) {
        let provider = self.provider;
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(err)) = stopped {
            tracing::warn!(error = %err, "traces not all exported at shutdown");
        }
    }
}

/// Drops database-query spans that belong to no request or job (the job queue's idle polls):
/// traces of nothing.
#[derive(Debug, Clone)]
struct NoLoneQueries(Box<dyn ShouldSample>);

impl ShouldSample for NoLoneQueries {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let lone = parent_context.is_none_or(|parent| !parent.has_active_span());
        if lone && name.starts_with("sea_orm") {
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: TraceState::default(),
            };
        }
        self.0
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether this process exports spans: callers skip making spans nobody reads.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Makes `span` continue the trace of a W3C `traceparent` (and `tracestate`) the caller sent;
/// a missing or malformed one leaves it a new trace.
pub fn continue_trace(span: &tracing::Span, traceparent: &str, tracestate: Option<&str>) {
    let mut carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_owned(), state.to_owned());
    }
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
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
