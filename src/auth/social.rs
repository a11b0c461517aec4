//! Sign-in with an OAuth provider (better-auth's social and generic OAuth flows).
//!
//! The start stores the flow (provider, PKCE verifier, nonce, where to land) in a verification
//! row keyed by the `state` it sends, and binds the state to the browser with a signed
//! cookie: any instance can finish it, and a callback carried to another browser (login CSRF)
//! is refused. The callback checks both, has the provider verify the code, then signs in the
//! linked user, links a verified address to its user, or creates the user, in one transaction.

use std::time::Duration;

use chrono::Utc;
use orbit_oauth::{FlowSecrets, OAuthError, Profile};
use poem::Request;
use poem::http::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::address::EmailAddress;
use super::entities::{account, user};
use super::links::with_query;
use super::origin::{resolve_callback, resolve_optional_callback};
use super::request_meta::session_origin;
use super::tokens::{hash_token, random_token, sign};
use super::users::{self, DEFAULT_ROLE, NewUser};
use super::verifications::{self, Purpose};
use super::{cookies, sealed, session, throttle};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::state::AppState;

/// How long a started sign-in may take to come back.
const FLOW_TTL: Duration = Duration::from_secs(10 * 60);

/// Which routes a provider is started from: better-auth's social routes for the built-in
/// providers, its generic OAuth routes for issuers configured by URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routes {
    Social,
    Generic,
}

/// Where the browser lands, as the client asked.
pub struct Landing<'a> {
    pub callback: Option<&'a str>,
    pub error_callback: Option<&'a str>,
    pub new_user_callback: Option<&'a str>,
}

/// What the callback needs, kept server-side under the state.
#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    provider: String,
    redirect: String,
    secrets: FlowSecrets,
    callback: String,
    error_callback: String,
    new_user_callback: Option<String>,
    /// Set when a signed-in user links the provider to their account.
    link_user_id: Option<String>,
}

/// What the provider sent back to the callback.
#[derive(Debug, Default)]
pub struct Returned {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

fn provider_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "PROVIDER_NOT_FOUND",
        "Provider not found",
    )
}

/// The callback route of `provider` (where the provider sends the browser back).
fn redirect_uri(state: &AppState, provider: &str, routes: Routes) -> url::Url {
    let path = match routes {
        Routes::Social => format!("/v1/auth/callback/{provider}"),
        Routes::Generic => format!("/v1/auth/oauth2/callback/{provider}"),
    };
    url::Url::parse(&state.settings.origins.api)
        .and_then(|api| api.join(&path))
        .expect("API_ORIGIN was validated at boot")
}

/// Starts a sign-in (or, with `link_user_id`, a link) with `provider`: the URL to send the
/// browser to. 404 `PROVIDER_NOT_FOUND` for a provider that is not on (or not on `routes`),
/// 403 `INVALID_CALLBACK_URL` for a landing off the trusted origins.
pub async fn begin(
    state: &AppState,
    req: &Request,
    provider: &str,
    routes: Option<Routes>,
    landing: Landing<'_>,
    link_user_id: Option<String>,
) -> ApiResult<String> {
    let settings = &state.settings;
    let callback = String::from(resolve_callback(settings, landing.callback.unwrap_or("/"))?);
    let error_callback = resolve_optional_callback(settings, landing.error_callback)?
        .unwrap_or_else(|| callback.clone());
    let new_user_callback = resolve_optional_callback(settings, landing.new_user_callback)?;
    let info = state
        .capabilities
        .oauth
        .providers()
        .into_iter()
        .find(|info| info.id == provider)
        .ok_or_else(provider_not_found)?;
    let own_routes = match info.generic {
        true => Routes::Generic,
        false => Routes::Social,
    };
    if routes.is_some_and(|routes| routes != own_routes) {
        return Err(provider_not_found());
    }
    throttle::check_ip(state, req, throttle::SOCIAL).await?;

    let redirect = redirect_uri(state, provider, own_routes);
    let token = random_token();
    let started = state
        .capabilities
        .oauth
        .begin(provider, &redirect, &token)
        .map_err(|_| provider_not_found())?;
    let flow = Flow {
        provider: provider.to_owned(),
        redirect: redirect.to_string(),
        secrets: started.secrets,
        callback,
        error_callback,
        new_user_callback,
        link_user_id,
    };
    verifications::store(&state.db, Purpose::OAuthState, &token, &flow, FLOW_TTL).await?;
    let secret = settings.auth_secret.expose_secret().as_bytes();
    let cookie = cookies::set_oauth_state(settings, &sign(secret, &token), FLOW_TTL);
    session::queue_cookie(req, cookie);
    Ok(started.url.to_string())
}

