use poem::Request;
use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};
use serde_json::json;

use super::{UserRef, require};
use crate::audit::{Action, Entry};
use crate::auth::dto::{AuthSession, Success};
use crate::auth::entities::session as sessions;
use crate::auth::session::{self, Authenticated};
use crate::auth::tokens::hash_token;
use crate::error::{ApiError, AuthResult};
use crate::http::pagination::PageRequest;
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::workspaces::events::Change;

#[derive(Default)]
pub struct AdminSessionsApi;

#[derive(Debug, Object)]
#[oai(rename = "AdminSessionList", rename_all = "camelCase")]
struct SessionList {
    /// Oldest first.
    sessions: Vec<AuthSession>,
    /// The `cursor` of the next page; `null` on the last.
    #[oai(nullable)]
    next_cursor: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminUserSessionsRequest", rename_all = "camelCase")]
struct UserSessionsRequest {
    user_id: Text<64, 1>,
    /// 1–200, default 200.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "200")))]
    limit: Option<u64>,
    /// The previous page's `nextCursor`.
    #[oai(nullable)]
    cursor: Option<Text<512, 1>>,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminSessionRef", rename_all = "camelCase")]
struct SessionRef {
    /// A session's `token` as `list-user-sessions` shows it (its id), or a raw token.
    session_token: Text<256, 1>,
}

const NOT_ALLOWED_TO_REVOKE: &str = "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS";

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminSessionsApi {
    /// A user's sessions
    ///
    /// Each session's `token` is its id (tokens are stored hashed), which
    /// `revoke-user-session` accepts.
    #[oai(
        path = "/v1/auth/admin/list-user-sessions",
        method = "post",
        operation_id = "listUserSessions"
    )]
    async fn list_user_sessions(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        body: Json<UserSessionsRequest>,
    ) -> AuthResult<Json<SessionList>> {
        require(
            &caller.0,
            "session",
            "list",
            "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS",
        )?;
        let cursor = body.cursor.as_ref().map(|cursor| cursor.as_str());
        let page = PageRequest::whole(body.limit, cursor)?;
        let (rows, next_cursor) =
            session::live_page(&state.db, body.user_id.as_str(), false, &page).await?;
        Ok(Json(SessionList {
            sessions: rows.iter().map(|row| AuthSession::new(row, None)).collect(),
            next_cursor,
        }))
    }

    /// End one session of any user
    #[oai(
        path = "/v1/auth/admin/revoke-user-session",
        method = "post",
        operation_id = "revokeUserSession"
    )]
    async fn revoke_user_session(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<SessionRef>,
    ) -> AuthResult<Json<Success>> {
        require(&caller.0, "session", "revoke", NOT_ALLOWED_TO_REVOKE)?;
        let matches = Condition::any()
            .add(sessions::Column::Id.eq(body.session_token.as_str()))
            .add(sessions::Column::TokenHash.eq(hash_token(&body.session_token)));
        let change = Change::by_caller(&state, req, &caller.0).await?;
        let found = sessions::Entity::find()
            .filter(matches.clone())
            .one(&*change)
            .await
            .map_err(ApiError::internal)?;
        if let Some(found) = found {
            session::revoke_where(&*change, sessions::Column::Id.eq(&found.id)).await?;
            let entry = Entry::new(Action::UserSessionRevoked, &found.user_id);
            change
                .audit(entry.with(json!({"sessionId": found.id})))
                .await?;
        }
        change.commit(&state).await?;
        Ok(Json(Success { success: true }))
    }

    /// End every session of a user
    #[oai(
        path = "/v1/auth/admin/revoke-user-sessions",
        method = "post",
        operation_id = "revokeUserSessions"
    )]
    async fn revoke_user_sessions(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<UserRef>,
    ) -> AuthResult<Json<Success>> {
        require(&caller.0, "session", "revoke", NOT_ALLOWED_TO_REVOKE)?;
        let user_id = body.user_id.as_str();
        let change = Change::by_caller(&state, req, &caller.0).await?;
        if session::revoke_where(&*change, session::of_user_or_opened_by(user_id)).await? > 0 {
            change
                .audit(Entry::new(Action::UserSessionsRevoked, user_id))
                .await?;
        }
        change.commit(&state).await?;
        Ok(Json(Success { success: true }))
    }
}
