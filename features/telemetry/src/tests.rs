use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use prost::Message;
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

use super::*;

/// Runs `traced` under a subscriber with the span layer, behind a per-layer filter that lets
/// every `tracing` span through but those of the target `elsewhere`, as the app's stack
/// does; the OTLP request its spans make.
fn exported(sampler: Sampler, traced: impl FnOnce()) -> (ExportTraceServiceRequest, Vec<Span>) {
    let resource = otlp::resource(&[("service.name", "svc")]);
    let room = otlp::envelope_max_len(&resource, SCOPE);
    let queue = Arc::new(Queue::new(room));
    let layer = SpanLayer {
        queue: queue.clone(),
        sampler,
    };
    let filter = Targets::new()
        .with_default(Level::TRACE)
        .with_target("elsewhere", LevelFilter::OFF);
    let subscriber = tracing_subscriber::registry().with(Some(layer.with_filter(filter)));
    tracing::subscriber::with_default(subscriber, traced);
    let mut batch = Vec::new();
    queue.take_into(&mut batch);
    let mut body = otlp::envelope(&resource, SCOPE, batch.len() - room);
    body.extend_from_slice(&batch[room..]);
    let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("a valid OTLP body");
    let spans = request.resource_spans[0].scope_spans[0].spans.clone();
    (request, spans)
}

fn attribute(span: &Span, key: &str) -> Option<AnyValue> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.clone()?.value)
}

