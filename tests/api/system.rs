use sea_orm::DbBackend;
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_is_ok_without_touching_anything() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ok"], true);
    assert_eq!(body["status"], "ok");
    let ts = body["ts"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z') && ts.len() == 24,
        "ISO-8601 with milliseconds and Z: {ts}"
    );
}

#[tokio::test]
async fn root_is_the_banner_flux_checks() {
    let app = TestApp::spawn().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"name": "orbit-api", "ok": true}));
}

#[tokio::test]
async fn ready_when_the_database_answers() {
    let app = TestApp::spawn().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ok"], true);
    assert_eq!(body["checks"]["database"]["ok"], true);
}

#[tokio::test]
async fn config_lists_capabilities_and_no_secret() {
    let app = TestApp::spawn().await;
    let response = app.get("/v1/config").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["environment"], "test");
    assert_eq!(body["capabilities"]["email"]["enabled"], true);
    assert_eq!(body["capabilities"]["email"]["backend"], "recording");
    // Without NATS or Redis, the bus is the database's when it is Postgres.
    let (bus, crosses) = match app.db.get_database_backend() {
        DbBackend::Postgres => ("postgres", true),
        _ => ("in-process", false),
    };
    assert_eq!(body["capabilities"]["realtime"]["backend"], bus);
    assert_eq!(body["capabilities"]["realtime"]["enabled"], crosses);
    assert_eq!(body["capabilities"]["ratelimit"]["backend"], "memory");
    assert_eq!(body["capabilities"]["ratelimit"]["enabled"], false);
    assert!(!text.contains(crate::helpers::TEST_SECRET));
    assert!(
        app.sent_mails().await.is_empty(),
        "reading config sends no mail"
    );
}

#[tokio::test]
async fn docs_and_spec_are_served() {
    let app = TestApp::spawn().await;
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(spec["info"]["title"], "Orbit API");
    assert!(spec["paths"]["/health"]["get"].is_object());
}

#[tokio::test]
async fn the_committed_openapi_json_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"))
        .expect("openapi.json is committed at the repo root");
    assert!(
        committed.trim_end() == orbit::openapi::spec_json().trim_end(),
        "openapi.json is stale: run `cargo run -- openapi > openapi.json`"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_a_sane_one() {
    let app = TestApp::spawn().await;
    let generated = app.get("/health").await;
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32);

    let echoed = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "req-123.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "req-123.abc");

    let replaced = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "bad id with spaces");
}
