//! The email capability.
//!
//! Domain code sends an [`Email`] through the [`Mailer`] trait and never sees the provider.
//! [`from_settings`] picks Resend when `RESEND_API_KEY` and `RESEND_FROM` are set, and the
//! console mailer otherwise, so a deploy without an email provider still boots and logs what it
//! would have sent.

mod console;
mod resend;

use std::sync::Arc;

use secrecy::SecretString;

pub use console::ConsoleMailer;
pub use resend::ResendMailer;

/// The variables that switch the real provider on; shown by the boot table while they are unset.
pub const ENABLE_VARS: &[&str] = &["RESEND_API_KEY", "RESEND_FROM"];

/// One message, always with a plain-text and an HTML body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the email provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the email provider refused the message: {0}")]
    Rejected(String),
}

#[async_trait::async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Short name of the backend, for the boot table and `/v1/config`.
    fn backend(&self) -> &'static str;

    /// True when mail actually leaves the process.
    fn delivers(&self) -> bool;

    async fn send(&self, email: Email) -> Result<(), MailError>;

    /// Cheap reachability probe used by `orbit doctor`.
    async fn check(&self) -> Result<(), MailError> {
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
pub struct EmailSettings {
    pub resend_api_key: Option<SecretString>,
    pub resend_from: Option<String>,
    /// Overrides Resend's API address (a proxy, or a stub server in tests).
    pub resend_base_url: Option<reqwest::Url>,
    /// The console mailer logs only each link's origin and a masked recipient: in production
    /// links carry sign-in tokens, and neither tokens nor addresses go to logs.
    pub redact_console_log: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "RESEND_FROM is required when RESEND_API_KEY is set (e.g. \"Orbit <no-reply@example.com>\")"
    )]
    MissingFrom,
    #[error("RESEND_API_KEY is required when RESEND_FROM is set")]
    MissingKey,
    #[error("RESEND_FROM must contain an email address")]
    InvalidFrom,
}

impl EmailSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        match (&self.resend_api_key, &self.resend_from) {
            (Some(_), None) => Err(SettingsError::MissingFrom),
            (None, Some(_)) => Err(SettingsError::MissingKey),
            (Some(_), Some(from)) if !from.contains('@') => Err(SettingsError::InvalidFrom),
            _ => Ok(()),
        }
    }
}

/// Chooses the mailer for these settings.
pub fn from_settings(
    settings: &EmailSettings,
    http: reqwest::Client,
) -> Result<Arc<dyn Mailer>, SettingsError> {
    settings.validate()?;
    Ok(match (&settings.resend_api_key, &settings.resend_from) {
        (Some(key), Some(from)) => Arc::new(ResendMailer::new(
            key,
            from,
            settings.resend_base_url.clone(),
            http,
        )),
        _ => Arc::new(ConsoleMailer::new(settings.redact_console_log)),
    })
}
