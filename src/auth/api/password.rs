use std::time::Duration;

use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{Object, OpenApi, payload::Json};
use sea_orm::{ColumnTrait, ConnectionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Action, Actor, Entry};
use crate::auth::address::EmailAddress;
use crate::auth::address_mail::{self, AddressMail};
use crate::auth::dto::{AuthUser, Status};
use crate::auth::entities::{session as sessions, user};
use crate::auth::links::{Redirect, api_link, with_query};
use crate::auth::origin::{check_callbacks, resolve_callback};
use crate::auth::password::{NewPassword, Password};
use crate::auth::request_meta::session_origin;
use crate::auth::session::{self, Authenticated, CurrentSession};
use crate::auth::verifications::{self, Purpose};
use crate::auth::{credentials, emails, password, throttle, users};
use crate::error::{ApiError, ApiResult, AuthResult};
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;

const RESET_TTL: Duration = Duration::from_secs(60 * 60);

#[derive(Default)]
pub struct PasswordApi;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct ResetRequest {
    email: EmailAddress,
    /// Where the mailed link sends the browser, with `?token=…`: the web app's
    /// "choose a new password" page. Relative, or on a trusted origin.
    #[oai(nullable)]
    redirect_to: Option<Text<2048>>,
}

#[derive(Debug, Object)]
struct ResetRequested {
    status: bool,
    message: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct ResetWithToken {
    new_password: NewPassword,
    /// The token from the reset link (or in the `token` query parameter).
    #[oai(nullable)]
    token: Option<Text<128>>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct ChangePassword {
    new_password: NewPassword,
    current_password: Password,
    /// End every other session (this one is replaced by a new one, returned as `token`).
    #[oai(nullable)]
    revoke_other_sessions: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(nullable_all)]
struct PasswordChanged {
    /// The new session's token when other sessions were revoked, else `null`.
    token: Option<String>,
    user: AuthUser,
}

#[derive(Debug, Object)]
struct PasswordCheck {
    password: Password,
}

/// What a reset link grants.
#[derive(Debug, Serialize, Deserialize)]
struct ResetGrant {
    user_id: String,
    /// The password the account had when the link was sent: any change since kills the link.
    password_stamp: String,
}

impl ResetGrant {
    /// Whether the account's password is still the one the link was sent for.
    async fn is_current(&self, db: &impl ConnectionTrait) -> ApiResult<bool> {
        Ok(credentials::password_stamp(db, &self.user_id).await? == self.password_stamp)
    }
}

fn bad_request(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

fn invalid_password() -> ApiError {
    bad_request("INVALID_PASSWORD", "Invalid password")
}

#[OpenApi(tag = "ApiTags::Auth")]
impl PasswordApi {
    /// Mail a password-reset link
    ///
    /// Always the same answer, whether or not the address has an account, and in the same
    /// time: a job looks the account up and mails it. Rate-limited per IP and per address.
    #[oai(
        path = "/v1/auth/request-password-reset",
        method = "post",
        operation_id = "requestPasswordReset"
    )]
    async fn request_reset(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<ResetRequest>,
    ) -> AuthResult<Json<ResetRequested>> {
        let email = &body.email;
        check_callbacks(&state.settings, [body.redirect_to.as_deref()])?;
        throttle::check(&state, req, throttle::MAIL, email).await?;
        let mail = AddressMail::PasswordReset {
            email: email.as_str().to_owned(),
            redirect_to: body.0.redirect_to.map(Text::into_string),
        };
        address_mail::enqueue(&state, &mail).await?;
        Ok(Json(ResetRequested {
            status: true,
            message: "If this email exists in our system, check your email for the reset link"
                .to_owned(),
        }))
    }

    /// Land from a reset link
    ///
    /// Redirects to `callbackURL` with `?token=…` for the "choose a new password" form, or
    /// with `?error=INVALID_TOKEN`. Does not use the token up.
    #[oai(
        path = "/v1/auth/reset-password/:token",
        method = "get",
        operation_id = "requestPasswordResetCallback"
    )]
    async fn reset_link(
        &self,
        state: Data<&AppState>,
        #[oai(validator(max_length = 128))] token: Path<String>,
        #[oai(name = "callbackURL", validator(max_length = 2048))] callback_url: Query<String>,
    ) -> AuthResult<Redirect> {
        let callback_url = String::from(resolve_callback(&state.settings, &callback_url)?);
        let grant = verifications::peek::<ResetGrant>(&state.db, Purpose::ResetPassword, &token);
        let live = match grant.await? {
            Some(grant) => grant.is_current(&state.db).await?,
            None => false,
        };
        let target = match live {
            true => with_query(&callback_url, "token", &token),
            false => with_query(&callback_url, "error", "INVALID_TOKEN"),
        };
        Ok(Redirect::Found(target))
    }

    /// Set a new password with a reset token
    ///
    /// Single use. Signs the account out everywhere and marks its address verified (the
    /// link proved it). 400 `INVALID_TOKEN`, `PASSWORD_TOO_SHORT`, `PASSWORD_TOO_LONG`.
    #[oai(
        path = "/v1/auth/reset-password",
        method = "post",
        operation_id = "resetPassword"
    )]
    async fn reset(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(name = "token", validator(max_length = 128))] query_token: Query<Option<String>>,
        body: Json<ResetWithToken>,
    ) -> AuthResult<Json<Status>> {
        let chosen = body.new_password.checked()?;
        let invalid = || bad_request("INVALID_TOKEN", "Invalid token");
        let token = body
            .token
            .as_ref()
            .map(Text::as_str)
            .or(query_token.0.as_deref())
            .ok_or_else(invalid)?;
        let hash = password::hash(chosen).await?;

        let txn = crate::db::begin_write(&state.db)
            .await
            .map_err(ApiError::internal)?;
        let grant = verifications::consume::<ResetGrant>(&txn, Purpose::ResetPassword, token);
        let grant = grant.await?.ok_or_else(invalid)?;
        if !grant.is_current(&txn).await? {
            return Err(invalid().into());
        }
        let user = users::find(&txn, &grant.user_id)
            .await?
            .ok_or_else(invalid)?;
        credentials::set_hash(&txn, &user.id, hash).await?;
        session::revoke_where(&txn, sessions::Column::UserId.eq(&user.id)).await?;
        let actor = Actor::user(&state.settings, req, &user.id);
        audit::record(&txn, &actor, Entry::new(Action::PasswordReset, &user.id)).await?;
        if !user.email_verified {
            users::mark_verified(&txn, user).await?;
        }
        txn.commit().await.map_err(ApiError::internal)?;
        Ok(Json(Status { status: true }))
    }

    /// Change the password
    ///
    /// Needs the current one (400 `INVALID_PASSWORD`; 400 `CREDENTIAL_ACCOUNT_NOT_FOUND`
    /// for an account without a password). With `revokeOtherSessions`, every other session
    /// ends and this one is replaced (new `token` and cookie).
    #[oai(
        path = "/v1/auth/change-password",
        method = "post",
        operation_id = "changePassword"
    )]
    async fn change(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<ChangePassword>,
    ) -> AuthResult<Json<PasswordChanged>> {
        let current = caller.0;
        let chosen = body.new_password.checked()?;
        check_current_password(&state, req, &current, &body.current_password).await?;
        let hash = password::hash(chosen).await?;

        let txn = crate::db::begin_write(&state.db)
            .await
            .map_err(ApiError::internal)?;
        credentials::set_hash(&txn, &current.user.id, hash).await?;
        let token = match body.revoke_other_sessions {
            Some(true) => {
                session::revoke_where(&txn, sessions::Column::UserId.eq(&current.user.id)).await?;
                let origin = session_origin(&state.settings, req);
                Some(session::create(&txn, &current.user.id, origin).await?.1)
            }
            _ => None,
        };
        let actor = Actor::caller(&state.settings, req, &current);
        let data = json!({"otherSessionsRevoked": token.is_some()});
        let entry = Entry::new(Action::PasswordChanged, &current.user.id).with(data);
        audit::record(&txn, &actor, entry).await?;
        txn.commit().await.map_err(ApiError::internal)?;
        if let Some(token) = &token {
            session::set_session_cookie(&state, req, token);
        }
        Ok(Json(PasswordChanged {
            token,
            user: AuthUser::from(&current.user),
        }))
    }

    /// Check the caller's password
    ///
    /// For confirming a sensitive action. 400 `INVALID_PASSWORD` when it does not match.
    #[oai(
        path = "/v1/auth/verify-password",
        method = "post",
        operation_id = "verifyPassword"
    )]
    async fn verify(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<PasswordCheck>,
    ) -> AuthResult<Json<Status>> {
        let current = caller.0;
        throttle_password_check(&state, req, &current.user).await?;
        match credentials::matches(&state.db, &current.user.id, &body.password).await? {
            true => Ok(Json(Status { status: true })),
            false => Err(invalid_password().into()),
        }
    }
}

