//! Indexes for the lists and searches the API runs, so a request costs what its answer costs:
//! users and members in their list order, pending invitations by expiry (past ones never
//! read), sessions by user in list order, and on Postgres trigram indexes for the substring
//! searches (`pg_trgm`; where the role may not create it, the searches still work, slower).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(name, table, columns, partial-index condition)`: plain SQL both databases accept.
const INDEXES: [(&str, &str, &str, Option<&str>); 4] = [
    ("idx_users_created_at_id", "users", "created_at, id", None),
    (
        "idx_workspace_members_workspace_created",
        "workspace_members",
        "workspace_id, created_at, id",
        None,
    ),
    (
        "idx_workspace_invites_pending_expiry",
        "workspace_invites",
        "workspace_id, expires_at",
        Some("accepted_at IS NULL AND revoked_at IS NULL"),
    ),
    (
        "idx_sessions_user_created",
        "sessions",
        "user_id, created_at",
        None,
    ),
];

/// Trigram indexes behind `contains` searches (Postgres with `pg_trgm` only).
const TRIGRAM_INDEXES: [(&str, &str, &str); 3] = [
    ("idx_users_name_trgm", "users", "lower(name)"),
    ("idx_users_email_trgm", "users", "email"),
    (
        "idx_workspace_invites_email_trgm",
        "workspace_invites",
        "email",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, table, columns, condition) in INDEXES {
            let partial = condition.map(|c| format!(" WHERE {c}")).unwrap_or_default();
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON {table} ({columns}){partial}"
            ))
            .await?;
        }
        // The composite index above serves every lookup the single-column one did.
        db.execute_unprepared("DROP INDEX idx_sessions_user_id")
            .await?;
        crate::shared::create_trigram_indexes(db, self.name(), &TRIGRAM_INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        crate::shared::drop_trigram_indexes(db, &TRIGRAM_INDEXES).await?;
        for (name, ..) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        db.execute_unprepared("CREATE INDEX idx_sessions_user_id ON sessions (user_id)")
            .await?;
        Ok(())
    }
}
