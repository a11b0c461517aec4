use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use sea_orm::Set;
use serde_json::json;

use crate::audit::{self, Action, Actor, Entry};
use crate::auth::address::EmailAddress;
use crate::auth::address_mail::{self, AddressMail};
use crate::auth::cookies::SESSION_TTL;
use crate::auth::dto::{AuthUser, Status};
use crate::auth::email_verification::{self, Grant};
use crate::auth::links::with_query;
use crate::auth::origin::{check_callbacks, resolve_optional_callback};
use crate::auth::password::{NewPassword, Password};
use crate::auth::request_meta::session_origin;
use crate::auth::session::{self, MaybeAuthenticated};
use crate::auth::verifications::{self, Purpose};
use crate::auth::{credentials, password, throttle, users};
use crate::error::{ApiError, AuthResult};
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;

#[derive(Default)]
pub struct EmailPasswordApi;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct SignUpRequest {
    name: Text<128>,
    email: EmailAddress,
    password: NewPassword,
    #[oai(nullable)]
    image: Option<Text<2048>>,
    /// Where the verification link lands: relative, or on a trusted origin.
    #[oai(nullable, rename = "callbackURL")]
    callback_url: Option<Text<2048>>,
    /// `false`: the session ends with the browser (and within a day). Default `true`.
    #[oai(nullable)]
    remember_me: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(nullable_all)]
struct SignedUp {
    /// The new session's token (also set as the session cookie).
    token: Option<String>,
    user: AuthUser,
}

#[derive(Debug, Object)]
struct SignInRequest {
    email: EmailAddress,
    password: Password,
    /// Echoed back as `url` for the client to navigate to.
    #[oai(nullable, rename = "callbackURL")]
    callback_url: Option<Text<2048>>,
    /// `false`: the session ends with the browser (and within a day). Default `true`.
    #[oai(nullable, rename = "rememberMe")]
    remember_me: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(nullable_all)]
struct SignedIn {
    redirect: bool,
    token: String,
    url: Option<String>,
    user: AuthUser,
}

#[derive(Debug, Object)]
struct SendVerificationRequest {
    email: EmailAddress,
    #[oai(nullable, rename = "callbackURL")]
    callback_url: Option<Text<2048>>,
}

#[derive(Debug, Object)]
#[oai(nullable_all)]
struct EmailVerified {
    status: bool,
    /// The user after an address change; `null` for a plain verification.
    user: Option<Box<AuthUser>>,
}

#[derive(ApiResponse)]
enum VerifyEmailResponse {
    /// Verified (no `callbackURL` given).
    #[oai(status = 200)]
    Verified(Json<EmailVerified>),
    /// Sent on to `callbackURL`, with `?error=INVALID_TOKEN|USER_NOT_FOUND|USER_ALREADY_EXISTS`
    /// when the link did not work.
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String),
}

fn ttl(remember: bool) -> std::time::Duration {
    match remember {
        true => SESSION_TTL,
        false => session::DONT_REMEMBER_TTL,
    }
}

