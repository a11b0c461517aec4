//! Prometheus metrics: off by default, behind `METRICS_TOKEN` on the main port or alone on the
//! private `METRICS_PORT`; request counters move, labelled by route template.

use crate::helpers::{TestApp, error_code, free_port};

const TOKEN: &str = "metrics-token-0123456789";

async fn scrape(app: &TestApp, bearer: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The value of the `http_requests_total` series with these labels (0 before its first count).
fn requests_total(text: &str, method: &str, route: &str, status: &str) -> f64 {
    let labels = [
        format!("method=\"{method}\""),
        format!("route=\"{route}\""),
        format!("status=\"{status}\""),
    ];
    text.lines()
        .filter(|line| line.starts_with("http_requests_total{"))
        .find(|line| labels.iter().all(|label| line.contains(label.as_str())))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_are_off_unless_configured() {
    let app = TestApp::spawn().await;
    let config: serde_json::Value = app.get("/v1/config").await.json().await.unwrap();
    assert_eq!(
        config["capabilities"]["metrics"],
        serde_json::json!({"enabled": false, "backend": "none"})
    );
    assert_eq!(error_code(scrape(&app, None).await).await.0, 404);
    assert_eq!(error_code(scrape(&app, Some(TOKEN)).await).await.0, 404);
}

#[tokio::test]
async fn the_token_guards_them_and_requests_are_counted_by_route_template() {
    let app = TestApp::spawn_with(&[("METRICS_TOKEN", TOKEN)]).await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    assert_eq!(scrape(&app, None).await.status(), 401);
    assert_eq!(
        scrape(&app, Some("metrics-token-wrong-guess"))
            .await
            .status(),
        401
    );

    let route = "/v1/workspaces/{slug}";
    let before = scrape(&app, Some(TOKEN)).await.text().await.unwrap();
    for _ in 0..3 {
        let response = app
            .get_as("/v1/workspaces/acme", &workspace.owner.cookie)
            .await;
        assert_eq!(response.status(), 200);
    }
    let missing = app
        .get_as("/v1/workspaces/nope", &workspace.owner.cookie)
        .await;
    assert_eq!(missing.status(), 404);
    let response = scrape(&app, Some(TOKEN)).await;
    assert_eq!(response.status(), 200);
    let after = response.text().await.unwrap();

    let moved = |status| {
        requests_total(&after, "GET", route, status) - requests_total(&before, "GET", route, status)
    };
    assert!(moved("2xx") >= 3.0, "{after}");
    assert!(moved("4xx") >= 1.0, "{after}");
    assert!(
        !after.contains("/v1/workspaces/acme"),
        "raw paths never become labels"
    );
    assert!(after.contains("http_request_duration_seconds_bucket{"));
    assert!(after.contains("orbit_build_info{version=\""));
    let config: serde_json::Value = app.get("/v1/config").await.json().await.unwrap();
    assert_eq!(config["capabilities"]["metrics"]["backend"], "prometheus");
}

#[tokio::test]
async fn a_metrics_port_serves_them_and_the_public_port_does_not() {
    let port = free_port();
    let vars = [
        ("METRICS_PORT", port.to_string()),
        ("METRICS_TOKEN", TOKEN.to_owned()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(&vars).await;
    assert_eq!(error_code(scrape(&app, Some(TOKEN)).await).await.0, 404);
    let private = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(private.status(), 200);
    assert!(private.text().await.unwrap().contains("orbit_build_info"));
}
