//! OAuth sign-in against a real OpenID Connect provider (PyPI `oidc-provider-mock`, started
//! per test; `.ci/run` installs it) and a wiremock GitHub: new, returning and linked users,
//! every bad return ending at the error landing with nothing created, link and unlink, and a
//! flow started on one instance and finished on another.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    SignedIn, TestApp, count_rows, error_code, free_port, json_of, set_cookies, skip, test_settings,
};

const PROVIDER: &str = "acme-sso";
const CALLBACK: &str = "http://localhost:4001/auth/callback";
const NEW_USER: &str = "http://localhost:4001/welcome";
const ERROR: &str = "http://localhost:4001/sign-in";

/// An `oidc-provider-mock` on a free port: `OIDC_PROVIDER_MOCK`, else the one on `PATH`.
struct OidcProvider {
    issuer: String,
    child: Child,
}

impl OidcProvider {
    fn start() -> Option<Self> {
        let binary =
            std::env::var("OIDC_PROVIDER_MOCK").unwrap_or_else(|_| "oidc-provider-mock".into());
        let port = free_port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            skip("oidc-provider-mock");
            return None;
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = ([127, 0, 0, 1], port).into();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(
                Instant::now() < deadline,
                "oidc-provider-mock did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self {
            issuer: format!("http://127.0.0.1:{port}"),
            child,
        })
    }

    fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OIDC_ISSUER", self.issuer.clone()),
            ("OIDC_CLIENT_ID", "orbit-test".into()),
            ("OIDC_CLIENT_SECRET", "orbit-test-secret".into()),
            ("OIDC_PROVIDER_ID", PROVIDER.into()),
        ]
    }

    /// Sets the claims the provider asserts for `sub`.
    async fn user(&self, sub: &str, claims: Value) {
        let response = reqwest::Client::new()
            .put(format!("{}/users/{sub}", self.issuer))
            .json(&claims)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }

    /// `sub` approves the authorization `url`: where the provider sends the browser back.
    async fn approve(&self, url: &str, sub: &str) -> String {
        let response = no_redirects()
            .post(url)
            .form(&[("sub", sub)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
        location(&response)
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn owned<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    vars.iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

async fn spawn_with_provider() -> Option<(TestApp, OidcProvider)> {
    let provider = OidcProvider::start()?;
    let vars = provider.vars();
    let app = TestApp::spawn_with(&owned(&vars)).await;
    Some((app, provider))
}

/// A browser's start of a sign-in: the authorization URL and the state cookie it was given.
pub(crate) struct Started {
    pub url: String,
    pub state_cookie: String,
}

pub(crate) async fn start(
    app: &TestApp,
    cookie: Option<&str>,
    route: &str,
    body: Value,
) -> Started {
    let response = app.send_as(Method::POST, route, cookie, Some(body)).await;
    let cookies = set_cookies(&response);
    let body = json_of(response).await;
    let (name, value) = cookies
        .into_iter()
        .find(|(name, _)| name.ends_with("better-auth.state"))
        .unwrap_or_else(|| panic!("no state cookie: {body}"));
    assert_eq!(body["redirect"], true);
    Started {
        url: body["url"].as_str().unwrap().to_owned(),
        state_cookie: format!("{name}={value}"),
    }
}

async fn start_generic(app: &TestApp) -> Started {
    let body = json!({
        "providerId": PROVIDER,
        "callbackURL": CALLBACK,
        "newUserCallbackURL": NEW_USER,
        "errorCallbackURL": ERROR,
    });
    start(app, None, "/v1/auth/sign-in/oauth2", body).await
}

/// The browser follows the provider's redirect back to the API (pointed at `app`).
async fn come_back(app: &TestApp, returned: &str, cookie: &str) -> reqwest::Response {
    app.get_as(&app.local(returned).replacen(&app.base, "", 1), cookie)
        .await
}

/// A whole sign-in of `sub`: the landing and the session it opened, if any.
async fn sign_in_as(
    app: &TestApp,
    provider: &OidcProvider,
    sub: &str,
) -> (String, Option<SignedIn>) {
    let started = start_generic(app).await;
    let returned = provider.approve(&started.url, sub).await;
    let response = come_back(app, &returned, &started.state_cookie).await;
    assert_eq!(response.status(), 302);
    let opened = set_cookies(&response)
        .iter()
        .any(|(name, value)| name.ends_with("session_token") && !value.is_empty());
    let session = opened.then(|| SignedIn::from_response(&response));
    (location(&response), session)
}

async fn me(app: &TestApp, session: &SignedIn) -> Value {
    json_of(app.get_as("/v1/auth/get-session", &session.cookie).await).await
}

#[tokio::test]
async fn an_oidc_user_is_created_then_signed_in_again() {
    let Some((app, provider)) = spawn_with_provider().await else {
        return;
    };
    let claims = json!({"email": "Alice@Example.com", "email_verified": true, "name": "Alice"});
    provider.user("alice", claims).await;

    let (landing, session) = sign_in_as(&app, &provider, "alice").await;
    assert_eq!(landing, NEW_USER);
    let session = session.expect("a session");
    let first = me(&app, &session).await;
    assert_eq!(first["user"]["email"], "alice@example.com");
    assert_eq!(first["user"]["name"], "Alice");
    assert_eq!(first["user"]["emailVerified"], true);
    let accounts = json_of(app.get_as("/v1/auth/list-accounts", &session.cookie).await).await;
    assert_eq!(accounts[0]["providerId"], PROVIDER);
    assert_eq!(accounts[0]["accountId"], "alice");
    assert!(
        accounts[0].get("accessToken").is_none(),
        "tokens are never returned"
    );

    // The provider's tokens are sealed at rest.
    let rows = sea_orm::ConnectionTrait::query_all_raw(
        &app.db,
        sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT access_token, id_token FROM accounts",
        ),
    )
    .await
    .unwrap();
    let sealed: String = rows[0].try_get("", "access_token").unwrap();
    let id_token: String = rows[0].try_get("", "id_token").unwrap();
    assert!(sealed.starts_with("v1:") && id_token.starts_with("v1:"));
    assert!(!id_token.contains("eyJ"), "no JWT in clear");

    // Returning: the same user, the plain landing.
    let (landing, again) = sign_in_as(&app, &provider, "alice").await;
    assert_eq!(landing, CALLBACK);
    assert_eq!(
        me(&app, &again.unwrap()).await["user"]["id"],
        first["user"]["id"]
    );
    assert_eq!(count_rows(&app.db, "users").await, 1);
    assert_eq!(count_rows(&app.db, "accounts").await, 1);

    let config = json_of(app.get("/v1/config").await).await;
    assert_eq!(
        config["socialProviders"],
        json!([{"id": PROVIDER, "generic": true}])
    );
    assert_eq!(
        config["capabilities"]["oauth"],
        json!({"enabled": true, "backend": "oauth2"})
    );
}

#[tokio::test]
async fn a_verified_address_links_to_its_user_an_unverified_one_does_not() {
    let Some((app, provider)) = spawn_with_provider().await else {
        return;
    };
    let bob = app.sign_in("bob@example.com").await;
    let bob_id = app.user_id(&bob).await;

    provider
        .user(
            "mallory",
            json!({"email": "bob@example.com", "email_verified": false}),
        )
        .await;
    let (landing, session) = sign_in_as(&app, &provider, "mallory").await;
    assert_eq!(landing, format!("{ERROR}?error=account_not_linked"));
    assert!(session.is_none());
    assert_eq!(count_rows(&app.db, "accounts").await, 0);

    provider
        .user(
            "bob-sso",
            json!({"email": "bob@example.com", "email_verified": true}),
        )
        .await;
    let (landing, session) = sign_in_as(&app, &provider, "bob-sso").await;
    assert_eq!(landing, CALLBACK);
    assert_eq!(me(&app, &session.unwrap()).await["user"]["id"], bob_id);
    assert_eq!(count_rows(&app.db, "users").await, 1);

    // Bob's only sign-in method left is that account: it cannot be unlinked.
    let unlink = json!({"providerId": PROVIDER});
    let response = app
        .send_as(
            Method::POST,
            "/v1/auth/unlink-account",
            Some(&bob.cookie),
            Some(unlink),
        )
        .await;
    assert_eq!(
        error_code(response).await,
        (400, "FAILED_TO_UNLINK_LAST_ACCOUNT".into())
    );
    let other = json!({"providerId": "github"});
    let response = app
        .send_as(
            Method::POST,
            "/v1/auth/unlink-account",
            Some(&bob.cookie),
            Some(other),
        )
        .await;
    assert_eq!(
        error_code(response).await,
        (400, "ACCOUNT_NOT_FOUND".into())
    );
}

#[tokio::test]
async fn bad_returns_land_on_the_error_callback_and_create_nothing() {
    let Some((app, provider)) = spawn_with_provider().await else {
        return;
    };
    provider
        .user(
            "carol",
            json!({"email": "carol@example.com", "email_verified": true}),
        )
        .await;
    let fallback = "http://localhost:4001/?error=state_mismatch";

    // No state, or a state this browser did not start.
    let started = start_generic(&app).await;
    let returned = provider.approve(&started.url, "carol").await;
    let no_state = format!("/v1/auth/oauth2/callback/{PROVIDER}?code=abc");
    let response = app.get_as(&no_state, &started.state_cookie).await;
    assert_eq!(location(&response), fallback);
    let other_browser = start_generic(&app).await.state_cookie;
    let response = come_back(&app, &returned, &other_browser).await;
    assert_eq!(location(&response), fallback);
    let response = come_back(&app, &returned, "").await;
    assert_eq!(location(&response), fallback);

    // The provider's refusal, and a forged code.
    let started = start_generic(&app).await;
    let state = state_of(&started.url);
    let denied = format!("/v1/auth/oauth2/callback/{PROVIDER}?state={state}&error=access_denied");
    let response = app.get_as(&denied, &started.state_cookie).await;
    assert_eq!(location(&response), format!("{ERROR}?error=access_denied"));
    let started = start_generic(&app).await;
    let state = state_of(&started.url);
    let forged = format!("/v1/auth/oauth2/callback/{PROVIDER}?state={state}&code=forged");
    let response = app.get_as(&forged, &started.state_cookie).await;
    assert_eq!(location(&response), format!("{ERROR}?error=invalid_code"));

    // A return used once cannot be replayed.
    let started = start_generic(&app).await;
    let returned = provider.approve(&started.url, "carol").await;
    let response = come_back(&app, &returned, &started.state_cookie).await;
    assert_eq!(location(&response), NEW_USER);
    let replay = come_back(&app, &returned, &started.state_cookie).await;
    assert_eq!(location(&replay), fallback);
    assert_eq!(count_rows(&app.db, "users").await, 1);
}

pub(crate) fn state_of(url: &str) -> String {
    let url = reqwest::Url::parse(url).unwrap();
    let (_, state) = url.query_pairs().find(|(key, _)| key == "state").unwrap();
    state.into_owned()
}

#[tokio::test]
async fn the_start_checks_provider_and_landings() {
    let Some((app, _provider)) = spawn_with_provider().await else {
        return;
    };
    let cases = [
        (
            "/v1/auth/sign-in/social",
            json!({"provider": "google"}),
            (404, "PROVIDER_NOT_FOUND"),
        ),
        // A generic provider starts from the generic route only.
        (
            "/v1/auth/sign-in/social",
            json!({"provider": PROVIDER}),
            (404, "PROVIDER_NOT_FOUND"),
        ),
        (
            "/v1/auth/sign-in/oauth2",
            json!({"providerId": PROVIDER, "callbackURL": "https://evil.example/"}),
            (403, "INVALID_CALLBACK_URL"),
        ),
        (
            "/v1/auth/sign-in/oauth2",
            json!({"providerId": PROVIDER, "errorCallbackURL": "//evil.example"}),
            (403, "INVALID_CALLBACK_URL"),
        ),
    ];
    for (route, body, (status, code)) in cases {
        let response = app
            .send_as(Method::POST, route, None, Some(body.clone()))
            .await;
        assert_eq!(
            error_code(response).await,
            (status, code.to_owned()),
            "{body}"
        );
    }
    assert_eq!(count_rows(&app.db, "verifications").await, 0);
    let body = json!({"providerId": PROVIDER, "disableRedirect": true});
    let response = app
        .send_as(Method::POST, "/v1/auth/sign-in/oauth2", None, Some(body))
        .await;
    let body = json_of(response).await;
    assert_eq!(body["redirect"], false);
    let url = reqwest::Url::parse(body["url"].as_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(
        query["redirect_uri"],
        format!("http://localhost:4002/v1/auth/oauth2/callback/{PROVIDER}")
    );
    assert!(query.contains_key("nonce") && query.contains_key("state"));
}

#[tokio::test]
async fn an_issuer_that_cannot_be_discovered_stays_off() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let vars = [
        ("OIDC_ISSUER", closed.as_str()),
        ("OIDC_CLIENT_ID", "id"),
        ("OIDC_CLIENT_SECRET", "secret"),
    ];
    let app = TestApp::spawn_with(&vars).await;
    let config = json_of(app.get("/v1/config").await).await;
    assert_eq!(config["socialProviders"], json!([]));
    assert_eq!(config["capabilities"]["oauth"]["enabled"], false);
    let body = json!({"providerId": "oidc"});
    let response = app
        .send_as(Method::POST, "/v1/auth/sign-in/oauth2", None, Some(body))
        .await;
    assert_eq!(
        error_code(response).await,
        (404, "PROVIDER_NOT_FOUND".into())
    );
}

#[tokio::test]
async fn a_flow_started_on_one_instance_finishes_on_another() {
    let Some(provider) = OidcProvider::start() else {
        return;
    };
    let vars = provider.vars();
    let Some((first, url)) = TestApp::spawn_on_postgres(&owned(&vars)).await else {
        return;
    };
    let second = TestApp::serve(test_settings(&url, &owned(&vars)), false).await;
    provider
        .user(
            "dave",
            json!({"email": "dave@example.com", "email_verified": true}),
        )
        .await;
    let started = start_generic(&first).await;
    let returned = provider.approve(&started.url, "dave").await;
    let response = come_back(&second, &returned, &started.state_cookie).await;
    assert_eq!(location(&response), NEW_USER);
    let session = SignedIn::from_response(&response);
    assert_eq!(
        me(&first, &session).await["user"]["email"],
        "dave@example.com"
    );
}

#[tokio::test]
async fn github_signs_in_with_its_primary_verified_email_and_links_to_the_signed_in_user() {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .and(body_string_contains("code=good"))
        .and(body_string_contains("code_verifier="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "gho_secret", "token_type": "bearer", "scope": "read:user,user:email"
        })))
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .and(body_string_contains("code=bad"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired."
        })))
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .and(body_string_contains("code=boom"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&github)
        .await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 4242, "login": "octo", "name": null, "avatar_url": "https://avatars.example/4242"
        })))
        .mount(&github)
        .await;
    Mock::given(method("GET"))
        .and(path("/user/emails"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"email": "old@example.com", "primary": false, "verified": true},
            {"email": "octo@example.com", "primary": true, "verified": true}
        ])))
        .mount(&github)
        .await;
    let base = format!("{}/", github.uri());
    let vars = [
        ("GITHUB_CLIENT_ID", "gh-id"),
        ("GITHUB_CLIENT_SECRET", "gh-secret"),
        ("GITHUB_URL", base.as_str()),
        ("GITHUB_API_URL", base.as_str()),
    ];
    let app = TestApp::spawn_with(&vars).await;
    let octo = app.sign_in("octo@example.com").await;
    let octo_id = app.user_id(&octo).await;

    // Linking from the signed-in account.
    let body = json!({"provider": "github", "callbackURL": "/settings"});
    let started = start(&app, Some(&octo.cookie), "/v1/auth/link-social", body).await;
    assert!(
        started
            .url
            .starts_with(&format!("{base}login/oauth/authorize?"))
    );
    let state = state_of(&started.url);
    let callback = format!("/v1/auth/callback/github?code=good&state={state}");
    let response = app.get_as(&callback, &started.state_cookie).await;
    assert_eq!(location(&response), "http://localhost:4001/settings");
    let accounts = json_of(app.get_as("/v1/auth/list-accounts", &octo.cookie).await).await;
    assert_eq!(accounts[0]["accountId"], "4242");
    assert_eq!(accounts[0]["scopes"], json!(["read:user,user:email"]));

    // Signing in with it later (here by Apple's form POST path, sent on to the GET).
    let body = json!({"provider": "github", "callbackURL": "/home"});
    let started = start(&app, None, "/v1/auth/sign-in/social", body).await;
    let state = state_of(&started.url);
    let posted = app
        .client
        .post(app.url("/v1/auth/callback/github"))
        .form(&[("code", "good"), ("state", state.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 302);
    let response = come_back(&app, &location(&posted), &started.state_cookie).await;
    assert_eq!(location(&response), "http://localhost:4001/home");
    let session = SignedIn::from_response(&response);
    assert_eq!(me(&app, &session).await["user"]["id"], octo_id);

    // A code GitHub refuses (with a 200, as GitHub does), and GitHub failing, end at the
    // error landing.
    for (code, error) in [("bad", "invalid_code"), ("boom", "unable_to_get_user_info")] {
        let body = json!({"provider": "github", "errorCallbackURL": "/oops"});
        let started = start(&app, None, "/v1/auth/sign-in/social", body).await;
        let state = state_of(&started.url);
        let callback = format!("/v1/auth/callback/github?code={code}&state={state}");
        let response = app.get_as(&callback, &started.state_cookie).await;
        let expected = format!("http://localhost:4001/oops?error={error}");
        assert_eq!(location(&response), expected);
    }
    assert_eq!(count_rows(&app.db, "users").await, 1);
}
