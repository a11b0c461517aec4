use chrono::Utc;
use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde::{Deserialize, Serialize};

use crate::auth::address::EmailAddress;
use crate::auth::dto::Status;
use crate::auth::entities::verification;
use crate::auth::origin::check_callback;
use crate::auth::request_meta::{client_ip, session_origin};
use crate::auth::tokens::{hash_token, random_token};
use crate::auth::{emails, session, users};
use crate::error::{ApiError, AuthResult};
use crate::ids::new_id;
use crate::openapi::ApiTags;
use crate::rate_limit::Limit;
use crate::state::AppState;

const PURPOSE: &str = "magic-link";
const PER_IP: Limit = Limit {
    hits: 20,
    window: std::time::Duration::from_secs(60),
};
const PER_EMAIL: Limit = Limit {
    hits: 5,
    window: std::time::Duration::from_secs(600),
};

pub struct MagicLinkApi;

#[derive(Debug, Object)]
struct MagicLinkRequest {
    #[oai(validator(
        max_length = 254,
        pattern = r"^[^@\x00-\x20]+@[^@.\x00-\x20]+(\.[^@.\x00-\x20]+)+$"
    ))]
    email: String,
    /// Where the link lands once signed in: relative, or on a trusted origin.
    #[oai(rename = "callbackURL", validator(max_length = 2048))]
    callback_url: Option<String>,
    /// Where a first sign-in lands instead, when given.
    #[oai(rename = "newUserCallbackURL", validator(max_length = 2048))]
    new_user_callback_url: Option<String>,
    /// Where a bad or expired link lands (default: `callbackURL`), with `?error=…`.
    #[oai(rename = "errorCallbackURL", validator(max_length = 2048))]
    error_callback_url: Option<String>,
    /// The name a new user starts with.
    #[oai(validator(max_length = 128))]
    name: Option<String>,
}

/// What the mailed token grants, stored with it.
#[derive(Debug, Serialize, Deserialize)]
struct Grant {
    email: String,
    name: Option<String>,
}

#[derive(ApiResponse)]
enum Redirect {
    /// Signed in (the session cookie is set), or sent back with `?error=INVALID_TOKEN`.
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String),
}

#[OpenApi(tag = "ApiTags::Auth")]
impl MagicLinkApi {
    /// Mail a sign-in link
    ///
    /// Always `{"status":true}` for a well-formed address, whether or not it has an account.
    /// Rate-limited per IP and per address (429 with `Retry-After`).
    #[oai(
        path = "/v1/auth/sign-in/magic-link",
        method = "post",
        operation_id = "signInMagicLink"
    )]
    async fn sign_in(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<MagicLinkRequest>,
    ) -> AuthResult<Json<Status>> {
        let email = EmailAddress::parse(&body.email)?;
        for url in [
            &body.callback_url,
            &body.new_user_callback_url,
            &body.error_callback_url,
        ]
        .into_iter()
        .flatten()
        {
            check_callback(&state.settings, url)?;
        }
        limit(&state, req, &email).await?;

        let token = random_token();
        let grant = Grant {
            email: email.as_str().to_owned(),
            name: body.name.clone(),
        };
        let now = Utc::now();
        let ttl = state.settings.auth.magic_link_ttl;
        verification::ActiveModel {
            id: Set(new_id("ver")),
            purpose: Set(PURPOSE.to_owned()),
            token_hash: Set(hash_token(&token)),
            payload: Set(serde_json::to_string(&grant).map_err(ApiError::internal)?),
            expires_at: Set(now + chrono::Duration::from_std(ttl).map_err(ApiError::internal)?),
            created_at: Set(now),
        }
        .insert(&state.db)
        .await
        .map_err(ApiError::internal)?;

        let link = verify_link(&state, &token, &body);
        let mail = emails::magic_link(email.as_str(), &link, ttl.as_secs() / 60);
        state.capabilities.mailer.send(mail).await.map_err(|err| {
            tracing::error!(error = %err, "magic link not sent");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "EMAIL_SEND_FAILED",
                "The sign-in email could not be sent; try again shortly",
            )
        })?;
        if let Some(dev_links) = &state.dev_links {
            dev_links.record(email.as_str(), link);
        }
        Ok(Json(Status { status: true }))
    }

    /// Sign in from a mailed link
    ///
    /// Single use. Creates the user on first sign-in, sets the session cookie and redirects to
    /// `callbackURL`; a bad, used or expired token redirects with `?error=INVALID_TOKEN`, a
    /// banned user to `${WEB_ORIGIN}/banned`.
    #[oai(
        path = "/v1/auth/magic-link/verify",
        method = "get",
        operation_id = "magicLinkVerify"
    )]
    async fn verify(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(validator(max_length = 128))] token: Query<String>,
        #[oai(name = "callbackURL", validator(max_length = 2048))] callback_url: Query<
            Option<String>,
        >,
        #[oai(name = "newUserCallbackURL", validator(max_length = 2048))]
        new_user_callback_url: Query<Option<String>>,
        #[oai(name = "errorCallbackURL", validator(max_length = 2048))] error_callback_url: Query<
            Option<String>,
        >,
    ) -> AuthResult<Redirect> {
        let callback = callback_url.0.unwrap_or_else(|| "/".to_owned());
        for url in [
            Some(&callback),
            new_user_callback_url.0.as_ref(),
            error_callback_url.0.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            check_callback(&state.settings, url)?;
        }
        let error_target = error_callback_url.0.as_deref().unwrap_or(&callback);
        let Some(grant) = consume(&state, &token.0).await? else {
            return Ok(Redirect::Found(with_error(error_target, "INVALID_TOKEN")));
        };
        let email = EmailAddress::parse(&grant.email)?;

        let txn = state.db.begin().await.map_err(ApiError::internal)?;
        let (user, created) = users::sign_in_by_email(&txn, &email, grant.name.as_deref()).await?;
        if user.banned {
            txn.rollback().await.map_err(ApiError::internal)?;
            return Ok(Redirect::Found(format!(
                "{}/banned",
                state.settings.origins.web
            )));
        }
        let origin = session_origin(&state.settings, req);
        let (_, session_token) = session::create(&txn, &user.id, origin).await?;
        txn.commit().await.map_err(ApiError::internal)?;

        session::set_session_cookie(&state, req, &session_token);
        let target = match (created, new_user_callback_url.0) {
            (true, Some(new_user)) => new_user,
            _ => callback,
        };
        Ok(Redirect::Found(target))
    }
}

