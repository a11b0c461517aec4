use std::time::Duration;

use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::{OpenApi, payload::Json};
use sea_orm::ColumnTrait;
use secrecy::ExposeSecret;

use super::{UserRef, bad_request, require, target};
use crate::audit::{Action, Entry};
use crate::auth::dto::{AuthSession, AuthUser, SessionWithUser};
use crate::auth::entities::session as sessions;
use crate::auth::request_meta::session_origin;
use crate::auth::session::{self, Authenticated};
use crate::auth::tokens::{hash_token, sign};
use crate::auth::{cookies, permissions};
use crate::error::{ApiError, AuthResult};
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::workspaces::events::Change;

/// An impersonation ends by itself after an hour, and never slides.
pub const IMPERSONATION_TTL: Duration = Duration::from_secs(60 * 60);

#[derive(Default)]
pub struct ImpersonationApi;

fn forbidden(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

#[OpenApi(tag = "ApiTags::Admin")]
impl ImpersonationApi {
    /// Act as another user
    ///
    /// Opens a one-hour session for the user, marked `impersonatedBy` the admin, and makes it
    /// the browser's session (until the browser closes); the admin's own session waits in
    /// `better-auth.admin_session` for `stop-impersonating`. 403 `YOU_CANNOT_IMPERSONATE_ADMINS`,
    /// and no impersonating from inside an impersonation.
    #[oai(
        path = "/v1/auth/admin/impersonate-user",
        method = "post",
        operation_id = "impersonateUser"
    )]
    async fn impersonate(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<UserRef>,
    ) -> AuthResult<Json<SessionWithUser>> {
        let caller = caller.0;
        if caller.session.impersonated_by.is_some() {
            return Err(forbidden(
                "YOU_CANNOT_IMPERSONATE_WHILE_IMPERSONATING",
                "Stop impersonating before impersonating someone else",
            )
            .into());
        }
        require(
            &caller,
            "user",
            "impersonate",
            "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS",
        )?;
        let user = target(&state.db, &body.user_id).await?;
        if user.id == caller.user.id {
            return Err(bad_request(
                "YOU_CANNOT_IMPERSONATE_YOURSELF",
                "You cannot impersonate yourself",
            )
            .into());
        }
        if permissions::is_admin(&user.role)
            && !permissions::allows(&caller.user.role, "user", "impersonate-admins")
        {
            return Err(forbidden(
                "YOU_CANNOT_IMPERSONATE_ADMINS",
                "You cannot impersonate admins",
            )
            .into());
        }
        let mut origin = session_origin(&state.settings, req);
        origin.impersonated_by = Some(caller.user.id.clone());
        let change = Change::by_caller(&state, req, &caller).await?;
        let (opened, token) =
            session::create_for(&*change, &user.id, origin, IMPERSONATION_TTL).await?;
        change
            .audit(Entry::new(Action::ImpersonationStarted, &user.id))
            .await?;
        change.commit(&state).await?;

        let settings = &state.settings;
        let secret = settings.auth_secret.expose_secret().as_bytes();
        let admin_value = sign(secret, &format!("{}:", caller.token));
        session::queue_cookie(req, cookies::set_admin_session(settings, &admin_value));
        session::queue_cookie(
            req,
            cookies::set_session(settings, &sign(secret, &token), false),
        );
        Ok(Json(SessionWithUser {
            session: AuthSession::new(&opened, Some(&token)),
            user: AuthUser::from(&user),
        }))
    }

    /// Go back to the admin's own session
    ///
    /// Ends the impersonation and restores the session kept in `better-auth.admin_session`.
    /// 400 `YOU_ARE_NOT_IMPERSONATING_ANYONE`; 400 `ADMIN_SESSION_NOT_FOUND` when that cookie
    /// is missing or its session has ended.
    #[oai(
        path = "/v1/auth/admin/stop-impersonating",
        method = "post",
        operation_id = "stopImpersonating"
    )]
    async fn stop(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
    ) -> AuthResult<Json<SessionWithUser>> {
        let caller = caller.0;
        let Some(admin_id) = caller.session.impersonated_by.clone() else {
            return Err(bad_request(
                "YOU_ARE_NOT_IMPERSONATING_ANYONE",
                "You are not impersonating anyone",
            )
            .into());
        };
        let not_found = || bad_request("ADMIN_SESSION_NOT_FOUND", "Failed to find admin session");
        let admin_token = admin_token(&state, req).ok_or_else(not_found)?;
        let (admin_session, admin) = state
            .session_lookups
            .find(hash_token(&admin_token))
            .await?
            .filter(|(found, _)| found.user_id == admin_id && found.expires_at > chrono::Utc::now())
            .ok_or_else(not_found)?;
        let change = Change::by_caller(&state, req, &caller).await?;
        session::revoke_where(&*change, sessions::Column::Id.eq(&caller.session.id)).await?;
        change
            .audit(Entry::new(Action::ImpersonationStopped, &caller.user.id))
            .await?;
        change.commit(&state).await?;

        let settings = &state.settings;
        session::set_session_cookie(&state, req, &admin_token);
        session::queue_cookie(req, cookies::clear_admin_session(settings));
        Ok(Json(SessionWithUser {
            session: AuthSession::new(&admin_session, Some(&admin_token)),
            user: AuthUser::from(&admin),
        }))
    }
}

/// The admin's session token kept aside in the signed `admin_session` cookie.
fn admin_token(state: &AppState, req: &Request) -> Option<String> {
    let value = session::signed_cookie(state, req, cookies::admin_cookie_name(&state.settings))?;
    let (token, _dont_remember) = value.split_once(':')?;
    Some(token.to_owned())
}
