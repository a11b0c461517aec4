//! Indexes for the lists and searches the API runs, so a request costs what its answer costs:
//! users and members in their list order, pending invitations by expiry (past ones never
//! read), sessions by user in list order, and on Postgres trigram indexes for the substring
//! searches (`pg_trgm`; where the role may not create it, the searches still work, slower).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

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

/// Whether `pg_trgm` is installed, or this role may install it (a trusted extension since
/// Postgres 13: the database's `CREATE` privilege is enough).
const TRIGRAM_POSSIBLE: &str = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') \
     OR (EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') \
         AND has_database_privilege(current_database(), 'CREATE')) AS possible";

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
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let possible = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                TRIGRAM_POSSIBLE,
            ))
            .await?
            .map(|row| row.try_get::<bool>("", "possible"))
            .transpose()?
            .unwrap_or(false);
        if !possible {
            eprintln!(
                "warning: pg_trgm is not available to this role, so member, invitation and \
                 user searches work but scan their tables; a superuser can run `CREATE \
                 EXTENSION pg_trgm` and create the indexes of migration {}",
                self.name()
            );
            return Ok(());
        }
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            .await?;
        for (name, table, expression) in TRIGRAM_INDEXES {
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON {table} USING gin ({expression} gin_trgm_ops)"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, ..) in TRIGRAM_INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        for (name, ..) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        db.execute_unprepared("CREATE INDEX idx_sessions_user_id ON sessions (user_id)")
            .await?;
        Ok(())
    }
}