/// Mails a reset link to the account of `email`, if there is one.
pub(crate) async fn mail_reset_link(
    state: &AppState,
    email: &EmailAddress,
    redirect_to: Option<&str>,
) -> ApiResult<()> {
    let Some(user) = users::find_by_email(&state.db, email).await? else {
        return Ok(());
    };
    let grant = ResetGrant {
        user_id: user.id.clone(),
        password_stamp: credentials::password_stamp(&state.db, &user.id).await?,
    };
    emails::mail_token(state, Purpose::ResetPassword, &grant, RESET_TTL, |token| {
        let link = api_link(
            &state.settings,
            &format!("/v1/auth/reset-password/{token}"),
            &[("callbackURL", redirect_to.unwrap_or("/"))],
        );
        emails::reset_password(&user.email, &link)
    })
    .await
}

async fn throttle_password_check(
    state: &AppState,
    req: &Request,
    user: &user::Model,
) -> ApiResult<()> {
    let email = EmailAddress::parse(&user.email)?;
    throttle::check(state, req, throttle::PASSWORD_CHECK, &email).await
}

/// The caller's current password, checked (rate-limited like sign-in).
pub async fn check_current_password(
    state: &AppState,
    req: &Request,
    current: &CurrentSession,
    password: &Password,
) -> ApiResult<()> {
    throttle_password_check(state, req, &current.user).await?;
    let Some(stored) = credentials::stored_hash(&state.db, &current.user.id).await? else {
        return Err(bad_request(
            "CREDENTIAL_ACCOUNT_NOT_FOUND",
            "Credential account not found",
        ));
    };
    match password::verify(password.expose(), Some(stored)).await? {
        true => Ok(()),
        false => Err(invalid_password()),
    }
}
