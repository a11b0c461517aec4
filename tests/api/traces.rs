//! Traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the server exports a span per request
//! (route, status, the caller's `traceparent` continued), per database query and per job run
//! over OTLP/HTTP, here to a tiny sink started by the test; the request log carries the
//! `trace_id`.

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{EndpointExt, Route, handler, post};
use prost::Message;

use crate::helpers::{TEST_SECRET, eventually, free_port, install_crypto, start_orbit, terminate};

type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// Keeps every span posted to `/v1/traces`, with its resource's `service.name`.
#[handler]
fn collect(body: bytes::Bytes, received: Data<&Received>) -> poem::Response {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
    let mut kept = received.lock().unwrap();
    for resource_spans in request.resource_spans {
        let attributes = resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        let service = text(&attributes, "service.name").unwrap_or_default();
        for scope in resource_spans.scope_spans {
            kept.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
        }
    }
    poem::Response::builder()
        .content_type("application/x-protobuf")
        .body(Vec::new())
}

async fn start_sink() -> (String, Received) {
    let received = Received::default();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new()
        .at("/v1/traces", post(collect))
        .data(received.clone());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}"), received)
}

fn is_query(span: &Span) -> bool {
    text(&span.attributes, "db.system").is_some()
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(
            |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(value) => Some(value.clone()),
                AnyValue::IntValue(value) => Some(value.to_string()),
                _ => None,
            },
        )
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const UNSAMPLED_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const LAST_TRACE_ID: &str = "5c1e0d6a9b8f4e2d8c7b6a5f4e3d2c1b";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_queries_and_jobs_are_exported_to_the_collector() {
    let (sink, received) = start_sink().await;
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}?mode=rwc", dir.path().join("o.db").display());
    let port = free_port();
    let vars = [
        ("DATABASE_URL", db_url.as_str()),
        ("AUTH_SECRET", TEST_SECRET),
        ("LOG_FORMAT", "json"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", sink.as_str()),
        ("OTEL_SERVICE_NAME", "orbit-test"),
    ];
    let child = start_orbit(dir.path(), port, &vars);
    install_crypto();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let config_in_trace = async |trace_id: &str| {
        let response = client
            .get(format!("{base}/v1/config"))
            .header("traceparent", format!("00-{trace_id}-{PARENT_ID}-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response
    };
    let config = config_in_trace(TRACE_ID).await;
    let config: serde_json::Value = config.json().await.unwrap();
    assert_eq!(
        config["capabilities"]["telemetry"],
        serde_json::json!({"enabled": true, "backend": "otlp-http"})
    );
    let unsampled = client
        .post(format!("{base}/v1/auth/sign-in/magic-link"))
        .header(
            "traceparent",
            format!("00-{UNSAMPLED_TRACE_ID}-{PARENT_ID}-00"),
        )
        .json(&serde_json::json!({"email": "grace@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unsampled.status(), 200);
    let mailed = client
        .post(format!("{base}/v1/auth/sign-in/magic-link"))
        .json(&serde_json::json!({"email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mailed.status(), 200);

    let has = |name: &str| {
        received
            .lock()
            .unwrap()
            .iter()
            .any(|(_, span)| span.name == name)
    };
    eventually(
        "the spans are exported",
        Duration::from_secs(15),
        async || {
            has("GET /v1/config") && has("POST /v1/auth/sign-in/magic-link") && has("email.send")
        },
    )
    .await;
    let spans = received.lock().unwrap().clone();
    let (service, request) = spans
        .iter()
        .find(|(_, span)| span.name == "GET /v1/config")
        .unwrap();
    assert_eq!(service, "orbit-test");
    assert_eq!(
        hex(&request.trace_id),
        TRACE_ID,
        "the caller's trace goes on"
    );
    assert_eq!(hex(&request.parent_span_id), PARENT_ID);
    assert_eq!(
        text(&request.attributes, "http.route").as_deref(),
        Some("/v1/config")
    );
    assert_eq!(
        text(&request.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    let (_, sign_in) = spans
        .iter()
        .find(|(_, span)| span.name == "POST /v1/auth/sign-in/magic-link")
        .unwrap();
    assert_ne!(
        hex(&sign_in.trace_id),
        TRACE_ID,
        "a request without one starts a trace"
    );
    let queries: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| span.trace_id == sign_in.trace_id && is_query(span))
        .collect();
    assert!(
        !queries.is_empty(),
        "its database queries are spans of its trace"
    );
    assert!(
        queries
            .iter()
            .all(|query| query.parent_span_id == sign_in.span_id
                && text(&query.attributes, "db.statement").is_some()),
        "each is a child of the request and says what it ran"
    );
    assert!(
        spans
            .iter()
            .all(|(_, span)| hex(&span.trace_id) != UNSAMPLED_TRACE_ID),
        "a caller's unsampled trace stays unsampled, queries included"
    );
    assert!(
        spans
            .iter()
            .filter(|(_, span)| is_query(span))
            .all(|(_, span)| !span.parent_span_id.is_empty()),
        "no query is exported outside a request or a job"
    );

    config_in_trace(LAST_TRACE_ID).await;
    terminate(&child);
    let output = child.wait_with_output().unwrap();
    assert!(
        received
            .lock()
            .unwrap()
            .iter()
            .any(|(_, span)| hex(&span.trace_id) == LAST_TRACE_ID),
        "what is still queued at shutdown is exported before the process exits"
    );
    let logged = BufReader::new(&output.stdout[..])
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .find(|line| line["route"] == "/v1/config")
        .expect("the request is logged");
    assert_eq!(logged["trace_id"], TRACE_ID, "the log line names the trace");
    drop(dir);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
