//! Magic-link sign-in, sessions, the origin rule and better-auth's error shape.

use reqwest::header::{COOKIE, ORIGIN};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, TestApp, WEB_ORIGIN as WEB, json_of, percent_decode};
use orbit::auth::entities::{session, user};

async fn request_link(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/sign-in/magic-link"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn magic_link_signs_a_new_user_in_with_a_signed_cookie() {
    let app = TestApp::spawn().await;
    let callback = format!("{WEB}/auth/callback");
    let response = request_link(
        &app,
        json!({"email": "Ada@Example.com", "callbackURL": callback}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await, json!({"status": true}));

    let mails = app.sent_mails().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "ada@example.com");
    assert!(mails[0].html.contains("<a href="));
    let link = app.last_link_to("ada@example.com").await;
    assert!(
        link.starts_with("http://localhost:4002/v1/auth/magic-link/verify?token="),
        "{link}"
    );

    let dev: Value = json_of(
        app.get("/v1/dev/last-magic-link?email=ada@example.com")
            .await,
    )
    .await;
    assert_eq!(dev["link"], link.as_str());

    let response = app.client.get(app.local(&link)).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], callback.as_str());
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=604800"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "not Secure outside production"
    );
    let pair = set_cookie.split(';').next().unwrap();
    let (name, value) = pair.split_once('=').unwrap();
    assert_eq!(name, "better-auth.session_token");
    let signed = percent_decode(value);
    let token = signed.rsplit_once('.').unwrap().0;
    assert_eq!(token.len(), 32);
    assert_eq!(
        signed,
        orbit::auth::tokens::sign(TEST_SECRET.as_bytes(), token)
    );

    let session: Value = json_of(app.get_as("/v1/auth/get-session", pair).await).await;
    assert_eq!(session["session"]["token"], token);
    assert_eq!(session["user"]["email"], "ada@example.com");
    assert_eq!(session["user"]["emailVerified"], true);
    assert_eq!(session["user"]["role"], "user");
    assert_eq!(session["user"]["name"], "");

    let me: Value = json_of(app.get_as("/v1/me", pair).await).await;
    assert_eq!(me["user"]["email"], "ada@example.com");
    assert_eq!(me["user"]["avatarTone"], 0);
    assert_eq!(me["user"]["role"], "user");
    assert_eq!(me["user"]["themeMode"], Value::Null);
    assert_eq!(me["workspaces"], json!([]));

    let stored = session::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].token_hash, token, "the token is stored hashed");
    assert!(!stored[0].token_hash.contains(token));
}

#[tokio::test]
async fn a_link_works_once_and_bad_or_expired_ones_send_back_an_error() {
    let app = TestApp::spawn().await;
    request_link(
        &app,
        json!({"email": "bo@example.com", "callbackURL": "/home"}),
    )
    .await;
    let link = app.last_link_to("bo@example.com").await;
    assert_eq!(
        app.client
            .get(app.local(&link))
            .send()
            .await
            .unwrap()
            .status(),
        302
    );
    let again = app.client.get(app.local(&link)).send().await.unwrap();
    assert_eq!(
        again.headers()["location"],
        format!("{WEB}/home?error=INVALID_TOKEN")
    );
    assert!(again.headers().get("set-cookie").is_none());

    let bad = app
        .get("/v1/auth/magic-link/verify?token=nope&callbackURL=/home%3Fx%3D1")
        .await;
    assert_eq!(
        bad.headers()["location"],
        format!("{WEB}/home?x=1&error=INVALID_TOKEN")
    );

    let expiring = TestApp::spawn_with(&[("MAGIC_LINK_TTL_MIN", "0")]).await;
    request_link(
        &expiring,
        json!({"email": "cy@example.com", "callbackURL": "/"}),
    )
    .await;
    let link = expiring.last_link_to("cy@example.com").await;
    let expired = expiring
        .client
        .get(expiring.local(&link))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expired.headers()["location"],
        format!("{WEB}/?error=INVALID_TOKEN")
    );
}

