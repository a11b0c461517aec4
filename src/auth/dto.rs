//! better-auth's JSON shapes for users and sessions.

use poem_openapi::Object;

use super::entities::{session, user};
use crate::time::iso;

/// A user as better-auth's client receives it.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AuthUser", rename_all = "camelCase", nullable_all)]
pub struct AuthUser {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub role: Option<String>,
    pub banned: Option<bool>,
    pub ban_reason: Option<String>,
    pub ban_expires: Option<String>,
}

impl From<&user::Model> for AuthUser {
    fn from(user: &user::Model) -> Self {
        Self {
            id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            image: user.image.clone(),
            created_at: iso(user.created_at),
            updated_at: iso(user.updated_at),
            role: Some(user.role.clone()),
            banned: Some(user.banned),
            ban_reason: user.ban_reason.clone(),
            ban_expires: user.ban_expires.map(iso),
        }
    }
}

/// A session as better-auth's client receives it. `token` is the caller's own token for its
/// current session; for any other session it is that session's id, which `revoke-session`
/// accepts: tokens are stored hashed and never handed out again.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AuthSession", rename_all = "camelCase", nullable_all)]
pub struct AuthSession {
    pub id: String,
    pub token: String,
    pub user_id: String,
    pub expires_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub impersonated_by: Option<String>,
}

impl AuthSession {
    pub fn new(session: &session::Model, token: Option<&str>) -> Self {
        Self {
            id: session.id.clone(),
            token: token.map_or_else(|| session.id.clone(), str::to_owned),
            user_id: session.user_id.clone(),
            expires_at: iso(session.expires_at),
            created_at: iso(session.created_at),
            updated_at: iso(session.updated_at),
            ip_address: session.ip_address.clone(),
            user_agent: session.user_agent.clone(),
            impersonated_by: session.impersonated_by.clone(),
        }
    }
}

/// `get-session`'s answer when signed in.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SessionWithUser")]
pub struct SessionWithUser {
    pub session: AuthSession,
    pub user: AuthUser,
}

/// `{"status":true}`
#[derive(Debug, Clone, Object)]
#[oai(rename = "AuthStatus")]
pub struct Status {
    pub status: bool,
}

/// `{"success":true}`
#[derive(Debug, Clone, Object)]
#[oai(rename = "AuthSuccess")]
pub struct Success {
    pub success: bool,
}
