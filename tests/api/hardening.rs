//! What an outside attacker tried, and what the API must answer: callbacks that leave the
//! trusted origins, cookies used cross-site (HTTP and WebSocket), timing that tells accounts
//! apart, NUL bytes, impersonation outliving the impersonator, permissions granted by someone
//! who lacks them.

use std::time::{Duration, Instant};

use reqwest::Method;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};

use crate::helpers::{
    SignedIn, TestApp, WEB_ORIGIN, error_code, json_of, set_cookies, test_settings,
};
use crate::realtime::{connect_from, next_of, refused_with};
use orbit::auth::entities::user;

const PASSWORD: &str = "correct horse battery";
const EVIL: &str = "https://evil.example";

/// The status and code of a refusal in either shape (better-auth's on `/v1/auth/*`).
async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body = json_of(response).await;
    let code = body["error"]["code"].as_str().or(body["code"].as_str());
    (status, code.unwrap_or_default().to_owned())
}

/// Callbacks that a string-prefix check lets through but that land off the trusted origins
/// once a browser resolves them (browsers drop tabs and newlines from URLs).
const HOSTILE_CALLBACKS: [&str; 11] = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    " /evil",
    "//evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "https://evil.example/x",
    "http://localhost:4001@evil.example/",
    "http://localhost:4001.evil.example/",
    "javascript:alert(1)",
];

#[tokio::test]
async fn callbacks_that_resolve_off_the_trusted_origins_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    for hostile in HOSTILE_CALLBACKS {
        let encoded = urlencoding(hostile);
        let request = app
            .post_as(
                "/v1/auth/sign-in/magic-link",
                None,
                json!({"email": "ada@example.com", "callbackURL": hostile}),
            )
            .await;
        let mut refused = vec![("magic-link request".to_owned(), refusal(request).await)];
        for path in [
            format!("/v1/auth/magic-link/verify?token=x&callbackURL={encoded}"),
            format!("/v1/auth/magic-link/verify?token=x&errorCallbackURL={encoded}"),
            format!("/v1/auth/magic-link/verify?token=x&newUserCallbackURL={encoded}"),
            format!("/v1/auth/reset-password/some-token?callbackURL={encoded}"),
            format!("/v1/auth/verify-email?token=x&callbackURL={encoded}"),
        ] {
            let response = app.get(&path).await;
            assert!(response.headers().get("location").is_none(), "{path}");
            refused.push((path, refusal(response).await));
        }
        for (what, answer) in refused {
            assert_eq!(
                answer,
                (403, "INVALID_CALLBACK_URL".to_owned()),
                "{what}: {hostile:?}"
            );
        }
    }
}

#[tokio::test]
async fn relative_callbacks_land_on_the_web_app() {
    let app = TestApp::spawn().await;
    let landing = app
        .get("/v1/auth/verify-email?token=x&callbackURL=/account%3FemailChanged%3D1%23top")
        .await;
    assert_eq!(landing.status(), 302);
    assert_eq!(
        landing.headers()["location"],
        format!("{WEB_ORIGIN}/account?emailChanged=1&error=INVALID_TOKEN#top")
    );
    let absolute = app
        .get("/v1/auth/verify-email?token=x&callbackURL=http://localhost:4001/welcome")
        .await;
    assert_eq!(
        absolute.headers()["location"],
        format!("{WEB_ORIGIN}/welcome?error=INVALID_TOKEN")
    );
}