async fn limit(state: &AppState, req: &Request, email: &EmailAddress) -> Result<(), ApiError> {
    let ip = client_ip(&state.settings, req).unwrap_or_default();
    for (key, limit) in [
        (format!("magic-link:ip:{ip}"), PER_IP),
        (format!("magic-link:email:{}", email.as_str()), PER_EMAIL),
    ] {
        if let Err(retry_after) = state.rate_limiter.hit(&key, limit).await {
            return Err(ApiError::too_many_requests(retry_after.as_secs()));
        }
    }
    Ok(())
}

fn verify_link(state: &AppState, token: &str, body: &MagicLinkRequest) -> String {
    let mut link = url::Url::parse(&state.settings.origins.api)
        .and_then(|api| api.join("/v1/auth/magic-link/verify"))
        .expect("API_ORIGIN was validated at boot");
    {
        let mut query = link.query_pairs_mut();
        query.append_pair("token", token);
        query.append_pair("callbackURL", body.callback_url.as_deref().unwrap_or("/"));
        if let Some(url) = &body.new_user_callback_url {
            query.append_pair("newUserCallbackURL", url);
        }
        if let Some(url) = &body.error_callback_url {
            query.append_pair("errorCallbackURL", url);
        }
    }
    link.to_string()
}

/// Takes the token out of the store: at most one request ever gets its grant.
async fn consume(state: &AppState, token: &str) -> Result<Option<Grant>, ApiError> {
    let found = verification::Entity::find()
        .filter(verification::Column::TokenHash.eq(hash_token(token)))
        .filter(verification::Column::Purpose.eq(PURPOSE))
        .one(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let Some(found) = found else {
        return Ok(None);
    };
    let deleted = verification::Entity::delete_by_id(found.id.clone())
        .exec(&state.db)
        .await
        .map_err(ApiError::internal)?;
    if deleted.rows_affected == 0 || found.expires_at <= Utc::now() {
        return Ok(None);
    }
    serde_json::from_str(&found.payload)
        .map(Some)
        .map_err(ApiError::internal)
}

fn with_error(target: &str, code: &str) -> String {
    let separator = if target.contains('?') { '&' } else { '?' };
    format!("{target}{separator}error={code}")
}
