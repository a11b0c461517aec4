//! Passwords at rest: the `credential` account of a user holds its argon2id hash.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entities::account;
use super::password;
use super::tokens::hash_token;
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;

pub const PROVIDER: &str = "credential";

/// The stored hash of the user's password, if they have one.
pub async fn stored_hash(db: &impl ConnectionTrait, user_id: &str) -> ApiResult<Option<String>> {
    Ok(find(db, user_id)
        .await?
        .and_then(|account| account.password_hash))
}

/// A fingerprint of the user's current password (none is a password too): it changes with
/// every change of password, so what was issued for the old one can tell it is stale.
pub async fn password_stamp(db: &impl ConnectionTrait, user_id: &str) -> ApiResult<String> {
    let stored = stored_hash(db, user_id).await?.unwrap_or_default();
    Ok(hash_token(&stored))
}

async fn find(db: &impl ConnectionTrait, user_id: &str) -> ApiResult<Option<account::Model>> {
    account::Entity::find()
        .filter(account::Column::UserId.eq(user_id))
        .filter(account::Column::ProviderId.eq(PROVIDER))
        .one(db)
        .await
        .map_err(ApiError::internal)
}

/// Whether `password` is the user's; false when they have none.
pub async fn matches(
    db: &impl ConnectionTrait,
    user_id: &str,
    password: &password::Password,
) -> ApiResult<bool> {
    let stored = stored_hash(db, user_id).await?;
    password::verify(password.expose(), stored).await
}

/// Sets the user's password (hashed by the caller), creating the credential account if needed.
pub async fn set_hash(db: &impl ConnectionTrait, user_id: &str, hash: String) -> ApiResult<()> {
    let now = Utc::now();
    match find(db, user_id).await? {
        Some(existing) => {
            let mut active: account::ActiveModel = existing.into();
            active.password_hash = Set(Some(hash));
            active.updated_at = Set(now);
            active.update(db).await.map_err(ApiError::internal)?;
        }
        None => {
            account::ActiveModel {
                id: Set(new_id("acct")),
                user_id: Set(user_id.to_owned()),
                provider_id: Set(PROVIDER.to_owned()),
                account_id: Set(user_id.to_owned()),
                password_hash: Set(Some(hash)),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await
            .map_err(ApiError::internal)?;
        }
    }
    Ok(())
}
