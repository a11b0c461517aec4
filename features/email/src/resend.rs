use resend_rs::{ConfigBuilder, Resend, types::CreateEmailBaseOptions};
use secrecy::{ExposeSecret, SecretString};

use crate::{Email, MailError, Mailer};

const DEFAULT_BASE_URL: &str = "https://api.resend.com";

/// Delivers through Resend's HTTP API.
pub struct ResendMailer {
    client: Resend,
    from: String,
    base_url: reqwest::Url,
    http: reqwest::Client,
}

impl ResendMailer {
    pub fn new(
        api_key: &SecretString,
        from: &str,
        base_url: Option<reqwest::Url>,
        http: reqwest::Client,
    ) -> Self {
        let base_url =
            base_url.unwrap_or_else(|| DEFAULT_BASE_URL.parse().expect("the default URL is valid"));
        let config = ConfigBuilder::new(api_key.expose_secret())
            .base_url(base_url.clone())
            .client(http.clone())
            .build();
        Self {
            client: Resend::with_config(config),
            from: from.to_owned(),
            base_url,
            http,
        }
    }
}

#[async_trait::async_trait]
impl Mailer for ResendMailer {
    fn backend(&self) -> &'static str {
        "resend"
    }

    fn delivers(&self) -> bool {
        true
    }

    async fn send(&self, email: Email) -> Result<(), MailError> {
        let message = CreateEmailBaseOptions::new(&self.from, [email.to.as_str()], &email.subject)
            .with_text(&email.text)
            .with_html(&email.html);
        self.client
            .emails
            .send(message)
            .await
            .map(|_| ())
            .map_err(classify)
    }

    /// Any HTTP answer from the API host counts as reachable; the key is only proven by a send.
    async fn check(&self) -> Result<(), MailError> {
        self.http
            .get(self.base_url.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|err| MailError::Unreachable(err.to_string()))
    }
}

/// Whether another try may succeed: the network, rate limits, server errors and answers that
/// are not Resend's (a proxy's error page) are transient; anything else Resend said about the
/// message is not.
fn classify(err: resend_rs::Error) -> MailError {
    let transient = match &err {
        resend_rs::Error::Http(_)
        | resend_rs::Error::RateLimit { .. }
        | resend_rs::Error::Parse { .. } => true,
        resend_rs::Error::Resend(answer) => answer.status_code == 429 || answer.status_code >= 500,
        _ => false,
    };
    match transient {
        true => MailError::Unreachable(err.to_string()),
        false => MailError::Rejected(err.to_string()),
    }
}
