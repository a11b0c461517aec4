//! The checks on an OpenID Connect ID token, against a stub provider (wiremock) that signs the
//! tokens a test asks for with a test RSA key (`fixtures/oidc/*.pem`, test-only keys): a
//! wrong issuer, audience, nonce, signing key or an expired token ends at the error landing
//! with `invalid_id_token` and creates nothing.

use chrono::{Duration, Utc};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    Audience, EmptyAdditionalClaims, EndUserEmail, IssuerUrl, JsonWebKeyId, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, count_rows};
use crate::oauth::{location, start, state_of};

const SIGNING_KEY: &str = include_str!("fixtures/oidc/signing-key.pem");
const STRANGER_KEY: &str = include_str!("fixtures/oidc/stranger-key.pem");
const CLIENT_ID: &str = "orbit-web";

fn key(pem: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("k1".into()))).unwrap()
}

/// A provider publishing discovery and its keys; its token endpoint is mounted per case.
async fn provider() -> MockServer {
    let server = MockServer::start().await;
    let issuer = server.uri();
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })))
        .mount(&server)
        .await;
    let keys = CoreJsonWebKeySet::new(vec![key(SIGNING_KEY).as_verification_key()]);
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&keys))
        .mount(&server)
        .await;
    server
}

/// Makes the ID token a case answers with, from the nonce the server sent.
type Craft<'a> = Box<dyn Fn(String) -> String + 'a>;

/// What a case changes in an otherwise valid token.
struct Token<'a> {
    issuer: String,
    audience: &'a str,
    nonce: String,
    expires_in: Duration,
    key: &'a str,
}

fn signed(token: Token<'_>) -> String {
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(token.issuer).unwrap(),
        vec![Audience::new(token.audience.to_owned())],
        Utc::now() + token.expires_in,
        Utc::now() - Duration::minutes(1),
        StandardClaims::new(SubjectIdentifier::new("erin".into()))
            .set_email(Some(EndUserEmail::new("erin@example.com".into())))
            .set_email_verified(Some(true)),
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(token.nonce)));
    let algorithm = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    CoreIdToken::new(claims, &key(token.key), algorithm, None, None)
        .unwrap()
        .to_string()
}

/// Starts a sign-in, has the provider answer the code with the token `craft` makes from the
/// nonce the server sent, and returns where the callback lands.
async fn land_with(app: &TestApp, server: &MockServer, craft: impl Fn(String) -> String) -> String {
    let body = json!({"providerId": "stub", "errorCallbackURL": "/sign-in"});
    let started = start(app, None, "/v1/auth/sign-in/oauth2", body).await;
    let url = reqwest::Url::parse(&started.url).unwrap();
    let (_, nonce) = url.query_pairs().find(|(key, _)| key == "nonce").unwrap();
    let answer: Value = json!({
        "access_token": "at", "token_type": "Bearer", "expires_in": 3600,
        "id_token": craft(nonce.into_owned()),
    });
    // Answers this flow's one code exchange only.
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .up_to_n_times(1)
        .mount(server)
        .await;
    let state = state_of(&started.url);
    let callback = format!("/v1/auth/oauth2/callback/stub?code=c&state={state}");
    location(&app.get_as(&callback, &started.state_cookie).await)
}

#[tokio::test]
async fn an_id_token_that_fails_a_check_signs_nobody_in() {
    let server = provider().await;
    let issuer = server.uri();
    let providers = json!([{
        "id": "stub", "issuer": issuer, "clientId": CLIENT_ID, "clientSecret": "s"
    }])
    .to_string();
    let app = TestApp::spawn_with(&[("OIDC_PROVIDERS", providers.as_str())]).await;
    let valid = |nonce: String| Token {
        issuer: issuer.clone(),
        audience: CLIENT_ID,
        nonce,
        expires_in: Duration::minutes(5),
        key: SIGNING_KEY,
    };
    let refused = "http://localhost:4001/sign-in?error=invalid_id_token";
    let cases: [(&str, Craft<'_>); 5] = [
        (
            "another issuer",
            Box::new(|nonce| {
                signed(Token {
                    issuer: "https://evil.example".into(),
                    ..valid(nonce)
                })
            }),
        ),
        (
            "another audience",
            Box::new(|nonce| {
                signed(Token {
                    audience: "someone-else",
                    ..valid(nonce)
                })
            }),
        ),
        (
            "another nonce",
            Box::new(|_| signed(valid("replayed-nonce".into()))),
        ),
        (
            "expired",
            Box::new(|nonce| {
                signed(Token {
                    expires_in: Duration::minutes(-5),
                    ..valid(nonce)
                })
            }),
        ),
        (
            "signed by another key",
            Box::new(|nonce| {
                signed(Token {
                    key: STRANGER_KEY,
                    ..valid(nonce)
                })
            }),
        ),
    ];
    for (case, craft) in cases {
        assert_eq!(land_with(&app, &server, craft).await, refused, "{case}");
    }
    assert_eq!(count_rows(&app.db, "users").await, 0);

    let landing = land_with(&app, &server, |nonce| signed(valid(nonce))).await;
    assert_eq!(landing, "http://localhost:4001/");
    assert_eq!(count_rows(&app.db, "users").await, 1);
}
