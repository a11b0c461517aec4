//! Email + password: sign-up, sign-in, verification, reset, change and check.

use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{TestApp, WEB_ORIGIN, count_rows, json_of, set_cookie_header, set_cookies};
use orbit::auth::entities::{account, user};

const PASSWORD: &str = "correct horse battery";

async fn sign_in_with(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let body = json!({"email": email, "password": password});
    app.post_as("/v1/auth/sign-in/email", None, body).await
}

async fn error_code(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, json_of(response).await["code"].clone())
}

#[tokio::test]
async fn sign_up_signs_in_and_mails_a_verification_link() {
    let app = TestApp::spawn().await;
    let body = json!({
        "name": " Ada ", "email": "Ada@Example.com", "password": PASSWORD,
        "callbackURL": "/welcome"
    });
    let response = app.post_as("/v1/auth/sign-up/email", None, body).await;
    assert_eq!(response.status(), 200);
    let signed_in = crate::helpers::SignedIn::from_response(&response);
    let body = json_of(response).await;
    assert_eq!(body["token"], signed_in.token.as_str());
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["name"], "Ada");
    assert_eq!(body["user"]["emailVerified"], false);
    assert_eq!(body["user"]["role"], "user");

    let session = json_of(app.get_as("/v1/auth/get-session", &signed_in.cookie).await).await;
    assert_eq!(session["user"]["email"], "ada@example.com");

    let stored = account::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert_eq!(stored.provider_id, "credential");
    let hash = stored.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"), "stored as argon2id");
    assert!(!hash.contains(PASSWORD));

    let link = app.last_link_to("ada@example.com").await;
    assert!(
        link.starts_with("http://localhost:4002/v1/auth/verify-email?token="),
        "{link}"
    );
    let verified = app.client.get(app.local(&link)).send().await.unwrap();
    assert_eq!(verified.status(), 302);
    assert_eq!(
        verified.headers()["location"],
        format!("{WEB_ORIGIN}/welcome")
    );
    let session = json_of(app.get_as("/v1/auth/get-session", &signed_in.cookie).await).await;
    assert_eq!(session["user"]["emailVerified"], true);

    let again = app.client.get(app.local(&link)).send().await.unwrap();
    assert_eq!(
        again.headers()["location"],
        format!("{WEB_ORIGIN}/welcome?error=INVALID_TOKEN")
    );
    let without_callback = app.get("/v1/auth/verify-email?token=not-a-token").await;
    assert_eq!(
        error_code(without_callback).await,
        (401, json!("INVALID_TOKEN"))
    );
}

