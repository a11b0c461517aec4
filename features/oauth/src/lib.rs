//! The OAuth sign-in capability: Google, GitHub, Apple and any OpenID Connect provider.
//!
//! Domain code asks [`SignInProviders`] for the URL a browser is sent to ([`SignInProviders::begin`])
//! and, on the way back, for the verified [`Profile`] ([`SignInProviders::finish`]); it never
//! sees the `oauth2` or `openidconnect` types. [`from_settings`] builds a [`Registry`] of the
//! providers whose id and secret are set (OpenID Connect ones discovered at boot; one that
//! cannot be discovered stays off with a warning), or [`Disabled`] when there are none.

mod disabled;
mod github;
mod http;
mod oidc;
mod registry;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use url::Url;

pub use disabled::Disabled;
pub use registry::Registry;

/// The variables that switch providers on; shown by the boot table while none is.
pub const ENABLE_VARS: &[&str] = &[
    "<GOOGLE|GITHUB|APPLE|OIDC>_CLIENT_ID and _CLIENT_SECRET (OIDC: + OIDC_ISSUER), or OIDC_PROVIDERS",
];

/// How long discovery, a code exchange or a profile read may take.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub enum ProviderKind {
    /// OpenID Connect at `https://accounts.google.com`.
    Google,
    /// OpenID Connect at `https://appleid.apple.com`, answering by form POST.
    Apple,
    /// OAuth 2 with the profile from GitHub's REST API (`web`: github.com or an Enterprise
    /// Server; `api`: its REST base).
    GitHub { web: Url, api: Url },
    /// Any OpenID Connect issuer, discovered from `/.well-known/openid-configuration`.
    Oidc { issuer: Url },
}

#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The provider's id in routes and accounts (`google`, `github`, `apple`, or configured).
    pub id: String,
    pub kind: ProviderKind,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Scopes asked for besides the provider's defaults.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct OAuthSettings {
    pub providers: Vec<ProviderSettings>,
}

/// A provider as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    pub id: String,
    /// Configured through `OIDC_ISSUER`/`OIDC_PROVIDERS` (better-auth's generic OAuth routes)
    /// rather than a built-in social provider.
    pub generic: bool,
}

/// Where to send the browser, and the secrets its return must be checked against.
#[derive(Debug)]
pub struct Started {
    pub url: Url,
    pub secrets: FlowSecrets,
}

/// Kept server-side between the redirect and the callback (never in the browser).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FlowSecrets {
    pub pkce_verifier: String,
    /// OpenID Connect providers only.
    pub nonce: Option<String>,
}

/// Who the provider says signed in, after every check.
#[derive(Debug)]
pub struct Profile {
    /// The provider's stable id of the user (`sub`, or GitHub's numeric id).
    pub account_id: String,
    pub email: Option<String>,
    /// True only when the provider asserts it verified `email`.
    pub email_verified: bool,
    pub name: Option<String>,
    pub image: Option<String>,
    pub tokens: Tokens,
}

#[derive(Debug)]
pub struct Tokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<SecretString>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub scope: Option<String>,
}

impl Tokens {
    /// What a token answer carries (`id_token`: OpenID Connect's, as received).
    fn of(answer: &impl oauth2::TokenResponse, id_token: Option<String>) -> Self {
        let scopes = answer.scopes().map(|scopes| {
            let names: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
            names.join(" ")
        });
        Self {
            access_token: answer.access_token().secret().clone().into(),
            refresh_token: answer
                .refresh_token()
                .map(|token| token.secret().clone().into()),
            id_token: id_token.map(SecretString::from),
            access_token_expires_at: answer
                .expires_in()
                .and_then(|ttl| chrono::Duration::from_std(ttl).ok())
                .map(|ttl| Utc::now() + ttl),
            scope: scopes,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("no such provider")]
    NotFound,
    /// The provider refused the code (invalid, used, expired, or a wrong verifier).
    #[error("the provider refused the code: {0}")]
    InvalidCode(String),
    /// The ID token or the profile failed a check (signature, issuer, audience, expiry, nonce).
    #[error("the provider's answer failed verification: {0}")]
    Untrusted(String),
    /// The provider could not be reached, timed out, or answered with a server error.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait::async_trait]
pub trait SignInProviders: Send + Sync + 'static {
    /// Short name of the backend, for the boot table and `/v1/config`.
    fn backend(&self) -> &'static str;

    /// The providers one can sign in with, in configuration order.
    fn providers(&self) -> Vec<ProviderInfo>;

    /// The authorization URL for `provider`, with `state`, a PKCE S256 challenge and (OpenID
    /// Connect) a nonce; `redirect` is where the provider sends the browser back.
    fn begin(&self, provider: &str, redirect: &Url, state: &str) -> Result<Started, OAuthError>;

    /// Exchanges `code` (with the PKCE verifier) and reads the verified profile.
    async fn finish(
        &self,
        provider: &str,
        redirect: &Url,
        code: &str,
        secrets: &FlowSecrets,
    ) -> Result<Profile, OAuthError>;

    /// Probes every provider (discovery documents re-read); `orbit doctor` reports failures.
    async fn check(&self) -> Vec<(String, Result<(), OAuthError>)>;
}

/// The providers these settings configure; those that fail discovery are left out, logged.
pub async fn from_settings(settings: &OAuthSettings) -> Arc<dyn SignInProviders> {
    if settings.providers.is_empty() {
        return Arc::new(Disabled);
    }
    Arc::new(Registry::connect(settings).await)
}