fn urlencoding(raw: &str) -> String {
    percent_encoding::utf8_percent_encode(raw, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `method path` with `cookie`, an `Authorization` header and a foreign `Origin`.
async fn cross_site(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: &str,
    authorization: &str,
    body: Value,
) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .header("cookie", cookie)
        .header("authorization", authorization)
        .header("origin", EVIL)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn only_a_bearer_token_that_authenticates_skips_the_origin_check() {
    let app = TestApp::spawn().await;
    let ada = app.open_workspace("ada@example.com", "acme").await.owner;
    let changes = [
        (
            Method::PATCH,
            "/v1/me/preferences",
            json!({"themeMode": "dark"}),
        ),
        (
            Method::POST,
            "/v1/workspaces",
            json!({"name": "Evil", "slug": "evil-co"}),
        ),
        (Method::DELETE, "/v1/workspaces/acme", json!({})),
        (Method::POST, "/v1/auth/sign-out", json!({})),
    ];
    for authorization in ["Basic YWRhOnB3", "Token abc", "bearer lowercase", "Bearer"] {
        for (method, path, body) in &changes {
            let response = cross_site(
                &app,
                method.clone(),
                path,
                &ada.cookie,
                authorization,
                body.clone(),
            )
            .await;
            assert_eq!(
                refusal(response).await,
                (403, "INVALID_ORIGIN".to_owned()),
                "{authorization}: {method} {path}"
            );
        }
    }
    let workspace = json_of(app.get_as("/v1/workspaces/acme", &ada.cookie).await).await;
    assert_eq!(workspace["workspace"]["slug"], "acme", "still there");

    // A bearer token that authenticates is not ambient: no browser sends it by itself.
    let bearer = format!("Bearer {}", ada.token);
    let response = cross_site(
        &app,
        Method::PATCH,
        "/v1/me/preferences",
        &ada.cookie,
        &bearer,
        json!({"themeMode": "dark"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    // A bearer token that does not authenticate exempts nothing (and the cookie beside it is
    // never read).
    for (method, path, body) in &changes {
        let response = cross_site(
            &app,
            method.clone(),
            path,
            &ada.cookie,
            "Bearer not-a-session",
            body.clone(),
        )
        .await;
        assert_eq!(
            refusal(response).await,
            (403, "INVALID_ORIGIN".to_owned()),
            "{method} {path}"
        );
    }
    let trusted = app
        .client
        .patch(app.url("/v1/me/preferences"))
        .header("cookie", &ada.cookie)
        .header("authorization", "Bearer not-a-session")
        .header("origin", WEB_ORIGIN)
        .json(&json!({"themeMode": "light"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        trusted.status(),
        401,
        "the bearer, not the cookie, is what is checked"
    );
    let me = json_of(app.get_as("/v1/me", &ada.cookie).await).await;
    assert_eq!(me["user"]["themeMode"], "dark");
}

#[tokio::test]
async fn a_cookie_opens_a_socket_only_from_a_trusted_origin() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = Some(workspace.owner.cookie.as_str());
    for origin in [Some(EVIL), Some("null"), None] {
        let refused = connect_from(&app.base, "?workspace=acme", cookie, origin).await;
        assert_eq!(refused_with(refused), 403, "{origin:?}");
    }
    let mut trusted = connect_from(&app.base, "?workspace=acme", cookie, Some(WEB_ORIGIN))
        .await
        .unwrap();
    next_of(&mut trusted, "hello").await;
    // A token in the query is no ambient credential: any page that has it may use it.
    let query = format!("?workspace=acme&token={}", workspace.owner.token);
    let mut by_token = connect_from(&app.base, &query, None, Some(EVIL))
        .await
        .unwrap();
    next_of(&mut by_token, "hello").await;
}

/// How long a failed password sign-in for `email` takes at least, over five: the fastest is
/// its own cost, where the median follows whatever else the machine is running.
async fn failed_sign_in_time(app: &TestApp, email: &str) -> Duration {
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let response = app
            .post_as(
                "/v1/auth/sign-in/email",
                None,
                json!({"email": email, "password": "wrong password"}),
            )
            .await;
        times.push(started.elapsed());
        assert_eq!(
            refusal(response).await,
            (401, "INVALID_EMAIL_OR_PASSWORD".to_owned())
        );
    }
    times.into_iter().min().expect("five times")
}

#[tokio::test]
async fn a_failed_sign_in_costs_one_password_hash_whether_or_not_the_account_exists() {
    let app = TestApp::spawn().await;
    app.sign_up("known@example.com", PASSWORD).await;
    app.sign_in("linkonly@example.com").await;
    let known = failed_sign_in_time(&app, "known@example.com").await;
    // Without the decoy verification these answer in a database round trip: a small
    // fraction of one argon2id verification (19 MiB, 2 passes), well under a third of it.
    for other in ["unknown@example.com", "linkonly@example.com"] {
        let other_time = failed_sign_in_time(&app, other).await;
        assert!(
            other_time * 3 > known,
            "{other}: {other_time:?} against {known:?} for a known address"
        );
    }
}

#[tokio::test]
async fn nul_bytes_are_refused_at_the_edge_for_every_string() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let admin = app.sign_in_admin("root@example.com").await;
    let owner = workspace.owner.cookie.as_str();
    let gets = [
        ("/v1/workspaces/ac%00me", owner),
        ("/v1/workspaces/acme/members?q=%00", owner),
        ("/v1/workspaces/acme/invites?q=a%00", owner),
        (
            "/v1/auth/admin/list-users?searchValue=%00",
            admin.cookie.as_str(),
        ),
        ("/v1/dev/last-magic-link?email=a%00@b.io", owner),
    ];
    for (path, cookie) in gets {
        let response = app.get_as(path, cookie).await;
        let (status, code) = refusal(response).await;
        assert_eq!(status, 400, "{path}");
        assert!(
            ["validation", "VALIDATION_ERROR"].contains(&code.as_str()),
            "{path}: {code}"
        );
    }
    let nul = "a\u{0}b";
    let member_role = workspace.member_role_id.as_str();
    let bodies = [
        (
            Method::POST,
            "/v1/workspaces/acme/roles",
            json!({"name": nul, "permissions": []}),
        ),
        (Method::PATCH, "/v1/workspaces/acme", json!({"name": nul})),
        (
            Method::POST,
            "/v1/workspaces",
            json!({"name": nul, "slug": "nul-co"}),
        ),
        (
            Method::PATCH,
            &format!(
                "/v1/workspaces/acme/members/{}/role",
                workspace.owner_member_id
            ),
            json!({"roleId": format!("{member_role}\u{0}")}),
        ),
        (Method::POST, "/v1/auth/update-user", json!({"name": nul})),
        (
            Method::POST,
            "/v1/auth/sign-up/email",
            json!({"email": "nul@example.com", "password": PASSWORD, "name": nul}),
        ),
    ];
    for (method, path, body) in bodies {
        let response = app
            .send_as(method.clone(), path, Some(owner), Some(body))
            .await;
        let (status, code) = refusal(response).await;
        assert_eq!(status, 400, "{method} {path}");
        assert!(
            ["validation", "VALIDATION_ERROR"].contains(&code.as_str()),
            "{path}: {code}"
        );
    }
    // A raw NUL byte in the body, and an escaped backslash that only looks like one.
    let raw = app
        .client
        .post(app.url("/v1/workspaces/acme/roles"))
        .header("cookie", owner)
        .header("origin", WEB_ORIGIN)
        .header("content-type", "application/json")
        .body(b"{\"name\":\"a\0b\",\"permissions\":[]}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let literal = app
        .send_as(
            Method::POST,
            "/v1/workspaces/acme/roles",
            Some(owner),
            Some(json!({"name": "back\\u0000slash", "permissions": []})),
        )
        .await;
    assert_eq!(literal.status(), 201, "a backslash and u0000 are only text");

    let users = user::Entity::find().all(&app.db).await.unwrap();
    assert!(
        users.iter().all(|user| user.email != "nul@example.com"),
        "nothing written"
    );
}

/// `admin` impersonates `target`; returns the impersonation's browser cookies.
async fn impersonate(app: &TestApp, admin: &SignedIn, target: &SignedIn) -> String {
    let target_id = app.user_id(target).await;
    let response = app
        .post_as(
            "/v1/auth/admin/impersonate-user",
            Some(&admin.cookie),
            json!({"userId": target_id}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let jar: Vec<String> = set_cookies(&response)
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    jar.join("; ")
}

#[tokio::test]
async fn impersonations_end_when_the_impersonator_is_banned_demoted_or_removed() {
    let app = TestApp::spawn().await;
    let root = app.sign_in_admin("root@example.com").await;
    let ned = app.sign_in("ned@example.com").await;
    let post = |path: &'static str, body: Value| {
        let cookie = root.cookie.clone();
        let app = &app;
        async move { app.post_as(path, Some(&cookie), body).await.status() }
    };
    for (email, end) in [
        ("banned@example.com", "/v1/auth/admin/ban-user"),
        ("demoted@example.com", "/v1/auth/admin/set-role"),
        ("updated@example.com", "/v1/auth/admin/update-user"),
        ("removed@example.com", "/v1/auth/admin/remove-user"),
    ] {
        let admin = app.sign_in_admin(email).await;
        let impersonating = impersonate(&app, &admin, &ned).await;
        assert_eq!(app.get_as("/v1/me", &impersonating).await.status(), 200);
        let admin_id = app.user_id(&admin).await;
        let body = json!({"userId": admin_id, "role": "user", "data": {"role": "user"}});
        assert_eq!(post(end, body).await, 200, "{end}");
        assert_eq!(
            app.get_as("/v1/me", &impersonating).await.status(),
            401,
            "{end}"
        );
    }

    // Revoking the admin's sessions ends the ones they opened by impersonation.
    let admin = app.sign_in_admin("revoked@example.com").await;
    let impersonating = impersonate(&app, &admin, &ned).await;
    let body = json!({"userId": app.user_id(&admin).await});
    assert_eq!(post("/v1/auth/admin/revoke-user-sessions", body).await, 200);
    assert_eq!(app.get_as("/v1/me", &impersonating).await.status(), 401);

    // Checked at the lookup too: a role changed behind the API's back ends it as well.
    let admin = app.sign_in_admin("direct@example.com").await;
    let impersonating = impersonate(&app, &admin, &ned).await;
    let admin_row = user::Entity::find_by_id(app.user_id(&admin).await)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut demoted: user::ActiveModel = admin_row.into();
    demoted.role = Set("user".to_owned());
    demoted.update(&app.db).await.unwrap();
    assert_eq!(app.get_as("/v1/me", &impersonating).await.status(), 401);
    assert_eq!(
        app.get_as("/v1/me", &ned.cookie).await.status(),
        200,
        "Ned's own session"
    );
}

#[tokio::test]
async fn nobody_grants_a_workspace_permission_they_do_not_hold() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let admin = app
        .join(
            &workspace,
            "adm@example.com",
            Some(&workspace.admin_role_id),
        )
        .await;
    let plain = app.join(&workspace, "mem@example.com", None).await;
    let send = |cookie: &str, method: Method, path: String, body: Value| {
        let cookie = cookie.to_owned();
        let app = &app;
        async move { app.send_as(method, &path, Some(&cookie), Some(body)).await }
    };
    let as_admin = |method, path, body| send(&admin.session.cookie, method, path, body);
    let as_owner = |method, path, body| send(&workspace.owner.cookie, method, path, body);
    let escalation = (403, "permission.escalation".to_owned());

    let mighty =
        json!({"name": "Mighty", "permissions": ["workspace.delete", "workspace.roles.manage"]});
    let response = as_owner(Method::POST, "/v1/workspaces/acme/roles".into(), json!({"name": "Role manager", "permissions": ["workspace.roles.manage", "workspace.members.invite", "workspace.members.change_role", "workspace.members.remove", "workspace.settings.edit"]})).await;
    let manager_role = json_of(response).await["id"].as_str().unwrap().to_owned();
    let change = format!("/v1/workspaces/acme/members/{}/role", admin.member_id);
    let response = as_owner(
        Method::PATCH,
        change.clone(),
        json!({"roleId": manager_role}),
    )
    .await;
    assert_eq!(response.status(), 204);

    // Creating a role with more than you have.
    let response = as_admin(
        Method::POST,
        "/v1/workspaces/acme/roles".into(),
        mighty.clone(),
    )
    .await;
    assert_eq!(error_code(response).await, escalation);
    // Adding what you lack to your own role.
    let response = as_admin(
        Method::PATCH,
        format!("/v1/workspaces/acme/roles/{manager_role}"),
        json!({"permissions": ["workspace.delete", "workspace.roles.manage"]}),
    )
    .await;
    assert_eq!(error_code(response).await, escalation);
    // Editing, assigning or inviting into a role that holds what you lack.
    let response = as_owner(Method::POST, "/v1/workspaces/acme/roles".into(), mighty).await;
    let mighty_role = json_of(response).await["id"].as_str().unwrap().to_owned();
    let response = as_admin(
        Method::PATCH,
        format!("/v1/workspaces/acme/roles/{mighty_role}"),
        json!({"name": "Renamed"}),
    )
    .await;
    assert_eq!(error_code(response).await, escalation);
    let response = as_admin(
        Method::PATCH,
        format!("/v1/workspaces/acme/members/{}/role", plain.member_id),
        json!({"roleId": mighty_role}),
    )
    .await;
    assert_eq!(error_code(response).await, escalation);
    let response = as_admin(
        Method::POST,
        "/v1/workspaces/acme/invites".into(),
        json!({"email": "new@example.com", "roleId": mighty_role}),
    )
    .await;
    assert_eq!(error_code(response).await, escalation);
    let roles = json_of(
        app.get_as("/v1/workspaces/acme/roles", &workspace.owner.cookie)
            .await,
    )
    .await;
    let mighty_now = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|role| role["id"] == mighty_role.as_str())
        .unwrap();
    assert_eq!(mighty_now["name"], "Mighty");
    assert_eq!(mighty_now["memberCount"], 0);
    // Nor deleting it: that edits it too.
    let response = as_admin(
        Method::DELETE,
        format!("/v1/workspaces/acme/roles/{mighty_role}"),
        json!({}),
    )
    .await;
    assert_eq!(error_code(response).await, escalation);

    // Within what you hold, all of it works.
    let response = as_admin(
        Method::POST,
        "/v1/workspaces/acme/roles".into(),
        json!({"name": "Inviter", "permissions": ["workspace.members.invite"]}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let inviter = json_of(response).await["id"].as_str().unwrap().to_owned();
    let response = as_admin(
        Method::PATCH,
        format!("/v1/workspaces/acme/members/{}/role", plain.member_id),
        json!({"roleId": inviter}),
    )
    .await;
    assert_eq!(response.status(), 204);
    // The owner holds every permission.
    let response = as_owner(
        Method::PATCH,
        format!("/v1/workspaces/acme/members/{}/role", plain.member_id),
        json!({"roleId": mighty_role}),
    )
    .await;
    assert_eq!(response.status(), 204);
    // And now nobody below them moves that member back out, or removes them.
    let response = as_admin(
        Method::PATCH,
        format!("/v1/workspaces/acme/members/{}/role", plain.member_id),
        json!({"roleId": workspace.member_role_id}),
    )
    .await;
    assert_eq!(error_code(response).await, escalation);
    let member = format!("/v1/workspaces/acme/members/{}", plain.member_id);
    let response = as_admin(Method::DELETE, member.clone(), json!({})).await;
    assert_eq!(error_code(response).await, escalation);
    let owner = Some(workspace.owner.cookie.as_str());
    let removed = app.send_as(Method::DELETE, &member, owner, None).await;
    assert_eq!(removed.status(), 204);
}

#[tokio::test]
async fn an_unreachable_database_is_503_with_retry_after() {
    // Nothing listens there: every query fails to connect.
    let port = crate::helpers::free_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/orbit");
    let app = TestApp::serve(test_settings(&url, &[]), false).await;
    let sign_in = app
        .post_as(
            "/v1/auth/sign-in/email",
            None,
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(sign_in.status(), 503);
    assert!(sign_in.headers().contains_key("retry-after"));
    assert_eq!(
        json_of(sign_in).await["error"]["code"],
        "database.unavailable"
    );
    let me = app
        .client
        .get(app.url("/v1/me"))
        .header("authorization", "Bearer some-token")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(me).await,
        (503, "database.unavailable".to_owned())
    );
}

/// Asks for a reset link for `email` and returns the token it carries.
async fn reset_token(app: &TestApp, email: &str) -> String {
    let mails_before = app.sent_mails().await.len();
    let body = json!({"email": email, "redirectTo": "/reset"});
    let response = app
        .post_as("/v1/auth/request-password-reset", None, body)
        .await;
    assert_eq!(response.status(), 200);
    for _ in 0..100 {
        if app.sent_mails().await.len() > mails_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let link = app.last_link_to(email).await;
    let (_, rest) = link.split_once("/reset-password/").unwrap();
    rest.split('?').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_password_change_kills_every_outstanding_reset_link() {
    let app = TestApp::spawn().await;
    app.sign_up("fin@example.com", PASSWORD).await;
    let first = reset_token(&app, "fin@example.com").await;
    let second = reset_token(&app, "fin@example.com").await;
    let reset = |token: &str, password: &str| {
        let body = json!({"newPassword": password, "token": token});
        let app = &app;
        async move { app.post_as("/v1/auth/reset-password", None, body).await }
    };
    assert_eq!(reset(&first, "first new password").await.status(), 200);
    let landing = app
        .get(&format!(
            "/v1/auth/reset-password/{second}?callbackURL=/reset"
        ))
        .await;
    assert_eq!(
        landing.headers()["location"],
        format!("{WEB_ORIGIN}/reset?error=INVALID_TOKEN")
    );
    let stale = reset(&second, "second new password").await;
    assert_eq!(refusal(stale).await, (400, "INVALID_TOKEN".to_owned()));

    // Changing it while signed in does the same.
    let third = reset_token(&app, "fin@example.com").await;
    let signed_in = app
        .post_as(
            "/v1/auth/sign-in/email",
            None,
            json!({"email": "fin@example.com", "password": "first new password"}),
        )
        .await;
    assert_eq!(signed_in.status(), 200);
    let fin = SignedIn::from_response(&signed_in);
    let body =
        json!({"currentPassword": "first new password", "newPassword": "changed while signed in"});
    let changed = app
        .post_as("/v1/auth/change-password", Some(&fin.cookie), body)
        .await;
    assert_eq!(changed.status(), 200);
    let stale = reset(&third, "third new password").await;
    assert_eq!(refusal(stale).await, (400, "INVALID_TOKEN".to_owned()));
}

/// The address the session opened by `forwarded_for` records.
async fn recorded_ip(app: &TestApp, forwarded_for: &str) -> Value {
    let response = app
        .client
        .post(app.url("/v1/auth/sign-up/email"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({
            "email": format!("ip{}@example.com", uuid_like()),
            "password": PASSWORD,
            "name": "Ip"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session = SignedIn::from_response(&response);
    let sessions = json_of(app.get_as("/v1/auth/list-sessions", &session.cookie).await).await;
    sessions[0]["ipAddress"].clone()
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn a_forwarded_address_is_read_from_the_trusted_proxy_not_the_client() {
    let one_hop = TestApp::spawn_with(&[("CLIENT_IP_HEADER", "x-forwarded-for")]).await;
    assert_eq!(
        recorded_ip(&one_hop, "6.6.6.6, 203.0.113.7").await,
        "203.0.113.7",
        "the leftmost entry is whatever the client wrote"
    );
    assert_eq!(recorded_ip(&one_hop, "203.0.113.8").await, "203.0.113.8");
    let two_hops = TestApp::spawn_with(&[
        ("CLIENT_IP_HEADER", "x-forwarded-for"),
        ("TRUSTED_PROXY_HOPS", "2"),
    ])
    .await;
    assert_eq!(
        recorded_ip(&two_hops, "6.6.6.6, 203.0.113.9, 10.0.0.2").await,
        "203.0.113.9"
    );

    // Rotating the client-written part buys no fresh budget.
    let limited = TestApp::spawn_with(&[
        ("CLIENT_IP_HEADER", "x-forwarded-for"),
        ("WS_UPGRADES_PER_MINUTE", "2"),
    ])
    .await;
    let mut statuses = Vec::new();
    for spoofed in ["1.1.1.1", "2.2.2.2", "3.3.3.3"] {
        let response = limited
            .client
            .get(limited.url("/v1/ws?workspace=acme"))
            .header("x-forwarded-for", format!("{spoofed}, 198.51.100.1"))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429]);
}