#[tokio::test]
async fn sign_up_refuses_taken_addresses_and_bad_passwords_without_writing() {
    let app = TestApp::spawn().await;
    app.sign_up("bo@example.com", PASSWORD).await;
    let cases = [
        (
            json!({"name": "", "email": "BO@example.com", "password": PASSWORD}),
            422,
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        ),
        (
            json!({"name": "", "email": "cy@example.com", "password": "short"}),
            400,
            "PASSWORD_TOO_SHORT",
        ),
        (
            json!({"name": "", "email": "cy@example.com", "password": "x".repeat(129)}),
            400,
            "PASSWORD_TOO_LONG",
        ),
        (
            json!({"name": "", "email": "not-an-address", "password": PASSWORD}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({"name": "", "email": "cy@example.com", "password": PASSWORD, "callbackURL": "https://evil.test/"}),
            403,
            "INVALID_CALLBACK_URL",
        ),
    ];
    for (body, status, code) in cases {
        let response = app
            .post_as("/v1/auth/sign-up/email", None, body.clone())
            .await;
        assert_eq!(error_code(response).await, (status, json!(code)), "{body}");
    }
    assert_eq!(user::Entity::find().count(&app.db).await.unwrap(), 1);
    assert_eq!(account::Entity::find().count(&app.db).await.unwrap(), 1);
}

#[tokio::test]
async fn sign_in_checks_the_password_and_the_ban() {
    let app = TestApp::spawn().await;
    app.sign_up("dee@example.com", PASSWORD).await;
    app.sign_in("mia@example.com").await;

    let response = sign_in_with(&app, "DEE@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let signed_in = crate::helpers::SignedIn::from_response(&response);
    let body = json_of(response).await;
    assert_eq!(body["redirect"], false);
    assert_eq!(body["url"], Value::Null);
    assert_eq!(body["token"], signed_in.token.as_str());
    assert_eq!(body["user"]["email"], "dee@example.com");
    let me = app.get_as("/v1/me", &signed_in.cookie).await;
    assert_eq!(me.status(), 200);

    for (email, password) in [
        ("dee@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("mia@example.com", PASSWORD),
    ] {
        let refused = sign_in_with(&app, email, password).await;
        assert!(refused.headers().get("set-cookie").is_none());
        assert_eq!(
            error_code(refused).await,
            (401, json!("INVALID_EMAIL_OR_PASSWORD")),
            "{email}"
        );
    }

    app.db
        .execute_unprepared("UPDATE users SET banned = true WHERE email = 'dee@example.com'")
        .await
        .unwrap();
    let banned = sign_in_with(&app, "dee@example.com", PASSWORD).await;
    assert_eq!(error_code(banned).await, (403, json!("BANNED_USER")));
}

#[tokio::test]
async fn email_and_password_can_be_turned_off() {
    let app = TestApp::spawn_with(&[("AUTH_EMAIL_PASSWORD", "false")]).await;
    let body = json!({"name": "", "email": "eve@example.com", "password": PASSWORD});
    let sign_up = app.post_as("/v1/auth/sign-up/email", None, body).await;
    assert_eq!(
        error_code(sign_up).await,
        (400, json!("EMAIL_PASSWORD_SIGN_UP_DISABLED"))
    );
    let sign_in = sign_in_with(&app, "eve@example.com", PASSWORD).await;
    assert_eq!(
        error_code(sign_in).await,
        (400, json!("EMAIL_PASSWORD_DISABLED"))
    );
    assert_eq!(user::Entity::find().count(&app.db).await.unwrap(), 0);
}

#[tokio::test]
async fn a_password_is_reset_through_a_mailed_link() {
    let app = TestApp::spawn().await;
    let old_session = app.sign_up("fin@example.com", PASSWORD).await;
    let expected = json!({
        "status": true,
        "message": "If this email exists in our system, check your email for the reset link"
    });
    let redirect_to = format!("{WEB_ORIGIN}/reset");
    for email in ["nobody@example.com", "fin@example.com"] {
        let body = json!({"email": email, "redirectTo": redirect_to});
        let response = app
            .post_as("/v1/auth/request-password-reset", None, body)
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(json_of(response).await, expected, "same answer for {email}");
    }
    app.wait_for_mail_with("fin@example.com", "/reset-password/")
        .await;
    assert!(
        app.mailer
            .sent()
            .iter()
            .all(|mail| mail.to != "nobody@example.com")
    );
    let lookups = count_rows(&app.db, "jobs WHERE name = 'auth.address_mail'").await;
    assert_eq!(
        lookups, 2,
        "each request leaves one durable job, whether or not the address has an account"
    );

    let link = app.last_link_to("fin@example.com").await;
    let landing = app.client.get(app.local(&link)).send().await.unwrap();
    assert_eq!(landing.status(), 302);
    let location = landing.headers()["location"].to_str().unwrap().to_owned();
    let token = location
        .strip_prefix(&format!("{redirect_to}?token="))
        .unwrap_or_else(|| panic!("{location}"))
        .to_owned();
    let bad = app
        .get(&format!(
            "/v1/auth/reset-password/nope?callbackURL={redirect_to}"
        ))
        .await;
    assert_eq!(
        bad.headers()["location"].to_str().unwrap(),
        format!("{redirect_to}?error=INVALID_TOKEN")
    );

    let short = json!({"newPassword": "short", "token": token});
    let response = app.post_as("/v1/auth/reset-password", None, short).await;
    assert_eq!(
        error_code(response).await,
        (400, json!("PASSWORD_TOO_SHORT"))
    );
    let body = json!({"newPassword": "a brand new password", "token": token});
    let response = app
        .post_as("/v1/auth/reset-password", None, body.clone())
        .await;
    assert_eq!(json_of(response).await, json!({"status": true}));
    let reused = app.post_as("/v1/auth/reset-password", None, body).await;
    assert_eq!(error_code(reused).await, (400, json!("INVALID_TOKEN")));

    let me = app.get_as("/v1/me", &old_session.cookie).await;
    assert_eq!(me.status(), 401, "a reset signs the account out everywhere");
    let old = sign_in_with(&app, "fin@example.com", PASSWORD).await;
    assert_eq!(old.status(), 401);
    let new = sign_in_with(&app, "fin@example.com", "a brand new password").await;
    assert_eq!(new.status(), 200);
}

#[tokio::test]
async fn the_password_is_changed_and_checked_with_the_current_one() {
    let app = TestApp::spawn().await;
    let laptop = app.sign_up("gil@example.com", PASSWORD).await;
    let phone = crate::helpers::SignedIn::from_response(
        &sign_in_with(&app, "gil@example.com", PASSWORD).await,
    );
    let cookie = Some(laptop.cookie.as_str());

    let wrong = json!({"password": "not it at all"});
    let response = app.post_as("/v1/auth/verify-password", cookie, wrong).await;
    assert_eq!(error_code(response).await, (400, json!("INVALID_PASSWORD")));
    let right = json!({"password": PASSWORD});
    let response = app.post_as("/v1/auth/verify-password", cookie, right).await;
    assert_eq!(json_of(response).await, json!({"status": true}));

    let body = json!({"currentPassword": "not it at all", "newPassword": "second password"});
    let response = app.post_as("/v1/auth/change-password", cookie, body).await;
    assert_eq!(error_code(response).await, (400, json!("INVALID_PASSWORD")));
    let body = json!({"currentPassword": PASSWORD, "newPassword": "second password"});
    let response = app.post_as("/v1/auth/change-password", cookie, body).await;
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert_eq!(body["token"], Value::Null);
    assert_eq!(body["user"]["email"], "gil@example.com");
    assert_eq!(app.get_as("/v1/me", &phone.cookie).await.status(), 200);

    let body = json!({
        "currentPassword": "second password", "newPassword": "third password",
        "revokeOtherSessions": true
    });
    let response = app.post_as("/v1/auth/change-password", cookie, body).await;
    assert_eq!(response.status(), 200);
    let renewed = crate::helpers::SignedIn::from_response(&response);
    assert_eq!(json_of(response).await["token"], renewed.token.as_str());
    assert_eq!(app.get_as("/v1/me", &phone.cookie).await.status(), 401);
    assert_eq!(app.get_as("/v1/me", &laptop.cookie).await.status(), 401);
    assert_eq!(app.get_as("/v1/me", &renewed.cookie).await.status(), 200);
    let signed_in = sign_in_with(&app, "gil@example.com", "third password").await;
    assert_eq!(signed_in.status(), 200);

    let magic = app.sign_in("hu@example.com").await;
    let body = json!({"currentPassword": PASSWORD, "newPassword": "second password"});
    let response = app
        .post_as("/v1/auth/change-password", Some(&magic.cookie), body)
        .await;
    assert_eq!(
        error_code(response).await,
        (400, json!("CREDENTIAL_ACCOUNT_NOT_FOUND"))
    );
}

#[tokio::test]
async fn an_unproven_sign_up_does_not_survive_the_owner_signing_in() {
    let app = TestApp::spawn().await;
    let squatter = app.sign_up("ida@example.com", PASSWORD).await;
    let owner = app.sign_in("ida@example.com").await;
    assert_eq!(app.get_as("/v1/me", &owner.cookie).await.status(), 200);
    assert_eq!(app.get_as("/v1/me", &squatter.cookie).await.status(), 401);
    let response = sign_in_with(&app, "ida@example.com", PASSWORD).await;
    assert_eq!(response.status(), 401, "the squatter's password is gone");
}

#[tokio::test]
async fn verification_mails_are_sent_only_where_they_make_sense() {
    let app = TestApp::spawn().await;
    let unverified = app.sign_up("jay@example.com", PASSWORD).await;
    let verified = app.sign_in("kim@example.com").await;
    let mails = app.sent_mails().await.len();
    let send = |cookie: Option<String>, email: &str| {
        let body = json!({"email": email});
        let app = &app;
        async move {
            app.post_as("/v1/auth/send-verification-email", cookie.as_deref(), body)
                .await
        }
    };
    let response = send(Some(verified.cookie.clone()), "kim@example.com").await;
    assert_eq!(
        error_code(response).await,
        (400, json!("EMAIL_ALREADY_VERIFIED"))
    );
    let response = send(Some(unverified.cookie.clone()), "kim@example.com").await;
    assert_eq!(error_code(response).await, (400, json!("EMAIL_MISMATCH")));
    for email in ["kim@example.com", "nobody@example.com"] {
        let response = send(None, email).await;
        assert_eq!(json_of(response).await, json!({"status": true}));
    }

    // Signed out, the mail goes after the response: wait for Jay's second one.
    let response = send(None, "jay@example.com").await;
    assert_eq!(json_of(response).await, json!({"status": true}));
    let to_jay = || {
        let sent = app.mailer.sent();
        sent.iter()
            .filter(|mail| mail.to == "jay@example.com")
            .count()
    };
    for _ in 0..100 {
        if to_jay() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(to_jay(), 2);
    assert_eq!(
        app.sent_mails().await.len(),
        mails + 1,
        "nothing to verify for Kim or nobody, nothing sent"
    );
    let link = app.last_link_to("jay@example.com").await;
    let response = app
        .client
        .get(app.local(&link).replace("&callbackURL=%2F", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(response).await,
        json!({"status": true, "user": null})
    );
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_address() {
    let app = TestApp::spawn().await;
    for _ in 0..10 {
        let response = sign_in_with(&app, "lee@example.com", "wrong password").await;
        assert_eq!(response.status(), 401);
    }
    let limited = sign_in_with(&app, "lee@example.com", "wrong password").await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let other = sign_in_with(&app, "max@example.com", "wrong password").await;
    assert_eq!(other.status(), 401);
}

#[tokio::test]
async fn a_session_not_remembered_ends_with_the_browser_and_within_a_day() {
    let app = TestApp::spawn().await;
    app.sign_up("ned@example.com", PASSWORD).await;
    let body = json!({"email": "ned@example.com", "password": PASSWORD, "rememberMe": false});
    let response = app.post_as("/v1/auth/sign-in/email", None, body).await;
    assert_eq!(response.status(), 200);
    let session_cookie = set_cookie_header(&response, "better-auth.session_token");
    assert!(!session_cookie.contains("Max-Age"), "{session_cookie}");
    let marker = set_cookie_header(&response, "better-auth.dont_remember");
    assert!(!marker.contains("Max-Age"), "{marker}");
    let jar: Vec<String> = set_cookies(&response)
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let jar = jar.join("; ");

    let session = app.get_as("/v1/auth/get-session", &jar).await;
    assert!(
        session.headers().get("set-cookie").is_none(),
        "never made persistent"
    );
    let session = json_of(session).await;
    let expires = session["session"]["expiresAt"].as_str().unwrap();
    let left = chrono::DateTime::parse_from_rfc3339(expires)
        .unwrap()
        .signed_duration_since(chrono::Utc::now());
    assert!((23..=24).contains(&left.num_hours()), "{left}");

    let remembered = json!({"email": "ned@example.com", "password": PASSWORD});
    let response = app
        .post_as("/v1/auth/sign-in/email", None, remembered)
        .await;
    let persistent = set_cookie_header(&response, "better-auth.session_token");
    assert!(persistent.contains("Max-Age=604800"), "{persistent}");
}