#[tokio::test]
async fn callback_urls_must_stay_on_trusted_origins() {
    let app = TestApp::spawn().await;
    for callback in [
        "https://evil.test/x",
        "//evil.test",
        "/\\evil.test",
        "javascript:alert(1)",
    ] {
        let response =
            request_link(&app, json!({"email": "a@b.io", "callbackURL": callback})).await;
        assert_eq!(response.status(), 403, "{callback}");
        let body = json_of(response).await;
        assert_eq!(body["code"], "INVALID_CALLBACK_URL", "{callback}");
        assert!(body["message"].is_string());
    }
    for callback in [
        "/ok",
        "http://localhost:4001/x",
        "http://127.0.0.1:4001/x",
        "http://localhost:4002/",
    ] {
        let response =
            request_link(&app, json!({"email": "a@b.io", "callbackURL": callback})).await;
        assert_eq!(response.status(), 200, "{callback}");
    }
    let verify = app
        .get("/v1/auth/magic-link/verify?token=x&callbackURL=https://evil.test")
        .await;
    assert_eq!(verify.status(), 403);
}

#[tokio::test]
async fn bad_input_gets_better_auth_errors() {
    let app = TestApp::spawn().await;
    for email in ["not-an-email", "a@b", " a@b.io", "a b@c.io"] {
        let invalid = request_link(&app, json!({"email": email})).await;
        assert_eq!(invalid.status(), 400, "{email}");
        assert_eq!(
            json_of(invalid).await["code"],
            "VALIDATION_ERROR",
            "{email}"
        );
    }

    let malformed = app
        .client
        .post(app.url("/v1/auth/sign-in/magic-link"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let body = json_of(malformed).await;
    assert_eq!(body["code"], "VALIDATION_ERROR");
    assert!(
        body.get("error").is_none(),
        "better-auth's shape, not the envelope"
    );

    let huge = app
        .client
        .post(app.url("/v1/auth/sign-in/magic-link"))
        .header("content-type", "application/json")
        .body(json!({"email": "a@b.io", "name": "x".repeat(9000)}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    assert_eq!(json_of(huge).await["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn signed_out_callers_get_null_and_401() {
    let app = TestApp::spawn().await;
    let session = app.get("/v1/auth/get-session").await;
    assert_eq!(session.status(), 200);
    assert_eq!(session.text().await.unwrap(), "null");

    let me = app.get("/v1/me").await;
    assert_eq!(me.status(), 401);
    assert_eq!(
        json_of(me).await,
        json!({"error": {"code": "unauthorized", "message": "unauthorized"}})
    );

    let signed_in = app.sign_in("dee@example.com").await;
    let tampered = signed_in
        .cookie
        .replacen("session_token=", "session_token=X", 1);
    for cookie in [
        tampered,
        format!("better-auth.session_token={}", signed_in.token),
    ] {
        let me = app.get_as("/v1/me", &cookie).await;
        assert_eq!(me.status(), 401, "{cookie}");
    }
}

#[tokio::test]
async fn cookie_posts_need_a_trusted_origin_and_bearer_posts_do_not() {
    let app = TestApp::spawn().await;
    let signed_in = app.sign_in("eve@example.com").await;
    let sign_out = |origin: Option<&str>| {
        let mut request = app
            .client
            .post(app.url("/v1/auth/sign-out"))
            .header(COOKIE, &signed_in.cookie);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        request.send()
    };
    let missing = sign_out(None).await.unwrap();
    assert_eq!(missing.status(), 403);
    assert_eq!(json_of(missing).await["code"], "MISSING_OR_NULL_ORIGIN");
    let evil = sign_out(Some("https://evil.test")).await.unwrap();
    assert_eq!(evil.status(), 403);
    assert_eq!(json_of(evil).await["code"], "INVALID_ORIGIN");

    let bearer = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(&signed_in.token)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200, "bearer tokens authenticate");

    let ok = sign_out(Some(WEB)).await.unwrap();
    assert_eq!(ok.status(), 200);
    let cleared: Vec<_> = ok.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cleared.len(), 3);
    assert!(
        cleared
            .iter()
            .all(|c| c.to_str().unwrap().contains("Max-Age=0"))
    );
    assert_eq!(json_of(ok).await, json!({"success": true}));

    let after = app.get_as("/v1/me", &signed_in.cookie).await;
    assert_eq!(after.status(), 401, "the session is gone");
}

#[tokio::test]
async fn sessions_can_be_listed_and_revoked() {
    let app = TestApp::spawn().await;
    let laptop = app.sign_in("fay@example.com").await;
    let phone = app.sign_in("fay@example.com").await;
    let other_user = app.sign_in("gus@example.com").await;

    let post = |path: &str, who: &crate::helpers::SignedIn, body: Value| {
        app.client
            .post(app.url(path))
            .header(COOKIE, &who.cookie)
            .header(ORIGIN, WEB)
            .json(&body)
            .send()
    };
    let list: Value = json_of(app.get_as("/v1/auth/list-sessions", &laptop.cookie).await).await;
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert!(list.iter().any(|s| s["token"] == laptop.token.as_str()));
    let phone_entry = list
        .iter()
        .find(|s| s["token"] != laptop.token.as_str())
        .unwrap();
    assert!(phone_entry["token"].as_str().unwrap().starts_with("sess_"));

    // Another user's session cannot be revoked through yours.
    let foreign = post(
        "/v1/auth/revoke-session",
        &laptop,
        json!({"token": other_user.token}),
    )
    .await
    .unwrap();
    assert_eq!(foreign.status(), 200);
    let still = app.get_as("/v1/me", &other_user.cookie).await;
    assert_eq!(still.status(), 200);

    let revoked = post(
        "/v1/auth/revoke-session",
        &laptop,
        json!({"token": phone_entry["token"]}),
    )
    .await
    .unwrap();
    assert_eq!(json_of(revoked).await, json!({"status": true}));
    let phone_me = app.get_as("/v1/me", &phone.cookie).await;
    assert_eq!(phone_me.status(), 401);

    let tablet = app.sign_in("fay@example.com").await;
    post("/v1/auth/revoke-other-sessions", &laptop, json!({}))
        .await
        .unwrap();
    let tablet_me = app.get_as("/v1/me", &tablet.cookie).await;
    assert_eq!(tablet_me.status(), 401);
    let laptop_me = app.get_as("/v1/me", &laptop.cookie).await;
    assert_eq!(laptop_me.status(), 200);

    post("/v1/auth/revoke-sessions", &laptop, json!({}))
        .await
        .unwrap();
    let laptop_me = app.get_as("/v1/me", &laptop.cookie).await;
    assert_eq!(laptop_me.status(), 401);
}

#[tokio::test]
async fn magic_links_are_rate_limited_per_address() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        let ok = request_link(&app, json!({"email": "hal@example.com"})).await;
        assert_eq!(ok.status(), 200);
    }
    let limited = request_link(&app, json!({"email": "hal@example.com"})).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry_after));
    assert_eq!(json_of(limited).await["code"], "TOO_MANY_REQUESTS");
    let other = request_link(&app, json!({"email": "ivy@example.com"})).await;
    assert_eq!(other.status(), 200, "another address has its own budget");
}