/// Finishes a flow at `provider`'s callback: where to send the browser (the landing, or the
/// error landing with better-auth's `?error=` names). Nothing is created on any error.
pub async fn finish(
    state: &AppState,
    req: &Request,
    provider: &str,
    returned: Returned,
) -> ApiResult<String> {
    let settings = &state.settings;
    let fallback = format!("{}/", settings.origins.web.trim_end_matches('/'));
    session::queue_cookie(req, cookies::clear_oauth_state(settings));
    let Some(flow) = take_flow(state, req, returned.state.as_deref()).await? else {
        return Ok(with_query(&fallback, "error", "state_mismatch"));
    };
    let fail = |error: &str| Ok(with_query(&flow.error_callback, "error", error));
    if flow.provider != provider {
        return fail("state_mismatch");
    }
    if let Some(error) = returned.error {
        return fail(&provider_error_name(&error));
    }
    let Some(code) = returned.code.filter(|code| !code.is_empty()) else {
        return fail("no_code");
    };
    let redirect: url::Url = flow.redirect.parse().map_err(ApiError::internal)?;
    let oauth = &state.capabilities.oauth;
    let profile = match oauth
        .finish(provider, &redirect, &code, &flow.secrets)
        .await
    {
        Ok(profile) => profile,
        Err(err) => {
            tracing::warn!(provider, "OAuth sign-in failed: {err}");
            return fail(error_name(&err));
        }
    };
    let outcome = match &flow.link_user_id {
        Some(user_id) => link(state, provider, user_id, &profile).await?,
        None => sign_in(state, req, provider, &profile).await?,
    };
    Ok(match outcome {
        Outcome::SignedIn { created: true } => flow.new_user_callback.unwrap_or(flow.callback),
        Outcome::SignedIn { created: false } | Outcome::Linked => flow.callback,
        Outcome::Banned => format!("{}/banned", settings.origins.web),
        Outcome::Refused(error) => return fail(error),
    })
}

/// The flow `state` names, taken (single use) when the browser's state cookie matches it.
async fn take_flow(state: &AppState, req: &Request, sent: Option<&str>) -> ApiResult<Option<Flow>> {
    let Some(sent) = sent.filter(|sent| !sent.is_empty()) else {
        return Ok(None);
    };
    let cookie_name = cookies::oauth_state_cookie_name(&state.settings);
    let bound = session::signed_cookie(state, req, cookie_name);
    // Digests, so the comparison takes the same time wherever the values differ.
    if bound.is_none_or(|bound| hash_token(&bound) != hash_token(sent)) {
        return Ok(None);
    }
    verifications::consume(&state.db, Purpose::OAuthState, sent).await
}

/// An `error` a provider sent (`access_denied`…), kept only when it is a plain name.
fn provider_error_name(error: &str) -> String {
    let plain = !error.is_empty()
        && error.len() <= 64
        && error
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte == b'_');
    match plain {
        true => error.to_owned(),
        false => "access_denied".to_owned(),
    }
}

fn error_name(err: &OAuthError) -> &'static str {
    match err {
        OAuthError::NotFound => "oauth_provider_not_found",
        OAuthError::InvalidCode(_) => "invalid_code",
        OAuthError::Untrusted(_) => "invalid_id_token",
        OAuthError::Unavailable(_) => "unable_to_get_user_info",
    }
}

