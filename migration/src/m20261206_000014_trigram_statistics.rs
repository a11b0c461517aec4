//! Statistics of which trigrams the searched user columns share (Postgres 14+ with `pg_trgm`):
//! a substring search then asks its trigram index only for the term's rare trigrams, since a
//! trigram most rows hold (`com`, `gma`) makes the index read a posting list of most of the
//! table, whatever the answer. Filled by ANALYZE, as autovacuum runs it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(name, table, expression)`: what the app reads back (`src/trigrams.rs`).
const STATISTICS: [(&str, &str, &str); 2] = [
    ("users_email_trigrams", "users", "email"),
    ("users_name_trigrams", "users", "lower(name)"),
];

/// Expression statistics came with Postgres 14; `show_trgm` with `pg_trgm`.
const POSSIBLE: &str = "SELECT current_setting('server_version_num')::int >= 140000 \
     AND EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') AS possible";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let possible = db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, POSSIBLE))
            .await?
            .map(|row| row.try_get::<bool>("", "possible"))
            .transpose()?
            .unwrap_or(false);
        if !possible {
            return Ok(());
        }
        for (name, table, expression) in STATISTICS {
            db.execute_unprepared(&format!(
                "CREATE STATISTICS {name} ON (show_trgm({expression})) FROM {table}"
            ))
            .await?;
        }
        db.execute_unprepared("ANALYZE users").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for (name, ..) in STATISTICS {
            db.execute_unprepared(&format!("DROP STATISTICS IF EXISTS {name}"))
                .await?;
        }
        Ok(())
    }
}