fn disabled(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

#[OpenApi(tag = "ApiTags::Auth")]
impl EmailPasswordApi {
    /// Create an account with a password
    ///
    /// Signs the new user in (session cookie and `token`) and mails them a link to verify
    /// their address. 422 `USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL` when the address is taken;
    /// 400 `EMAIL_PASSWORD_SIGN_UP_DISABLED` when `AUTH_EMAIL_PASSWORD=false`.
    #[oai(
        path = "/v1/auth/sign-up/email",
        method = "post",
        operation_id = "signUpEmail"
    )]
    async fn sign_up(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<SignUpRequest>,
    ) -> AuthResult<Json<SignedUp>> {
        if !state.settings.auth.email_password {
            return Err(disabled(
                "EMAIL_PASSWORD_SIGN_UP_DISABLED",
                "Email and password sign up is not enabled",
            )
            .into());
        }
        let email = &body.email;
        check_callbacks(&state.settings, [body.callback_url.as_deref()])?;
        let chosen = body.password.checked()?;
        throttle::check(&state, req, throttle::SIGN_UP, email).await?;
        let taken = StatusCode::UNPROCESSABLE_ENTITY;
        if users::find_by_email(&state.db, email).await?.is_some() {
            return Err(users::already_exists(taken).into());
        }
        let hash = password::hash(chosen).await?;

        let txn = crate::db::begin_write(&state.db)
            .await
            .map_err(ApiError::internal)?;
        let new = users::NewUser {
            email,
            name: body.name.trim(),
            image: body.image.clone().map(Text::into_string),
            email_verified: false,
            role: users::DEFAULT_ROLE,
        };
        let user = users::create(&txn, new, taken).await?;
        credentials::set_hash(&txn, &user.id, hash).await?;
        let remember = body.remember_me != Some(false);
        let origin = session_origin(&state.settings, req);
        let (_, token) = session::create_for(&txn, &user.id, origin, ttl(remember)).await?;
        txn.commit().await.map_err(ApiError::internal)?;

        // The account exists either way; a mail that fails can be asked for again.
        let sent =
            email_verification::send_verification(&state, &user, body.callback_url.as_deref());
        if let Err(err) = sent.await {
            tracing::warn!(code = err.code(), "sign-up verification email not sent");
        }
        session::set_sign_in_cookies(&state, req, &token, remember);
        Ok(Json(SignedUp {
            token: Some(token),
            user: AuthUser::from(&user),
        }))
    }

    /// Sign in with email and password
    ///
    /// 401 `INVALID_EMAIL_OR_PASSWORD` for any wrong combination (unknown address included,
    /// in the same time); 403 `BANNED_USER`. Rate-limited per IP and per address.
    #[oai(
        path = "/v1/auth/sign-in/email",
        method = "post",
        operation_id = "signInEmail"
    )]
    async fn sign_in(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<SignInRequest>,
    ) -> AuthResult<Json<SignedIn>> {
        if !state.settings.auth.email_password {
            return Err(disabled(
                "EMAIL_PASSWORD_DISABLED",
                "Email and password is not enabled",
            )
            .into());
        }
        let email = &body.email;
        check_callbacks(&state.settings, [body.callback_url.as_deref()])?;
        throttle::check(&state, req, throttle::SIGN_IN, email).await?;
        let user = users::find_by_email(&state.db, email).await?;
        let stored = match &user {
            Some(user) => credentials::stored_hash(&state.db, &user.id).await?,
            None => None,
        };
        let valid = password::verify(body.password.expose(), stored).await?;
        let Some(user) = user.filter(|_| valid) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_EMAIL_OR_PASSWORD",
                "Invalid email or password",
            )
            .into());
        };
        if users::is_banned(&user, chrono::Utc::now()) {
            return Err(users::banned().into());
        }
        let remember = body.remember_me != Some(false);
        let origin = session_origin(&state.settings, req);
        let (_, token) = session::create_for(&state.db, &user.id, origin, ttl(remember)).await?;
        session::set_sign_in_cookies(&state, req, &token, remember);
        Ok(Json(SignedIn {
            redirect: body.callback_url.is_some(),
            token,
            url: body.callback_url.clone().map(Text::into_string),
            user: AuthUser::from(&user),
        }))
    }

    /// Mail a link that verifies an address
    ///
    /// Always `{"status":true}` for a signed-out caller, in the same time whether or not the
    /// address has an unverified account (a job looks it up and mails it). Signed in:
    /// 400 `EMAIL_MISMATCH` for another address, 400 `EMAIL_ALREADY_VERIFIED`.
    #[oai(
        path = "/v1/auth/send-verification-email",
        method = "post",
        operation_id = "sendVerificationEmail"
    )]
    async fn send_verification_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: MaybeAuthenticated,
        body: Json<SendVerificationRequest>,
    ) -> AuthResult<Json<Status>> {
        let email = &body.email;
        check_callbacks(&state.settings, [body.callback_url.as_deref()])?;
        throttle::check(&state, req, throttle::MAIL, email).await?;
        let user = match caller.0 {
            Some(current) if current.user.email != email.as_str() => {
                return Err(disabled("EMAIL_MISMATCH", "Email mismatch").into());
            }
            Some(current) if current.user.email_verified => {
                return Err(disabled("EMAIL_ALREADY_VERIFIED", "Email is already verified").into());
            }
            Some(current) => current.user,
            None => {
                let mail = AddressMail::Verification {
                    email: email.as_str().to_owned(),
                    callback: body.0.callback_url.map(Text::into_string),
                };
                address_mail::enqueue(&state, &mail).await?;
                return Ok(Json(Status { status: true }));
            }
        };
        email_verification::send_verification(&state, &user, body.callback_url.as_deref()).await?;
        Ok(Json(Status { status: true }))
    }

    /// Verify an address from a mailed link
    ///
    /// Single use. Marks the address verified, or moves the account to the new address of an
    /// email change, then redirects to `callbackURL` (or answers JSON without one). A bad,
    /// used or expired link redirects with `?error=INVALID_TOKEN` (401 JSON without one).
    #[oai(
        path = "/v1/auth/verify-email",
        method = "get",
        operation_id = "verifyEmail"
    )]
    async fn verify_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(validator(max_length = 128))] token: Query<String>,
        #[oai(name = "callbackURL", validator(max_length = 2048))] callback_url: Query<
            Option<String>,
        >,
    ) -> AuthResult<VerifyEmailResponse> {
        let callback = resolve_optional_callback(&state.settings, callback_url.0.as_deref())?;
        let outcome = apply(&state, req, &token.0).await?;
        match (outcome, callback) {
            (Ok(_), Some(callback)) => Ok(VerifyEmailResponse::Found(callback)),
            (Ok(user), None) => Ok(VerifyEmailResponse::Verified(Json(EmailVerified {
                status: true,
                user,
            }))),
            (Err(code), Some(callback)) => Ok(VerifyEmailResponse::Found(with_query(
                &callback, "error", code,
            ))),
            (Err(code), None) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                code,
                "The link is invalid or has expired",
            )
            .into()),
        }
    }
}

