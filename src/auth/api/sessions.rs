use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi, payload::Json};
use sea_orm::{ColumnTrait, Condition};
use serde_json::json;

use crate::audit::{Action, Entry};
use crate::auth::dto::{AuthSession, AuthUser, SessionWithUser, Status, Success};
use crate::auth::entities::session as sessions;
use crate::auth::session::{self, Authenticated, CurrentSession, MaybeAuthenticated};
use crate::auth::tokens::hash_token;
use crate::error::{ApiResult, AuthResult};
use crate::http::nullable::Nullable;
use crate::http::pagination::{PageRequest, Paged};
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::workspaces::events::Change;

#[derive(Default)]
pub struct SessionsApi;

#[derive(Debug, Object)]
struct RevokeSessionRequest {
    /// A session's `token` as `list-sessions` shows it (its id), or a raw session token.
    token: Text<256>,
}

#[OpenApi(tag = "ApiTags::Auth")]
impl SessionsApi {
    /// The current session
    ///
    /// `null` when signed out. Answers GET and POST, like better-auth.
    #[oai(path = "/v1/auth/get-session", method = "get", method = "post")]
    async fn get_session(
        &self,
        caller: MaybeAuthenticated,
    ) -> AuthResult<Json<Nullable<SessionWithUser>>> {
        Ok(Json(Nullable(caller.0.map(|current| SessionWithUser {
            session: AuthSession::new(&current.session, Some(&current.token)),
            user: AuthUser::from(&current.user),
        }))))
    }

    /// Sign out
    ///
    /// Ends the current session (if any) and clears the auth cookies.
    #[oai(path = "/v1/auth/sign-out", method = "post", operation_id = "signOut")]
    async fn sign_out(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: MaybeAuthenticated,
    ) -> AuthResult<Json<Success>> {
        if let Some(current) = caller.0 {
            session::revoke_where(&state.db, sessions::Column::Id.eq(current.session.id)).await?;
        }
        session::clear_session_cookies(&state, req);
        Ok(Json(Success { success: true }))
    }

    /// The caller's active sessions, oldest first
    ///
    /// A bare array (as better-auth answers) of at most `limit` sessions (1–200, default
    /// 200); when more follow, the `X-Next-Cursor` header holds the `cursor` of the next page.
    #[oai(
        path = "/v1/auth/list-sessions",
        method = "get",
        operation_id = "listSessions"
    )]
    async fn list_sessions(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u64>>,
        #[oai(validator(max_length = 512))] cursor: Query<Option<String>>,
    ) -> AuthResult<Paged<Json<Vec<AuthSession>>>> {
        let page = PageRequest::whole(limit.0, cursor.0.as_deref())?;
        let current = caller.0;
        // An admin's impersonation is not one of the user's own sessions.
        let (rows, next_cursor) =
            session::live_page(&state.db, &current.user.id, true, &page).await?;
        let items = rows
            .iter()
            .map(|row| {
                let own = (row.id == current.session.id).then_some(current.token.as_str());
                AuthSession::new(row, own)
            })
            .collect();
        Ok(Paged {
            items: Json(items),
            next_cursor,
        })
    }

    /// End one of the caller's sessions
    #[oai(
        path = "/v1/auth/revoke-session",
        method = "post",
        operation_id = "revokeSession"
    )]
    async fn revoke_session(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<RevokeSessionRequest>,
    ) -> AuthResult<Json<Status>> {
        let matches = Condition::any()
            .add(sessions::Column::Id.eq(body.token.as_str()))
            .add(sessions::Column::TokenHash.eq(hash_token(&body.token)));
        let own = Condition::all()
            .add(sessions::Column::UserId.eq(&caller.0.user.id))
            .add(matches);
        revoke(&state, req, &caller.0, own, "one").await?;
        Ok(Json(Status { status: true }))
    }

    /// End every session of the caller, this one included
    #[oai(
        path = "/v1/auth/revoke-sessions",
        method = "post",
        operation_id = "revokeSessions"
    )]
    async fn revoke_sessions(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
    ) -> AuthResult<Json<Status>> {
        let everywhere = session::of_user_or_opened_by(&caller.0.user.id);
        revoke(&state, req, &caller.0, everywhere, "all").await?;
        session::clear_session_cookies(&state, req);
        Ok(Json(Status { status: true }))
    }

    /// End every other session of the caller
    #[oai(
        path = "/v1/auth/revoke-other-sessions",
        method = "post",
        operation_id = "revokeOtherSessions"
    )]
    async fn revoke_other_sessions(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
    ) -> AuthResult<Json<Status>> {
        let current = caller.0;
        let others = Condition::all()
            .add(sessions::Column::UserId.eq(&current.user.id))
            .add(sessions::Column::Id.ne(&current.session.id));
        revoke(&state, req, &current, others, "others").await?;
        Ok(Json(Status { status: true }))
    }
}

/// Ends the caller's sessions matching `condition`, recording which (`scope`) in the audit
/// log when there were any.
async fn revoke(
    state: &AppState,
    req: &Request,
    caller: &CurrentSession,
    condition: Condition,
    scope: &str,
) -> ApiResult<()> {
    let change = Change::by_caller(state, req, caller).await?;
    if session::revoke_where(&*change, condition).await? > 0 {
        let entry = Entry::new(Action::SessionsRevoked, &caller.user.id);
        change.audit(entry.with(json!({"scope": scope}))).await?;
    }
    change.commit(state).await
}
