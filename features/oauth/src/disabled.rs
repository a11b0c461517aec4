use url::Url;

use crate::{FlowSecrets, OAuthError, Profile, ProviderInfo, SignInProviders, Started};

/// No provider configured: every provider id is unknown.
pub struct Disabled;

#[async_trait::async_trait]
impl SignInProviders for Disabled {
    fn backend(&self) -> &'static str {
        "none"
    }

    fn providers(&self) -> Vec<ProviderInfo> {
        Vec::new()
    }

    fn begin(&self, _: &str, _: &Url, _: &str) -> Result<Started, OAuthError> {
        Err(OAuthError::NotFound)
    }

    async fn finish(
        &self,
        _: &str,
        _: &Url,
        _: &str,
        _: &FlowSecrets,
    ) -> Result<Profile, OAuthError> {
        Err(OAuthError::NotFound)
    }

    async fn check(&self) -> Vec<(String, Result<(), OAuthError>)> {
        Vec::new()
    }
}
