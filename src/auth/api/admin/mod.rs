//! better-auth's admin plugin: managing users and their sessions, for users whose role
//! grants it (see [`crate::auth::permissions`]).

pub mod impersonation;
pub mod sessions;
pub mod user_list;
pub mod users;

use poem::http::StatusCode;
use poem_openapi::Object;
use sea_orm::ConnectionTrait;

use crate::auth::dto::AuthUser;
use crate::auth::entities::user;
use crate::auth::permissions;
use crate::auth::session::CurrentSession;
use crate::auth::users as user_store;
use crate::error::{ApiError, ApiResult};
use crate::http::string_field::Text;

/// 403 `code` unless the caller's role may perform `action` on `resource`.
fn require(
    caller: &CurrentSession,
    resource: &str,
    action: &str,
    code: &'static str,
) -> ApiResult<()> {
    match permissions::allows(&caller.user.role, resource, action) {
        true => Ok(()),
        false => {
            let words = code.to_ascii_lowercase().replace('_', " ");
            let message = format!("Y{}", &words[1..]);
            Err(ApiError::new(StatusCode::FORBIDDEN, code, message))
        }
    }
}

/// The user `id`, or 404 `USER_NOT_FOUND`.
async fn target(db: &impl ConnectionTrait, id: &str) -> ApiResult<user::Model> {
    user_store::find(db, id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "User not found"))
}

fn bad_request(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// `{"user":{…}}`
#[derive(Debug, Object)]
#[oai(rename = "AdminUserResult")]
struct UserResult {
    user: AuthUser,
}

impl From<&user::Model> for UserResult {
    fn from(user: &user::Model) -> Self {
        Self {
            user: AuthUser::from(user),
        }
    }
}

/// A target user's id, in every admin request body.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct UserRef {
    user_id: Text<64, 1>,
}
