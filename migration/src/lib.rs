//! Schema migrations, applied by `orbit migrate up`, `cargo run -p migration -- up`
//! (what `sea-orm-cli migrate up` drives) or the Dockerfile's `migrate` target.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_users;
mod m20261123_000002_create_auth_tables;
mod m20261123_000003_create_workspaces;
mod m20261201_000004_index_lists_and_searches;
mod m20261205_000006_dev_links_and_expiry_indexes;
mod m20261205_000007_pending_invites_by_creation;
mod m20261205_000008_member_search_text;
mod m20261205_000009_create_uploads;
mod m20261205_000010_create_billing;
mod m20261205_000011_account_tokens;
mod m20261205_000012_create_audit_entries;
mod m20261206_000013_member_search_index;
mod m20261206_000014_trigram_statistics;
mod shared;

pub struct Migrator;

/// Postgres's advisory lock key for migrating ("orbit_mi"): every migrator takes it first.
const LOCK_KEY: i64 = 0x6f72_6269_745f_6d69;

/// Held while migrating: on Postgres, a session-level advisory lock on a connection of its own
/// (closed, not pooled, when this drops, which releases the lock, as a crash would), so N
/// processes that migrate at once take turns and each migration is applied once. SQLite
/// writers take turns anyway: nothing is held there.
pub struct MigrationLock {
    _connection: Option<sea_orm::sqlx::pool::PoolConnection<sea_orm::sqlx::Postgres>>,
}

impl MigrationLock {
    /// Waits for the lock (the pool needs a second connection to migrate with).
    pub async fn acquire(db: &sea_orm::DbConn) -> Result<Self, DbErr> {
        if db.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(Self { _connection: None });
        }
        let mut connection = db
            .get_postgres_connection_pool()
            .acquire()
            .await
            .map_err(|err| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err.into())))?;
        connection.close_on_drop();
        sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *connection)
            .await
            .map_err(|err| DbErr::Exec(sea_orm::RuntimeErr::SqlxError(err.into())))?;
        Ok(Self {
            _connection: Some(connection),
        })
    }
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_users::Migration),
            Box::new(m20261123_000002_create_auth_tables::Migration),
            Box::new(m20261123_000003_create_workspaces::Migration),
            Box::new(m20261201_000004_index_lists_and_searches::Migration),
            // The jobs capability owns its tables; its crate holds their migration.
            Box::new(orbit_jobs::migration::CreateJobTables),
            Box::new(m20261205_000006_dev_links_and_expiry_indexes::Migration),
            Box::new(m20261205_000007_pending_invites_by_creation::Migration),
            Box::new(m20261205_000008_member_search_text::Migration),
            Box::new(m20261205_000009_create_uploads::Migration),
            Box::new(m20261205_000010_create_billing::Migration),
            Box::new(m20261205_000011_account_tokens::Migration),
            Box::new(m20261205_000012_create_audit_entries::Migration),
            Box::new(m20261206_000013_member_search_index::Migration),
            Box::new(m20261206_000014_trigram_statistics::Migration),
        ]
    }
}
