//! The database pool: Postgres in production, an embedded SQLite file in development.

use std::time::Duration;

use migration::{MigrationLock, Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use secrecy::ExposeSecret;

use crate::config::DatabaseSettings;

/// Opens the pool without connecting: a database that is down at boot makes `/ready` fail
/// until it comes back, instead of stopping the process.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(settings.url.expose_secret());
    options
        .max_connections(settings.max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        // A ping before every checkout costs a round trip per query; only connections idle
        // long enough to have been cut by the server or a proxy are checked first.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .connect_lazy(true)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|options| {
            options
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    Database::connect(options).await
}

/// Brings the schema up to date. Only the embedded SQLite default does this at boot; a
/// Postgres deploy migrates in its own step before the instances start.
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    let _lock = MigrationLock::acquire(db).await?;
    Migrator::up(db, None).await
}

/// Begins a transaction that will write; on SQLite as a writer from the start
/// (`BEGIN IMMEDIATE`), so concurrent writers wait their turn instead of failing when they
/// first write.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    db.begin_with_options(options).await
}

/// A search term for `LIKE … ESCAPE '\\'`: `%`, `_` and `\\` in it are literal.
pub fn escape_like(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Postgres => "postgres",
        DbBackend::Sqlite => "sqlite",
        _ => "other",
    }
}

/// Where a database URL points, without credentials: `host:port/name`, or the SQLite path.
pub fn describe_target(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.scheme().starts_with("postgres") => format!(
            "{}:{}{}",
            parsed.host_str().unwrap_or("?"),
            parsed.port().unwrap_or(5432),
            parsed.path()
        ),
        _ => url
            .trim_start_matches("sqlite:")
            .trim_start_matches("//")
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}
