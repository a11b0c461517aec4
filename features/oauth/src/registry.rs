use std::collections::BTreeMap;

use futures_util::future::join_all;
use url::Url;

use crate::github::GitHub;
use crate::http::Http;
use crate::oidc::Oidc;
use crate::{
    FlowSecrets, OAuthError, OAuthSettings, Profile, ProviderInfo, ProviderKind, ProviderSettings,
    SignInProviders, Started,
};

/// One provider's flow.
#[async_trait::async_trait]
pub(crate) trait Flow: Send + Sync {
    fn begin(&self, redirect: &Url, state: &str) -> Started;

    async fn finish(
        &self,
        redirect: &Url,
        code: &str,
        secrets: &FlowSecrets,
    ) -> Result<Profile, OAuthError>;

    async fn check(&self) -> Result<(), OAuthError>;
}

struct Entry {
    info: ProviderInfo,
    flow: Box<dyn Flow>,
}

/// The providers that are on, by id.
pub struct Registry {
    entries: Vec<Entry>,
    by_id: BTreeMap<String, usize>,
}

impl Registry {
    /// Builds every configured provider, discovering OpenID Connect issuers concurrently.
    pub async fn connect(settings: &OAuthSettings) -> Self {
        let http = Http::new();
        let built = join_all(
            settings
                .providers
                .iter()
                .map(|provider| build(provider, &http)),
        );
        let mut entries = Vec::new();
        for (provider, flow) in settings.providers.iter().zip(built.await) {
            match flow {
                Ok(flow) => entries.push(Entry {
                    info: ProviderInfo {
                        id: provider.id.clone(),
                        generic: matches!(provider.kind, ProviderKind::Oidc { .. }),
                    },
                    flow,
                }),
                Err(err) => tracing::warn!(
                    provider = %provider.id,
                    "sign-in provider left off: {err}"
                ),
            }
        }
        let by_id = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| (entry.info.id.clone(), index))
            .collect();
        Self { entries, by_id }
    }

    fn flow(&self, provider: &str) -> Result<&dyn Flow, OAuthError> {
        let index = self.by_id.get(provider).ok_or(OAuthError::NotFound)?;
        Ok(self.entries[*index].flow.as_ref())
    }
}

async fn build(provider: &ProviderSettings, http: &Http) -> Result<Box<dyn Flow>, OAuthError> {
    Ok(match &provider.kind {
        ProviderKind::GitHub { web, api } => Box::new(GitHub::new(provider, web, api, http)?),
        _ => Box::new(Oidc::discover(provider, http.clone()).await?),
    })
}

#[async_trait::async_trait]
impl SignInProviders for Registry {
    fn backend(&self) -> &'static str {
        match self.entries.is_empty() {
            true => "none",
            false => "oauth2",
        }
    }

    fn providers(&self) -> Vec<ProviderInfo> {
        self.entries
            .iter()
            .map(|entry| entry.info.clone())
            .collect()
    }

    fn begin(&self, provider: &str, redirect: &Url, state: &str) -> Result<Started, OAuthError> {
        Ok(self.flow(provider)?.begin(redirect, state))
    }

    async fn finish(
        &self,
        provider: &str,
        redirect: &Url,
        code: &str,
        secrets: &FlowSecrets,
    ) -> Result<Profile, OAuthError> {
        self.flow(provider)?.finish(redirect, code, secrets).await
    }

    async fn check(&self) -> Vec<(String, Result<(), OAuthError>)> {
        let checks = self
            .entries
            .iter()
            .map(|entry| async { (entry.info.id.clone(), entry.flow.check().await) });
        join_all(checks).await
    }
}