#[tokio::test]
async fn a_banned_user_is_sent_to_the_banned_page() {
    let app = TestApp::spawn().await;
    let signed_in = app.sign_in("jo@example.com").await;
    app.db
        .execute_unprepared("UPDATE users SET banned = true WHERE email = 'jo@example.com'")
        .await
        .unwrap();
    let me = app.get_as("/v1/me", &signed_in.cookie).await;
    assert_eq!(me.status(), 401, "a banned user's sessions stop working");

    request_link(&app, json!({"email": "jo@example.com", "callbackURL": "/"})).await;
    let verify = app
        .client
        .get(app.local(&app.last_link_to("jo@example.com").await))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 302);
    assert_eq!(verify.headers()["location"], "http://localhost:4001/banned");
    assert!(verify.headers().get("set-cookie").is_none());
    let users = user::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(users.len(), 1);
}

#[tokio::test]
async fn concurrent_requests_each_get_their_own_session() {
    let app = TestApp::spawn().await;
    let mut people = Vec::new();
    for n in 0..8 {
        let email = format!("user{n}@example.com");
        let signed_in = app.sign_in(&email).await;
        people.push((email, signed_in));
    }
    let revoked = app.sign_in("gone@example.com").await;
    app.post_as("/v1/auth/sign-out", Some(&revoked.cookie), json!({}))
        .await;
    // Many lookups at once share database queries; each answer must still be its own.
    let revoked = &revoked;
    let requests = (0..64).map(|n| {
        let (email, signed_in) = &people[n % people.len()];
        let app = &app;
        async move {
            let session =
                json_of(app.get_as("/v1/auth/get-session", &signed_in.cookie).await).await;
            assert_eq!(session["user"]["email"], email.as_str());
            assert_eq!(session["session"]["token"], signed_in.token.as_str());
            let gone = app.get_as("/v1/auth/get-session", &revoked.cookie).await;
            assert_eq!(
                json_of(gone).await,
                Value::Null,
                "a signed-out session stays out"
            );
        }
    });
    futures_util::future::join_all(requests).await;
}
