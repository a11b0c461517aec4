use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use orbit_telemetry::{RequestSpan, Value};
use poem::PathPattern;
use poem::http::{HeaderValue, Method, header};
use poem::{Endpoint, IntoResponse, Request, Response, Result};

const REQUEST_ID: &str = "x-request-id";

/// Per-request facts that handlers learn: who the caller is (for the log line) and the
/// cookies to set on the response, whatever the response type.
#[derive(Debug, Default)]
pub struct RequestContext {
    pub request_id: String,
    pub user_id: OnceLock<String>,
    pub workspace: OnceLock<String>,
    /// The request body as read (a cheap shared handle), for error reports about it.
    pub body: OnceLock<Bytes>,
    cookies: Mutex<Vec<String>>,
}

impl RequestContext {
    /// The context of a request that went through [`handle`].
    pub fn of(req: &Request) -> Option<&Arc<RequestContext>> {
        req.extensions().get::<Arc<RequestContext>>()
    }

    /// Names, for the request log, the workspace the request acts in.
    pub fn record_workspace(req: &Request, slug: &str) {
        if let Some(context) = Self::of(req) {
            let _ = context.workspace.set(slug.to_owned());
        }
    }

    /// Queues a `Set-Cookie` header value for the response.
    pub fn set_cookie(&self, cookie: String) {
        self.cookies.lock().expect("never poisoned").push(cookie);
    }
}

/// Creates the [`RequestContext`], applies the cookies handlers queued, labels JSON as
/// `application/json` (no charset, as the Node API does), and writes one log
/// line per request: method, route template, status, latency, request id, and the
/// user and workspace when a handler recorded them. `/health` is not logged: probes hit it
/// every few seconds. The request id is taken from `x-request-id` when the caller sent a sane
/// one, else generated, and echoed on the response.
pub async fn handle<E: Endpoint>(next: E, mut req: Request) -> Result<Response> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_sane_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let context = Arc::new(RequestContext {
        request_id: request_id.clone(),
        ..Default::default()
    });
    req.extensions_mut().insert(context.clone());
    let method = req.method().clone();
    let logged = req.uri().path() != "/health";
    let span = request_span(&req);
    let trace_id = span.as_ref().map(RequestSpan::trace_id);

    let (answer, span) = match span {
        Some(span) => {
            let (answer, span) = span.run(next.call(req)).await;
            (answer, Some(span))
        }
        None => (next.call(req).await, None),
    };
    // An error no middleware turned into a response is answered here, as the server would,
    // so that it is logged, counted and traced like any other answer.
    let mut response = answer
        .map(IntoResponse::into_response)
        .unwrap_or_else(|err| err.into_response());

    // JSON is UTF-8 by definition; the Node API sends the bare media type.
    if response.headers().get(header::CONTENT_TYPE)
        == Some(&HeaderValue::from_static("application/json; charset=utf-8"))
    {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    for cookie in context.cookies.lock().expect("never poisoned").drain(..) {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    let route_pattern = response
        .data::<PathPattern>()
        .map(|pattern| pattern.0.clone())
        .filter(|pattern| !pattern.is_empty())
        .unwrap_or_else(|| Arc::from("(no route)"));
    let route = &*route_pattern;
    let status = response.status().as_u16();
    crate::metrics::record_request(&method, &route_pattern, status, started.elapsed());
    if let Some(mut span) = span {
        span.rename([span_name(&method), " ", route].concat());
        span.set("http.route", Value::Text(route));
        span.set("http.response.status_code", Value::Int(status.into()));
        for (key, value) in [
            ("user.id", context.user_id.get()),
            ("workspace.slug", context.workspace.get()),
        ] {
            if let Some(value) = value {
                span.set(key, Value::Text(value));
            }
        }
        if status >= 500 {
            span.fail();
        }
        span.end();
    }
    if logged {
        let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
        tracing::info!(
            target: "orbit::request",
            method = %method,
            route,
            status,
            latency_ms,
            request_id,
            trace_id = trace_id.map(tracing::field::display),
            user_id = context.user_id.get(),
            workspace = context.workspace.get(),
            "request"
        );
    }
    Ok(response)
}

/// The span of one request when it is traced, continuing the caller's trace when it sent a
/// `traceparent`.
fn request_span(req: &Request) -> Option<RequestSpan> {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let traced = orbit_telemetry::sample_request(header("traceparent"), header("tracestate"))?;
    let mut span = traced.server_span(span_name(req.method()));
    span.set("http.request.method", Value::Text(req.method().as_str()));
    Some(span)
}

/// The standard methods, named as such in span names and metric labels; any other token is a
/// method to hyper too.
pub static STANDARD_METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

/// A request span's name before its route is known: its method, or `HTTP` for a method that
/// is not a standard one (OpenTelemetry's HTTP conventions).
fn span_name(method: &Method) -> &'static str {
    STANDARD_METHODS
        .iter()
        .find(|standard| *standard == method)
        .map_or("HTTP", Method::as_str)
}

fn is_sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}
