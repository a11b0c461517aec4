use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi, payload::Json};
use serde::{Deserialize, Serialize};

use crate::auth::address::EmailAddress;
use crate::auth::dev_links;
use crate::auth::dto::Status;
use crate::auth::links::{Redirect, api_link, with_query};
use crate::auth::origin::{check_callbacks, resolve_callback, resolve_optional_callback};
use crate::auth::request_meta::session_origin;
use crate::auth::verifications::{self, Purpose};
use crate::auth::{emails, session, throttle, users};
use crate::db;
use crate::error::{ApiError, AuthResult};
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;

#[derive(Default)]
pub struct MagicLinkApi;

#[derive(Debug, Object)]
struct MagicLinkRequest {
    email: EmailAddress,
    /// Where the link lands once signed in: relative, or on a trusted origin.
    #[oai(nullable, rename = "callbackURL")]
    callback_url: Option<Text<2048>>,
    /// Where a first sign-in lands instead, when given.
    #[oai(nullable, rename = "newUserCallbackURL")]
    new_user_callback_url: Option<Text<2048>>,
    /// Where a bad or expired link lands (default: `callbackURL`), with `?error=…`.
    #[oai(nullable, rename = "errorCallbackURL")]
    error_callback_url: Option<Text<2048>>,
    /// The name a new user starts with.
    #[oai(nullable)]
    name: Option<Text<128>>,
}

/// What the mailed token grants, stored with it.
#[derive(Debug, Serialize, Deserialize)]
struct Grant {
    email: String,
    name: Option<String>,
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
        let email = body.email.clone();
        check_callbacks(
            &state.settings,
            [
                body.callback_url.as_deref(),
                body.new_user_callback_url.as_deref(),
                body.error_callback_url.as_deref(),
            ],
        )?;
        throttle::check(&state, req, throttle::MAGIC_LINK, &email).await?;

        let grant = Grant {
            email: email.as_str().to_owned(),
            name: body.name.clone().map(Text::into_string),
        };
        let ttl = state.settings.auth.magic_link_ttl;
        let tx = db::begin_write(&state.db)
            .await
            .map_err(ApiError::internal)?;
        let token = verifications::issue(&tx, Purpose::MagicLink, &grant, ttl).await?;
        let link = verify_link(&state, &token, &body);
        let mail = emails::magic_link(email.as_str(), &link, ttl.as_secs() / 60);
        emails::enqueue(&state, &tx, &mail).await?;
        if state.keeps_dev_links {
            dev_links::record(&tx, email.as_str(), &link).await?;
        }
        tx.commit().await.map_err(ApiError::internal)?;
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
        let settings = &state.settings;
        let callback = String::from(resolve_callback(
            settings,
            callback_url.0.as_deref().unwrap_or("/"),
        )?);
        let new_user_callback =
            resolve_optional_callback(settings, new_user_callback_url.0.as_deref())?;
        let error_target = resolve_optional_callback(settings, error_callback_url.0.as_deref())?
            .unwrap_or_else(|| callback.clone());
        let grant = verifications::consume::<Grant>(&state.db, Purpose::MagicLink, &token.0);
        let Some(grant) = grant.await? else {
            return Ok(Redirect::Found(with_query(
                &error_target,
                "error",
                "INVALID_TOKEN",
            )));
        };
        let email = EmailAddress::parse(&grant.email)?;

        let txn = crate::db::begin_write(&state.db)
            .await
            .map_err(ApiError::internal)?;
        let (user, created) =
            users::sign_in_by_email(&txn, req, settings, &email, grant.name.as_deref()).await?;
        if users::is_banned(&user, chrono::Utc::now()) {
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
        let target = match (created, new_user_callback) {
            (true, Some(new_user)) => new_user,
            _ => callback,
        };
        Ok(Redirect::Found(target))
    }
}

fn verify_link(state: &AppState, token: &str, body: &MagicLinkRequest) -> String {
    let callback = body.callback_url.as_deref().unwrap_or("/");
    let mut query = vec![("token", token), ("callbackURL", callback)];
    if let Some(url) = &body.new_user_callback_url {
        query.push(("newUserCallbackURL", url));
    }
    if let Some(url) = &body.error_callback_url {
        query.push(("errorCallbackURL", url));
    }
    api_link(&state.settings, "/v1/auth/magic-link/verify", &query)
}
