//! The middleware every route sits behind: error bodies, body limit, panics, CORS.

use poem::http::StatusCode;
use poem::test::TestClient;
use poem::{Endpoint, Route};
use poem_openapi::{Object, OpenApi, OpenApiService, payload::Json};
use serde_json::{Value, json};

use crate::helpers::{TestApp, test_settings};
use orbit::error::ApiResult;

/// A stand-in API with a JSON body, so the edge is tested against poem-openapi's own parsing.
struct ProbeApi;

#[derive(Object)]
struct Probe {
    name: String,
}

#[OpenApi]
impl ProbeApi {
    #[oai(path = "/probe", method = "post")]
    async fn probe(&self, body: Json<Probe>) -> ApiResult<Json<Value>> {
        Ok(Json(json!({ "name": body.0.name })))
    }

    #[oai(path = "/panic", method = "get")]
    async fn panic(&self) -> ApiResult<Json<Value>> {
        panic!("boom")
    }
}

fn probe_client(body_limit: &str) -> TestClient<impl Endpoint> {
    let settings = test_settings("sqlite::memory:", &[("BODY_LIMIT_BYTES", body_limit)]);
    let api = OpenApiService::new(ProbeApi, "probe", "1");
    let spec = api.spec();
    TestClient::new(orbit::server::edge(
        Route::new().nest("/", api),
        &spec,
        &settings,
    ))
}

async fn error_of(response: poem::test::TestResponse) -> (StatusCode, Value) {
    let status = response.0.status();
    let body: Value = serde_json::from_str(&response.0.into_body().into_string().await.unwrap())
        .expect("error bodies are JSON");
    (status, body)
}

#[tokio::test]
async fn malformed_json_is_400_validation() {
    let client = probe_client("1024");
    let response = client
        .post("/probe")
        .content_type("application/json")
        .body("{\"name\": ")
        .send()
        .await;
    let (status, body) = error_of(response).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "validation");
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn a_missing_or_wrongly_shaped_field_is_400_validation() {
    let client = probe_client("1024");
    for body in ["{}", "{\"name\": [1]}", "[]"] {
        let response = client
            .post("/probe")
            .content_type("application/json")
            .body(body)
            .send()
            .await;
        let (status, error) = error_of(response).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["error"]["code"], "validation", "{body}");
    }
}

#[tokio::test]
async fn valid_json_reaches_the_handler() {
    let client = probe_client("1024");
    let response = client
        .post("/probe")
        .body_json(&json!({"name": "ada"}))
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_json(json!({"name": "ada"})).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_declared_or_not() {
    let client = probe_client("16");
    let big = json!({"name": "x".repeat(64)}).to_string();

    let declared = client
        .post("/probe")
        .content_type("application/json")
        .body(big.clone())
        .send()
        .await;
    let (status, body) = error_of(declared).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");

    let chunks = futures_chunks(big);
    let streamed = client
        .post("/probe")
        .content_type("application/json")
        .body(poem::Body::from_bytes_stream(chunks))
        .send()
        .await;
    let (status, body) = error_of(streamed).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");
}

fn futures_chunks(
    text: String,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = text
        .into_bytes()
        .chunks(8)
        .map(|chunk| Ok(bytes::Bytes::copy_from_slice(chunk)))
        .collect();
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn a_panicking_handler_answers_500_internal() {
    let client = probe_client("1024");
    let (status, body) = error_of(client.get("/panic").send().await).await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        json!({"error": {"code": "internal", "message": "internal error"}})
    );
}

#[tokio::test]
async fn unknown_route_is_404_json() {
    let app = TestApp::spawn().await;
    let response = app.get("/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn wrong_method_is_405_json() {
    let app = TestApp::spawn().await;
    let response = app.client.delete(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");

    let templated = app
        .client
        .put(app.url("/v1/auth/reset-password/some-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(templated.status(), 405);
    assert_eq!(
        templated.headers()["allow"],
        "GET, HEAD",
        "routes with parameters too"
    );
}

mod cors {
    use super::*;

    async fn app() -> TestApp {
        TestApp::spawn_with(&[
            ("WEB_ORIGIN", "http://localhost:4001"),
            ("WWW_ORIGIN", "https://www.orbit.test"),
            ("API_ORIGIN", "https://api.orbit.test"),
            (
                "ADDITIONAL_WEB_ORIGINS",
                "https://admin.orbit.test, https://x.orbit.test",
            ),
        ])
        .await
    }

    async fn get_with_origin(app: &TestApp, origin: &str) -> reqwest::Response {
        app.client
            .get(app.url("/v1/config"))
            .header("origin", origin)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn allowed_origins_and_their_loopback_twins_are_echoed() {
        let app = app().await;
        for origin in [
            "http://localhost:4001",
            "http://127.0.0.1:4001",
            "https://www.orbit.test",
            "https://admin.orbit.test",
            "https://x.orbit.test",
        ] {
            let response = get_with_origin(&app, origin).await;
            let headers = response.headers();
            assert_eq!(headers["access-control-allow-origin"], origin);
            assert_eq!(headers["access-control-allow-credentials"], "true");
            assert!(headers.get_all("vary").iter().any(|v| v == "Origin"));
        }
    }

    #[tokio::test]
    async fn other_origins_and_the_api_origin_are_not_echoed() {
        let app = app().await;
        for origin in ["https://evil.test", "https://api.orbit.test", "null"] {
            let response = get_with_origin(&app, origin).await;
            assert_eq!(
                response.status(),
                200,
                "CORS never blocks the request itself"
            );
            let headers = response.headers();
            assert!(
                headers.get("access-control-allow-origin").is_none(),
                "{origin}"
            );
            assert_eq!(headers["access-control-allow-credentials"], "true");
            assert!(headers.get_all("vary").iter().any(|v| v == "Origin"));
        }
    }

    #[tokio::test]
    async fn preflight_is_204_with_methods_and_echoed_headers() {
        let app = app().await;
        let response = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/v1/workspaces"))
            .header("origin", "http://localhost:4001")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-custom")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let headers = response.headers();
        assert_eq!(
            headers["access-control-allow-origin"],
            "http://localhost:4001"
        );
        assert_eq!(
            headers["access-control-allow-methods"],
            "GET,HEAD,PUT,POST,DELETE,PATCH"
        );
        assert_eq!(
            headers["access-control-allow-headers"],
            "content-type,x-custom"
        );
        assert_eq!(headers["access-control-allow-credentials"], "true");
    }

    #[tokio::test]
    async fn error_responses_carry_cors_headers_too() {
        let app = app().await;
        let response = app
            .client
            .get(app.url("/nope"))
            .header("origin", "http://localhost:4001")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "http://localhost:4001"
        );
    }
}
