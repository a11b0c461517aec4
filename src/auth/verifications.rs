//! Single-use tokens mailed to people (magic link, email verification, password reset,
//! email change, account deletion): random, stored as a hash with what they grant, consumed
//! at most once.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::entities::verification;
use super::tokens::{hash_token, random_token};
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;

/// What a token is for; a token of one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    MagicLink,
    VerifyEmail,
    ResetPassword,
    DeleteAccount,
    /// An OAuth sign-in between its start and the provider's callback.
    OAuthState,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::MagicLink => "magic-link",
            Purpose::VerifyEmail => "verify-email",
            Purpose::ResetPassword => "reset-password",
            Purpose::DeleteAccount => "delete-account",
            Purpose::OAuthState => "oauth-state",
        }
    }
}

/// Stores `grant` behind a new token valid for `ttl`; returns the token (only the mail has it).
pub async fn issue(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    grant: &impl Serialize,
    ttl: Duration,
) -> ApiResult<String> {
    let token = random_token();
    store(db, purpose, &token, grant, ttl).await?;
    Ok(token)
}

/// Stores `grant` behind `token` (a fresh [`random_token`] the caller had to know first).
pub async fn store(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    token: &str,
    grant: &impl Serialize,
    ttl: Duration,
) -> ApiResult<()> {
    let now = Utc::now();
    verification::ActiveModel {
        id: Set(new_id("ver")),
        purpose: Set(purpose.as_str().to_owned()),
        token_hash: Set(hash_token(token)),
        payload: Set(serde_json::to_string(grant).map_err(ApiError::internal)?),
        expires_at: Set(now + chrono::Duration::from_std(ttl).map_err(ApiError::internal)?),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(ApiError::internal)?;
    Ok(())
}

async fn find(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    token: &str,
) -> ApiResult<Option<verification::Model>> {
    verification::Entity::find()
        .filter(verification::Column::TokenHash.eq(hash_token(token)))
        .filter(verification::Column::Purpose.eq(purpose.as_str()))
        .one(db)
        .await
        .map_err(ApiError::internal)
}

fn grant_of<T: DeserializeOwned>(found: &verification::Model) -> ApiResult<T> {
    serde_json::from_str(&found.payload).map_err(ApiError::internal)
}

/// What a live token grants, without using it up (for a link that only leads to a form).
pub async fn peek<T: DeserializeOwned>(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    token: &str,
) -> ApiResult<Option<T>> {
    match find(db, purpose, token).await? {
        Some(found) if found.expires_at > Utc::now() => grant_of(&found).map(Some),
        _ => Ok(None),
    }
}

/// Takes the token out of the store: at most one request ever gets its grant, and only
/// before it expires.
pub async fn consume<T: DeserializeOwned>(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    token: &str,
) -> ApiResult<Option<T>> {
    let Some(found) = find(db, purpose, token).await? else {
        return Ok(None);
    };
    let deleted = verification::Entity::delete_by_id(found.id.clone())
        .exec(db)
        .await
        .map_err(ApiError::internal)?;
    if deleted.rows_affected == 0 || found.expires_at <= Utc::now() {
        return Ok(None);
    }
    grant_of(&found).map(Some)
}
