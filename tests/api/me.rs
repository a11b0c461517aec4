//! `/v1/me`, preferences and the development helpers.

use orbit::config::AppEnv;
use reqwest::Method;
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDatabase, WEB_ORIGIN, test_settings};

async fn patch(app: &TestApp, cookie: &str, body: &str) -> (u16, Value) {
    let response = app
        .client
        .patch(app.url("/v1/me/preferences"))
        .header(COOKIE, cookie)
        .header(ORIGIN, WEB_ORIGIN)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn preferences_change_only_what_is_sent() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_in("kim@example.com").await.cookie;
    let (status, body) = patch(&app, &cookie, r#"{"themeMode":"dark"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"themeMode": "dark", "themePalette": null}));
    let (_, body) = patch(&app, &cookie, r#"{"themePalette":"violet"}"#).await;
    assert_eq!(body, json!({"themeMode": "dark", "themePalette": "violet"}));
    let (_, body) = patch(&app, &cookie, r#"{"themeMode":null}"#).await;
    assert_eq!(body, json!({"themeMode": null, "themePalette": "violet"}));

    let me: Value = app.get_as("/v1/me", &cookie).await.json().await.unwrap();
    assert_eq!(me["user"]["themePalette"], "violet");
}

#[tokio::test]
async fn bad_preferences_are_422_validation() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_in("lea@example.com").await.cookie;
    for body in [
        r#"{"themeMode":"neon"}"#,
        r#"{"themeMode":"#,
        r#"{"themePalette":3}"#,
    ] {
        let (status, error) = patch(&app, &cookie, body).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(error["error"]["code"], "validation", "{body}");
    }
    let signed_out = app
        .client
        .patch(app.url("/v1/me/preferences"))
        .json(&json!({"themeMode": "dark"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 401);
}

#[tokio::test]
async fn dev_routes_help_in_development() {
    let app = TestApp::spawn().await;
    let missing = app.get("/v1/dev/last-magic-link").await;
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "validation");
    assert!(body["error"]["message"].as_str().unwrap().contains("email"));
    let none: Value = app
        .get("/v1/dev/last-magic-link?email=x@y.io")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!({"link": null}));

    let providers: Value = app
        .get("/v1/dev/active-providers")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        providers,
        json!({"nodeEnv": "test", "mailer": "recording", "social": []})
    );

    let cookie = app.sign_in("max@example.com").await.cookie;
    let made = app
        .client
        .post(app.url("/v1/dev/make-admin"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, WEB_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        made.json::<Value>().await.unwrap(),
        json!({"ok": true, "role": "admin"})
    );
    let me: Value = app.get_as("/v1/me", &cookie).await.json().await.unwrap();
    assert_eq!(me["user"]["role"], "admin");
}

#[tokio::test]
async fn dev_routes_are_not_mounted_in_production() {
    let (_database, url) = TestDatabase::create_sqlite();
    let mut settings = test_settings(&url, &[]);
    settings.env = AppEnv::Production;
    let app = TestApp::serve(settings, true).await;
    let cookie = app.sign_in("max@example.com").await.cookie;
    for (method, path) in [
        (Method::GET, "/v1/dev/last-magic-link"),
        (Method::GET, "/v1/dev/last-magic-link?email=a@b.io"),
        (Method::GET, "/v1/dev/active-providers"),
        (Method::POST, "/v1/dev/make-admin"),
        (Method::POST, "/v1/dev/seed-members/acme"),
    ] {
        // Signed out, signed in, with or without a body: the route is not there at all.
        for cookie in [None, Some(cookie.as_str())] {
            let response = app
                .send_as(method.clone(), path, cookie, Some(json!({"count": "x"})))
                .await;
            assert_eq!(response.status(), 404, "{method} {path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "not_found");
        }
    }
    let served: Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = served["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v1/me"));
    assert!(
        paths.keys().all(|path| !path.starts_with("/v1/dev/")),
        "the production document lists no dev route"
    );
    let docs = app.get("/docs").await.text().await.unwrap();
    assert!(!docs.contains("/v1/dev/"));
}