enum Outcome {
    SignedIn { created: bool },
    Linked,
    Banned,
    Refused(&'static str),
}

async fn find_account(
    db: &impl ConnectionTrait,
    provider: &str,
    account_id: &str,
) -> ApiResult<Option<account::Model>> {
    account::Entity::find()
        .filter(account::Column::ProviderId.eq(provider))
        .filter(account::Column::AccountId.eq(account_id))
        .one(db)
        .await
        .map_err(ApiError::internal)
}

/// Signs in the user the profile belongs to, linking or creating them as the rules allow.
async fn sign_in(
    state: &AppState,
    req: &Request,
    provider: &str,
    profile: &Profile,
) -> ApiResult<Outcome> {
    let tx = db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let (user, created) = match find_account(&tx, provider, &profile.account_id).await? {
        Some(account) => {
            let user = users::find(&tx, &account.user_id)
                .await?
                .ok_or_else(|| ApiError::internal("an account without its user"))?;
            save_tokens(state, &tx, account.into_active_model(), profile).await?;
            (user, false)
        }
        None => {
            let Some(email) = profile
                .email
                .as_deref()
                .and_then(|email| EmailAddress::parse(email).ok())
            else {
                return Ok(Outcome::Refused("email_not_found"));
            };
            let (user, created) = match users::find_by_email(&tx, &email).await? {
                // Only the provider's word that it verified the address links it to a user.
                Some(_) if !profile.email_verified => {
                    return Ok(Outcome::Refused("account_not_linked"));
                }
                Some(user) if user.email_verified => (user, false),
                Some(user) => {
                    let via = format!("oauth:{provider}");
                    (
                        users::claim(&tx, req, &state.settings, user, &via).await?,
                        false,
                    )
                }
                None => {
                    let new = NewUser {
                        email: &email,
                        name: profile.name.as_deref().unwrap_or_default(),
                        image: profile.image.clone(),
                        email_verified: profile.email_verified,
                        role: DEFAULT_ROLE,
                    };
                    match users::create(&tx, new, StatusCode::CONFLICT).await {
                        Ok(user) => (user, true),
                        Err(_) => return Ok(Outcome::Refused("unable_to_create_user")),
                    }
                }
            };
            add_account(state, &tx, &user.id, provider, profile).await?;
            (user, created)
        }
    };
    if users::is_banned(&user, Utc::now()) {
        tx.rollback().await.map_err(ApiError::internal)?;
        return Ok(Outcome::Banned);
    }
    let origin = session_origin(&state.settings, req);
    let (_, token) = session::create(&tx, &user.id, origin).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    session::set_session_cookie(state, req, &token);
    Ok(Outcome::SignedIn { created })
}

/// Links the provider's account to the signed-in `user_id` (same address only, as better-auth).
async fn link(
    state: &AppState,
    provider: &str,
    user_id: &str,
    profile: &Profile,
) -> ApiResult<Outcome> {
    let tx = db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    match find_account(&tx, provider, &profile.account_id).await? {
        Some(account) if account.user_id != user_id => {
            return Ok(Outcome::Refused("account_already_linked_to_different_user"));
        }
        Some(account) => save_tokens(state, &tx, account.into_active_model(), profile).await?,
        None => {
            let user: user::Model = users::find(&tx, user_id)
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            let same_address = profile
                .email
                .as_deref()
                .and_then(|email| EmailAddress::parse(email).ok())
                .is_some_and(|email| email.as_str() == user.email);
            if !same_address {
                return Ok(Outcome::Refused("email_doesn't_match"));
            }
            add_account(state, &tx, user_id, provider, profile).await?;
        }
    }
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(Outcome::Linked)
}

async fn add_account(
    state: &AppState,
    db: &impl ConnectionTrait,
    user_id: &str,
    provider: &str,
    profile: &Profile,
) -> ApiResult<()> {
    let now = Utc::now();
    let account = account::ActiveModel {
        id: Set(new_id("acct")),
        user_id: Set(user_id.to_owned()),
        provider_id: Set(provider.to_owned()),
        account_id: Set(profile.account_id.clone()),
        created_at: Set(now),
        ..Default::default()
    };
    save_tokens(state, db, account, profile).await
}

/// Stores the provider's tokens on `account`, sealed for that account and column.
async fn save_tokens(
    state: &AppState,
    db: &impl ConnectionTrait,
    mut account: account::ActiveModel,
    profile: &Profile,
) -> ApiResult<()> {
    let id = account.id.clone().unwrap();
    let key = &state.settings.auth_secret;
    let seal = |column: &str, token: &SecretString| {
        sealed::seal(key, &format!("{column}:{id}"), token.expose_secret())
    };
    let tokens = &profile.tokens;
    account.access_token = Set(Some(seal("access_token", &tokens.access_token)));
    account.refresh_token = Set(tokens
        .refresh_token
        .as_ref()
        .map(|t| seal("refresh_token", t)));
    account.id_token = Set(tokens.id_token.as_ref().map(|t| seal("id_token", t)));
    account.access_token_expires_at = Set(tokens.access_token_expires_at);
    account.scope = Set(tokens.scope.clone());
    account.updated_at = Set(Utc::now());
    match account.id.is_unchanged() {
        true => account.update(db).await.map(drop),
        false => account.insert(db).await.map(drop),
    }
    .map_err(ApiError::internal)
}