/// Uses a verification token: `Ok(Some(user))` after an address change, `Ok(None)` after a
/// plain verification, `Err(code)` when the link does not work.
async fn apply(
    state: &AppState,
    req: &Request,
    token: &str,
) -> Result<Result<Option<Box<AuthUser>>, &'static str>, ApiError> {
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let Some(grant) = verifications::consume::<Grant>(&txn, Purpose::VerifyEmail, token).await?
    else {
        return Ok(Err("INVALID_TOKEN"));
    };
    let user = users::find(&txn, &grant.user_id).await?;
    // A link for an address the account no longer has proves nothing.
    let Some(user) = user.filter(|user| user.email == grant.email) else {
        return Ok(Err("USER_NOT_FOUND"));
    };
    let outcome = match grant.new_email {
        None => {
            users::mark_verified(&txn, user).await?;
            None
        }
        Some(new_email) => {
            let new_email = EmailAddress::parse(&new_email)?;
            if users::find_by_email(&txn, &new_email).await?.is_some() {
                return Ok(Err("USER_ALREADY_EXISTS"));
            }
            let previous = user.email.clone();
            let mut active: crate::auth::entities::user::ActiveModel = user.into();
            active.email = Set(new_email.as_str().to_owned());
            active.email_verified = Set(true);
            active.updated_at = Set(chrono::Utc::now());
            let user = users::save(&txn, active, StatusCode::BAD_REQUEST).await?;
            let actor = Actor::user(&state.settings, req, &user.id);
            let data = json!({"previous": previous, "current": user.email});
            let entry = Entry::new(Action::EmailChanged, &user.id).with(data);
            audit::record(&txn, &actor, entry).await?;
            Some(Box::new(AuthUser::from(&user)))
        }
    };
    txn.commit().await.map_err(ApiError::internal)?;
    Ok(Ok(outcome))
}
