//! Prometheus metrics: off by default, behind `METRICS_TOKEN` on the main port or alone on the
//! private `METRICS_PORT`; request counters move, labelled by route template.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, error_code, free_port};
use crate::realtime::connect_to;

const TOKEN: &str = "metrics-token-0123456789";

async fn scrape(app: &TestApp, bearer: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The value of the series `name` with these labels (0 before its first count).
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels: Vec<String> = labels
        .iter()
        .map(|(label, value)| format!("{label}=\"{value}\""))
        .collect();
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|line| labels.iter().all(|label| line.contains(label.as_str())))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

fn requests_total(text: &str, method: &str, route: &str, status: &str) -> f64 {
    let labels = [("method", method), ("route", route), ("status", status)];
    series(text, "http_requests_total", &labels)
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

#[tokio::test]
async fn mails_jobs_refusals_sockets_and_the_pool_are_measured() {
    let app = TestApp::spawn_with(&[("METRICS_TOKEN", TOKEN)]).await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    app.jobs_idle().await;
    let text = scrape(&app, Some(TOKEN)).await.text().await.unwrap();
    let mail_job = [("job", "email.send")];
    assert!(
        series(&text, "jobs_enqueued_total", &mail_job) >= 1.0,
        "{text}"
    );
    let ran = [("job", "email.send"), ("outcome", "succeeded")];
    assert!(series(&text, "jobs_runs_total", &ran) >= 1.0, "{text}");
    assert!(series(&text, "email_sends_total", &[("outcome", "sent")]) >= 1.0);
    assert_eq!(
        series(&text, "jobs_queue_depth", &[("state", "failed")]),
        0.0
    );
    assert!(text.contains("jobs_queue_depth{state=\"pending\"}"));
    assert!(series(&text, "db_pool_max_connections", &[]) >= 1.0);
    assert!(text.contains("db_pool_connections{state=\"idle\"}"));
    assert!(text.contains("realtime_subscribers_cut_off_total 0"));

    // Invitations to one address: five per 10 minutes, then 429.
    let path = "/v1/workspaces/acme/invites";
    let mut refused = 0;
    for _ in 0..6 {
        let body = json!({"email": "guest@example.com"});
        let response = app
            .send_as(
                Method::POST,
                path,
                Some(&workspace.owner.cookie),
                Some(body),
            )
            .await;
        refused += u32::from(response.status() == 429);
    }
    assert_eq!(refused, 1);
    let socket = connect_to(&app.base, "?workspace=acme", Some(&workspace.owner.cookie))
        .await
        .unwrap();
    let text = scrape(&app, Some(TOKEN)).await.text().await.unwrap();
    let budget = [("budget", "invite")];
    assert_eq!(series(&text, "rate_limit_refusals_total", &budget), 1.0);
    assert_eq!(series(&text, "realtime_open_websockets", &[]), 1.0);
    drop(socket);
    crate::helpers::eventually(
        "the closed socket is no longer counted",
        std::time::Duration::from_secs(5),
        async || {
            let text = scrape(&app, Some(TOKEN)).await.text().await.unwrap();
            series(&text, "realtime_open_websockets", &[]) == 0.0
        },
    )
    .await;
}
