//! OpenID Connect providers (Google, Apple, any discovered issuer): the code flow with PKCE and
//! a nonce; the ID token's signature, issuer, audience, expiry and nonce are verified.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenClaims, CoreProviderMetadata,
    CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EmptyAdditionalClaims, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::http::{Http, token_error};
use crate::registry::Flow;
use crate::{FlowSecrets, OAuthError, Profile, ProviderKind, ProviderSettings, Started, Tokens};

type Discovered = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Signing keys are re-read at most this often when a token names a key we do not hold (the
/// provider rotated its keys since boot).
const REDISCOVER_AFTER: Duration = Duration::from_secs(60);

pub struct Oidc {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: SecretString,
    scopes: Vec<String>,
    /// Apple answers by form POST (and only then sends the name and email scopes).
    form_post: bool,
    http: Http,
    client: RwLock<Arc<Discovered>>,
    discovered_at: Mutex<Instant>,
}

impl Oidc {
    pub async fn discover(provider: &ProviderSettings, http: Http) -> Result<Self, OAuthError> {
        let (issuer, mut scopes, form_post) = match &provider.kind {
            ProviderKind::Google => ("https://accounts.google.com", default_scopes(), false),
            ProviderKind::Apple => (
                "https://appleid.apple.com",
                vec!["name".to_owned(), "email".to_owned()],
                true,
            ),
            ProviderKind::Oidc { issuer } => (issuer.as_str(), default_scopes(), false),
            ProviderKind::GitHub { .. } => unreachable!("GitHub is not an OpenID provider"),
        };
        scopes.extend(provider.scopes.iter().cloned());
        let issuer = IssuerUrl::new(issuer.trim_end_matches('/').to_owned())
            .map_err(|err| OAuthError::Untrusted(format!("issuer: {err}")))?;
        let client_id = ClientId::new(provider.client_id.clone());
        let client = fetch_client(&issuer, &client_id, &provider.client_secret, &http).await?;
        Ok(Self {
            issuer,
            client_id,
            client_secret: provider.client_secret.clone(),
            scopes,
            form_post,
            http,
            client: RwLock::new(Arc::new(client)),
            discovered_at: Mutex::new(Instant::now()),
        })
    }

    async fn rediscover(&self) -> Result<(), OAuthError> {
        let client = fetch_client(
            &self.issuer,
            &self.client_id,
            &self.client_secret,
            &self.http,
        );
        *self.client.write().expect("client lock") = Arc::new(client.await?);
        *self.discovered_at.lock().expect("discovery clock") = Instant::now();
        Ok(())
    }

    fn client(&self) -> Arc<Discovered> {
        self.client.read().expect("client lock").clone()
    }

    /// The ID token's claims, re-reading the provider's keys once if the token was signed
    /// with a key published since the last read.
    async fn verified_claims(
        &self,
        token: &CoreTokenResponse,
        nonce: &Nonce,
    ) -> Result<CoreIdTokenClaims, OAuthError> {
        let id_token = token
            .id_token()
            .ok_or_else(|| OAuthError::Untrusted("no ID token in the answer".to_owned()))?;
        let client = self.client();
        match id_token.claims(&client.id_token_verifier(), nonce) {
            Ok(claims) => return Ok(claims.clone()),
            Err(ClaimsVerificationError::SignatureVerification(_)) if self.keys_may_be_stale() => {}
            Err(err) => return Err(OAuthError::Untrusted(err.to_string())),
        }
        self.rediscover().await?;
        let client = self.client();
        id_token
            .claims(&client.id_token_verifier(), nonce)
            .cloned()
            .map_err(|err| OAuthError::Untrusted(err.to_string()))
    }

    fn keys_may_be_stale(&self) -> bool {
        self.discovered_at
            .lock()
            .expect("discovery clock")
            .elapsed()
            > REDISCOVER_AFTER
    }

    /// The userinfo claims, for a provider whose ID token leaves the email out.
    async fn user_info(
        &self,
        access_token: &AccessToken,
        claims: &CoreIdTokenClaims,
    ) -> Result<Option<CoreUserInfoClaims>, OAuthError> {
        let client = self.client();
        let Ok(request) = client.user_info(access_token.clone(), Some(claims.subject().clone()))
        else {
            return Ok(None);
        };
        let info = request
            .request_async::<EmptyAdditionalClaims, _, CoreGenderClaim>(&self.http)
            .await
            .map_err(|err| OAuthError::Unavailable(format!("userinfo: {err}")))?;
        Ok(Some(info))
    }
}

/// A client from the issuer's discovery document and signing keys.
async fn fetch_client(
    issuer: &IssuerUrl,
    client_id: &ClientId,
    client_secret: &SecretString,
    http: &Http,
) -> Result<Discovered, OAuthError> {
    let metadata = CoreProviderMetadata::discover_async(issuer.clone(), http)
        .await
        .map_err(|err| OAuthError::Unavailable(format!("discovery: {err}")))?;
    let basic_auth = metadata
        .token_endpoint_auth_methods_supported()
        .is_none_or(|methods| {
            methods
                .iter()
                .any(|method| method.as_ref() == "client_secret_basic")
        });
    let secret = ClientSecret::new(client_secret.expose_secret().to_owned());
    let client = CoreClient::from_provider_metadata(metadata, client_id.clone(), Some(secret));
    Ok(client.set_auth_type(match basic_auth {
        true => AuthType::BasicAuth,
        false => AuthType::RequestBody,
    }))
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(str::to_owned).to_vec()
}

#[async_trait::async_trait]
impl Flow for Oidc {
    fn begin(&self, redirect: &Url, state: &str) -> Started {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new(state.to_owned());
        let client = self.client();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || state,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .set_redirect_uri(Cow::Owned(RedirectUrl::from_url(redirect.clone())));
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if self.form_post {
            request = request.add_extra_param("response_mode", "form_post");
        }
        let (url, _, nonce) = request.url();
        Started {
            url,
            secrets: FlowSecrets {
                pkce_verifier: verifier.into_secret(),
                nonce: Some(nonce.secret().clone()),
            },
        }
    }

    async fn finish(
        &self,
        redirect: &Url,
        code: &str,
        secrets: &FlowSecrets,
    ) -> Result<Profile, OAuthError> {
        let nonce = secrets
            .nonce
            .clone()
            .map(Nonce::new)
            .ok_or_else(|| OAuthError::Untrusted("no nonce was sent".to_owned()))?;
        let client = self.client();
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|err| OAuthError::Unavailable(err.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(secrets.pkce_verifier.clone()))
            .set_redirect_uri(Cow::Owned(RedirectUrl::from_url(redirect.clone())))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let claims = self.verified_claims(&token, &nonce).await?;
        let mut email = claims.email().map(|email| email.as_str().to_owned());
        let mut email_verified = claims.email_verified().unwrap_or(false);
        let mut name = claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.as_str().to_owned());
        let mut image = claims
            .picture()
            .and_then(|picture| picture.get(None))
            .map(|url| url.as_str().to_owned());
        if email.is_none()
            && let Some(info) = self.user_info(token.access_token(), &claims).await?
        {
            email = info.email().map(|email| email.as_str().to_owned());
            email_verified = info.email_verified().unwrap_or(false);
            name = name.or_else(|| {
                info.name()
                    .and_then(|name| name.get(None))
                    .map(|name| name.as_str().to_owned())
            });
            image = image.or_else(|| {
                info.picture()
                    .and_then(|picture| picture.get(None))
                    .map(|url| url.as_str().to_owned())
            });
        }
        Ok(Profile {
            account_id: claims.subject().as_str().to_owned(),
            email,
            email_verified,
            name,
            image,
            tokens: Tokens::of(&token, token.id_token().map(|token| token.to_string())),
        })
    }

    async fn check(&self) -> Result<(), OAuthError> {
        self.rediscover().await
    }
}
