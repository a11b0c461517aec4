//! The last magic link mailed to each address (development and test only), so a developer or
//! an end-to-end test can sign in without a mailbox. Kept in the database, written in the
//! transaction that issues the link, so every instance shows the same one.

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use super::entities::dev_magic_link;
use crate::error::{ApiError, ApiResult};

pub async fn record(db: &impl ConnectionTrait, email: &str, link: &str) -> ApiResult<()> {
    let row = dev_magic_link::ActiveModel {
        email: Set(email.to_owned()),
        link: Set(link.to_owned()),
        created_at: Set(Utc::now()),
    };
    let replace = OnConflict::column(dev_magic_link::Column::Email)
        .update_columns([
            dev_magic_link::Column::Link,
            dev_magic_link::Column::CreatedAt,
        ])
        .to_owned();
    dev_magic_link::Entity::insert(row)
        .on_conflict(replace)
        .exec_without_returning(db)
        .await
        .map_err(ApiError::internal)?;
    Ok(())
}

pub async fn last_for(db: &impl ConnectionTrait, email: &str) -> ApiResult<Option<String>> {
    let found = dev_magic_link::Entity::find_by_id(email.to_owned())
        .one(db)
        .await
        .map_err(ApiError::internal)?;
    Ok(found.map(|row| row.link))
}