#[test]
fn a_request_its_query_and_an_event_make_one_trace() {
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (request, spans) = exported(Sampler::default(), || {
        let traced = sample_request(Some(caller), Some("vendor=x")).expect("sampled");
        let mut span = traced.server_span("GET");
        assert_eq!(
            span.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        (_, span) = runtime.block_on(span.run(async {
            tokio::task::yield_now().await;
            query_ended("postgresql", "select id from users", QUERY_TIME, false);
            tracing::info!(rows = 3, "read");
        }));
        span.rename("GET /v1/me".into());
        span.set("http.route", Value::Text("/v1/me"));
        span.set("http.response.status_code", Value::Int(500));
        span.fail();
        span.end();
    });
    let resource = request.resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(resource.attributes[0].key, "service.name");
    assert_eq!(
        request.resource_spans[0].scope_spans[0]
            .scope
            .as_ref()
            .unwrap()
            .name,
        "orbit"
    );
    let [query, request] = spans.as_slice() else {
        panic!("{spans:?}")
    };
    assert_eq!(request.name, "GET /v1/me");
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(hex(&request.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&request.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(request.trace_state, "vendor=x");
    assert_eq!(
        attribute(request, "http.route"),
        Some(AnyValue::StringValue("/v1/me".into()))
    );
    assert_eq!(
        attribute(request, "http.response.status_code"),
        Some(AnyValue::IntValue(500))
    );
    assert_eq!(
        request.status.as_ref().unwrap().code,
        StatusCode::Error as i32
    );
    assert!(request.end_time_unix_nano >= request.start_time_unix_nano);
    assert!(request.start_time_unix_nano > 1_600_000_000_000_000_000);

    assert_eq!(query.name, "SELECT");
    assert_eq!(query.kind, SpanKind::Client as i32);
    assert_eq!(query.trace_id, request.trace_id);
    assert_eq!(query.parent_span_id, request.span_id);
    assert_ne!(query.span_id, request.span_id);
    let duration = Duration::from_nanos(query.end_time_unix_nano - query.start_time_unix_nano);
    assert!(
        (QUERY_TIME..QUERY_TIME + Duration::from_secs(1)).contains(&duration),
        "a query's span ends when it is reported and starts its duration earlier: {duration:?}"
    );
    for (key, value) in [
        ("db.system", "postgresql"),
        ("db.operation", "SELECT"),
        ("db.statement", "select id from users"),
    ] {
        assert_eq!(
            attribute(query, key),
            Some(AnyValue::StringValue(value.into()))
        );
    }
    assert!(query.status.is_none());
    let [event] = request.events.as_slice() else {
        panic!("{:?}", request.events)
    };
    assert_eq!(event.name, "read");
    assert!(
        event.attributes.iter().any(|kv| kv.key == "rows"
            && kv.value.as_ref().unwrap().value == Some(AnyValue::IntValue(3)))
    );
}

const QUERY_TIME: Duration = Duration::from_millis(2);

#[test]
fn a_trace_the_sampler_leaves_out_makes_no_span_nor_do_its_children() {
    let never = Sampler::parse(Some("always_off"), None).unwrap();
    let (_, spans) = exported(never, || {
        let job = tracing::info_span!("job", otel.name = "email.send");
        job.in_scope(|| query_ended("sqlite", "DELETE FROM jobs", QUERY_TIME, false));
    });
    assert!(spans.is_empty(), "{spans:?}");
    let (_, spans) = exported(Sampler::default(), || {
        let job = tracing::info_span!("job", otel.name = "email.send", job.attempt = 1u64);
        job.in_scope(|| {
            let step = tracing::info_span!(target: "elsewhere", "step");
            step.in_scope(|| query_ended("sqlite", "UPDATE jobs SET", QUERY_TIME, true));
            tracing::error!("provider unreachable");
        });
    });
    let [query, job] = spans.as_slice() else {
        panic!("{spans:?}")
    };
    assert_eq!(job.name, "email.send");
    let status = job.status.as_ref().expect("an error event sets the status");
    assert_eq!(
        (status.code, status.message.as_str()),
        (StatusCode::Error as i32, "provider unreachable")
    );
    assert!(job.parent_span_id.is_empty(), "a job run starts its trace");
    assert_eq!(
        query.parent_span_id, job.span_id,
        "the nearest exported span around the query is its parent"
    );
    assert_eq!(query.name, "UPDATE");
    assert_eq!(
        query.status.as_ref().map(|status| status.code),
        Some(StatusCode::Error as i32),
        "a failed query"
    );
}

#[test]
fn spans_made_one_after_another_carry_only_their_own_attributes() {
    let statement = |n: usize| format!("SELECT {}", "x, ".repeat(n * 200));
    let (_, spans) = exported(Sampler::default(), || {
        for n in 0..3 {
            let query = tracing::info_span!("sea_orm.query", db.statement = tracing::field::Empty);
            query.record("db.statement", statement(n).as_str());
        }
    });
    assert_eq!(spans.len(), 3, "{spans:?}");
    for (n, span) in spans.iter().enumerate() {
        assert_eq!(span.attributes.len(), 1, "span {n}: {:?}", span.attributes);
        assert_eq!(
            attribute(span, "db.statement"),
            Some(AnyValue::StringValue(statement(n)))
        );
    }
}

#[test]
fn a_request_handled_within_its_span_parents_what_it_makes() {
    let (_, spans) = exported(Sampler::default(), || {
        query_ended("postgresql", "SELECT 1", QUERY_TIME, false);
        let span = sample_request(None, None)
            .expect("sampled")
            .server_span("GET");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (_, span) = runtime.block_on(span.run(async {
            tokio::task::yield_now().await;
            tracing::info_span!("job").in_scope(|| {});
            query_ended("postgresql", "INSERT INTO audit", QUERY_TIME, false);
            tracing::error!("the provider refused");
        }));
        span.end();
        query_ended("postgresql", "SELECT 2", QUERY_TIME, false);
        tracing::info_span!("job").in_scope(|| {});
    });
    let [inner, query, request, outer] = spans.as_slice() else {
        panic!("{spans:?}")
    };
    for child in [inner, query] {
        assert_eq!(child.parent_span_id, request.span_id);
        assert_eq!(child.trace_id, request.trace_id);
    }
    assert_eq!(query.name, "INSERT");
    let status = request
        .status
        .as_ref()
        .expect("the event reached the request");
    assert_eq!(status.message, "the provider refused");
    assert!(
        outer.parent_span_id.is_empty(),
        "a span after the request starts its own trace: {outer:?}"
    );
    assert_ne!(outer.trace_id, request.trace_id);
}

#[test]
fn a_request_dropped_before_it_ends_is_exported_with_what_it_did() {
    let (_, spans) = exported(Sampler::default(), || {
        let span = sample_request(None, None)
            .expect("sampled")
            .server_span("GET");
        let mut running = Box::pin(span.run(async {
            query_ended("postgresql", "SELECT 1", QUERY_TIME, false);
            std::future::pending::<()>().await
        }));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(running.as_mut().poll(&mut cx).is_pending());
        drop(running);
    });
    let [query, request] = spans.as_slice() else {
        panic!("{spans:?}")
    };
    assert_eq!(request.name, "GET");
    assert_eq!(query.parent_span_id, request.span_id);
}

#[test]
fn nothing_is_sampled_where_no_span_layer_is_installed() {
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        assert!(sample_request(None, None).is_none());
    });
}

#[test]
fn traceparents_are_read_as_the_w3c_defines_them() {
    let parse = parse_traceparent;
    let (trace, parent, sampled) =
        parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    assert_eq!(
        (hex(&trace).as_str(), hex(&parent).as_str(), sampled),
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true)
    );
    assert!(
        !parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
            .unwrap()
            .2
    );
    for bad in [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
    ] {
        assert!(parse(bad).is_none(), "{bad:?}");
    }
    assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later").is_some());
}

#[test]
fn collector_headers_are_name_value_pairs_percent_encoded() {
    assert_eq!(
        parse_headers("api-key=secret%20one, X-Team=orbit").unwrap(),
        [
            ("api-key".to_owned(), "secret one".to_owned()),
            ("x-team".to_owned(), "orbit".to_owned())
        ]
    );
    assert_eq!(parse_headers("").unwrap(), []);
    assert!(
        parse_headers("no-value")
            .unwrap_err()
            .contains("name=value")
    );
    assert!(
        parse_headers("bad name=x")
            .unwrap_err()
            .contains("not a header name")
    );
    assert!(
        parse_headers("key=%0a")
            .unwrap_err()
            .contains("not a header value")
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
