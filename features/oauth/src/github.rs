//! GitHub (github.com or an Enterprise Server): OAuth 2 with PKCE; the profile from the REST
//! API, the email from `/user/emails` (the primary one, verified by GitHub).

use std::borrow::Cow;

use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use crate::http::{Http, token_error};
use crate::registry::Flow;
use crate::{FlowSecrets, OAuthError, Profile, ProviderSettings, Started, Tokens};

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct GitHub {
    client: Client,
    api: Url,
    scopes: Vec<String>,
    http: Http,
}

#[derive(Deserialize)]
struct User {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct Email {
    email: String,
    primary: bool,
    verified: bool,
}

impl GitHub {
    pub fn new(
        provider: &ProviderSettings,
        web: &Url,
        api: &Url,
        http: &Http,
    ) -> Result<Self, OAuthError> {
        let endpoint = |path: &str| {
            web.join(path)
                .map_err(|err| OAuthError::Untrusted(format!("GitHub address: {err}")))
        };
        let client = BasicClient::new(ClientId::new(provider.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                provider.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::from_url(endpoint("login/oauth/authorize")?))
            .set_token_uri(TokenUrl::from_url(endpoint("login/oauth/access_token")?));
        let mut scopes = vec!["read:user".to_owned(), "user:email".to_owned()];
        scopes.extend(provider.scopes.iter().cloned());
        Ok(Self {
            client,
            api: api.clone(),
            scopes,
            http: http.clone(),
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        access_token: &str,
    ) -> Result<T, OAuthError> {
        let url = self
            .api
            .join(path)
            .map_err(|err| OAuthError::Unavailable(err.to_string()))?;
        let response = self
            .http
            .client()
            .get(url)
            .bearer_auth(access_token)
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "orbit-api")
            .send()
            .await
            .map_err(|err| OAuthError::Unavailable(format!("GitHub {path}: {err}")))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(OAuthError::Unavailable(format!("GitHub {path}: {status}")));
        }
        if !status.is_success() {
            return Err(OAuthError::Untrusted(format!("GitHub {path}: {status}")));
        }
        response
            .json()
            .await
            .map_err(|err| OAuthError::Untrusted(format!("GitHub {path}: {err}")))
    }
}

#[async_trait::async_trait]
impl Flow for GitHub {
    fn begin(&self, redirect: &Url, state: &str) -> Started {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new(state.to_owned());
        let mut request = self
            .client
            .authorize_url(move || state)
            .set_pkce_challenge(challenge)
            .set_redirect_uri(Cow::Owned(RedirectUrl::from_url(redirect.clone())));
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _) = request.url();
        Started {
            url,
            secrets: FlowSecrets {
                pkce_verifier: verifier.into_secret(),
                nonce: None,
            },
        }
    }

    async fn finish(
        &self,
        redirect: &Url,
        code: &str,
        secrets: &FlowSecrets,
    ) -> Result<Profile, OAuthError> {
        let token: BasicTokenResponse = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(secrets.pkce_verifier.clone()))
            .set_redirect_uri(Cow::Owned(RedirectUrl::from_url(redirect.clone())))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let access_token = token.access_token().secret();
        let user: User = self.get("user", access_token).await?;
        let emails: Vec<Email> = self.get("user/emails", access_token).await?;
        let primary = emails.into_iter().find(|email| email.primary);
        Ok(Profile {
            account_id: user.id.to_string(),
            email_verified: primary.as_ref().is_some_and(|email| email.verified),
            email: primary.map(|email| email.email),
            name: user
                .name
                .filter(|name| !name.is_empty())
                .or(Some(user.login)),
            image: user.avatar_url,
            tokens: Tokens::of(&token, None),
        })
    }

    /// GitHub publishes no discovery document: its endpoints are fixed, nothing to probe.
    async fn check(&self) -> Result<(), OAuthError> {
        Ok(())
    }
}
