//! The hourly cleanup of what auth leaves behind: expired sessions, expired mailed tokens and
//! old development sign-in links.

use chrono::Utc;
use orbit_jobs::{Handler, JobError};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::entities::{dev_magic_link, session, verification};

pub const PRUNE_JOB: &str = "auth.prune";

pub fn prune_handler(db: DatabaseConnection) -> Handler {
    Handler::new(PRUNE_JOB, move |_, _| {
        let db = db.clone();
        async move {
            let now = Utc::now();
            let sessions = session::Entity::delete_many()
                .filter(session::Column::ExpiresAt.lt(now))
                .exec(&db)
                .await
                .map_err(JobError::retry)?;
            let tokens = verification::Entity::delete_many()
                .filter(verification::Column::ExpiresAt.lt(now))
                .exec(&db)
                .await
                .map_err(JobError::retry)?;
            dev_magic_link::Entity::delete_many()
                .filter(dev_magic_link::Column::CreatedAt.lt(now - chrono::Duration::days(1)))
                .exec(&db)
                .await
                .map_err(JobError::retry)?;
            tracing::info!(
                sessions = sessions.rows_affected,
                tokens = tokens.rows_affected,
                "expired sessions and tokens deleted"
            );
            Ok(())
        }
    })
    .every("@hourly".parse().expect("a valid schedule"))
}
