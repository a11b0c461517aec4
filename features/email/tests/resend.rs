//! The Resend mailer against a stub of Resend's HTTP API.

use orbit_email::{Email, EmailSettings, MailError, from_settings};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn settings(server: &MockServer) -> EmailSettings {
    EmailSettings {
        resend_api_key: Some("re_test_key".into()),
        resend_from: Some("Orbit <no-reply@orbit.test>".into()),
        resend_base_url: Some(server.uri().parse().unwrap()),
        redact_console_log: false,
    }
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn email() -> Email {
    Email {
        to: "ada@example.com".into(),
        subject: "Sign in".into(),
        text: "Open https://api.test/verify?token=t".into(),
        html: "<a href=\"https://api.test/verify?token=t\">Sign in</a>".into(),
    }
}

#[tokio::test]
async fn sends_both_bodies_with_the_api_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/emails"))
        .and(header("authorization", "Bearer re_test_key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "em_1"})))
        .expect(1)
        .mount(&server)
        .await;

    let mailer = from_settings(&settings(&server), http()).unwrap();
    assert_eq!(mailer.backend(), "resend");
    mailer.send(email()).await.unwrap();

    let requests = server.received_requests().await.unwrap();
    let body: serde_json::Value = requests[0].body_json().unwrap();
    assert_eq!(body["from"], "Orbit <no-reply@orbit.test>");
    assert_eq!(body["to"], serde_json::json!(["ada@example.com"]));
    assert_eq!(body["subject"], "Sign in");
    assert_eq!(body["text"], "Open https://api.test/verify?token=t");
    assert!(body["html"].as_str().unwrap().contains("<a href"));
}

#[tokio::test]
async fn a_refusal_is_reported_as_rejected() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/emails"))
        .respond_with(ResponseTemplate::new(422).set_body_json(serde_json::json!({
            "statusCode": 422, "name": "validation_error", "message": "Invalid `to` field."
        })))
        .mount(&server)
        .await;

    let mailer = from_settings(&settings(&server), http()).unwrap();
    let err = mailer.send(email()).await.unwrap_err();
    assert!(
        matches!(err, MailError::Rejected(ref m) if m.contains("Invalid `to` field")),
        "{err}"
    );
}

#[tokio::test]
async fn server_errors_rate_limits_and_foreign_pages_are_worth_another_try() {
    let answers = [
        ResponseTemplate::new(500).set_body_json(serde_json::json!({
            "statusCode": 500, "name": "internal_server_error", "message": "down"
        })),
        ResponseTemplate::new(429).set_body_json(serde_json::json!({
            "statusCode": 429, "name": "rate_limit_exceeded", "message": "slow down"
        })),
        ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"),
    ];
    for answer in answers {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/emails"))
            .respond_with(answer)
            .mount(&server)
            .await;
        let mailer = from_settings(&settings(&server), http()).unwrap();
        let err = mailer.send(email()).await.unwrap_err();
        assert!(matches!(err, MailError::Unreachable(_)), "{err}");
    }
}

#[tokio::test]
async fn an_unreachable_api_fails_the_check() {
    let server = MockServer::start().await;
    let mut settings = settings(&server);
    drop(server);
    settings.resend_base_url = Some("http://127.0.0.1:9".parse().unwrap());
    let mailer = from_settings(&settings, http()).unwrap();
    assert!(matches!(
        mailer.check().await,
        Err(MailError::Unreachable(_))
    ));
    assert!(matches!(
        mailer.send(email()).await,
        Err(MailError::Unreachable(_))
    ));
}

#[test]
fn half_configured_resend_is_a_settings_error() {
    let key_only = EmailSettings {
        resend_api_key: Some("re_x".into()),
        ..Default::default()
    };
    assert!(from_settings(&key_only, http()).is_err());
    let from_only = EmailSettings {
        resend_from: Some("a@b.c".into()),
        ..Default::default()
    };
    assert!(from_settings(&from_only, http()).is_err());
    let neither = EmailSettings::default();
    assert_eq!(
        from_settings(&neither, http()).unwrap().backend(),
        "console"
    );
}
