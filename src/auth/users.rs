use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::address::EmailAddress;
use super::entities::user;
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;

pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &EmailAddress,
) -> ApiResult<Option<user::Model>> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await
        .map_err(ApiError::internal)
}

/// The user with this address, created (verified, role `user`) when new. Whoever proves
/// they read the mailbox owns the address, so an existing unverified user becomes verified.
pub async fn sign_in_by_email(
    db: &impl ConnectionTrait,
    email: &EmailAddress,
    name: Option<&str>,
) -> ApiResult<(user::Model, bool)> {
    let now = Utc::now();
    match find_by_email(db, email).await? {
        Some(user) if user.email_verified => Ok((user, false)),
        Some(user) => {
            let mut active: user::ActiveModel = user.into();
            active.email_verified = Set(true);
            active.updated_at = Set(now);
            let user = active.update(db).await.map_err(ApiError::internal)?;
            Ok((user, false))
        }
        None => {
            let user = user::ActiveModel {
                id: Set(new_id("user")),
                email: Set(email.as_str().to_owned()),
                name: Set(name.unwrap_or_default().to_owned()),
                email_verified: Set(true),
                image: Set(None),
                avatar_tone: Set(0),
                theme_mode: Set(None),
                theme_palette: Set(None),
                role: Set("user".to_owned()),
                banned: Set(false),
                ban_reason: Set(None),
                ban_expires: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await
            .map_err(ApiError::internal)?;
            Ok((user, true))
        }
    }
}
