//! The database pool: Postgres in production, an embedded SQLite file in development.

use std::time::Duration;

use migration::{MigrationLock, Migrator, MigratorTrait};
use sea_orm::sea_query::Values;
use sea_orm::sqlx;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, QueryResult, RuntimeErr, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};
use sea_query_sqlx::SqlxValues;
use secrecy::ExposeSecret;

use crate::config::DatabaseSettings;

/// Opens the pool without connecting: a database that is down at boot makes `/ready` fail
/// until it comes back, instead of stopping the process. Its queries become spans of the
/// traces they run in when spans are exported.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(settings.url.expose_secret());
    options
        .max_connections(settings.max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(settings.acquire_timeout)
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
    let mut db = Database::connect(options).await?;
    if orbit_telemetry::exports_spans() {
        let system = match db.get_database_backend() {
            DbBackend::Postgres => "postgresql",
            DbBackend::Sqlite => "sqlite",
            _ => "other_sql",
        };
        db.set_metric_callback(move |query| {
            orbit_telemetry::query_ended(system, &query.statement.sql, query.elapsed, query.failed)
        });
    }
    Ok(db)
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

/// The rows of a search, planned for its own values every time on Postgres (an unnamed
/// statement). A search's best plan depends on its term: walk the list in order for a broad
/// one, go through the trigram index for a narrow one. The generic plan a prepared statement
/// settles on after five runs cannot see the term (nor the limit): a narrow member search
/// walked all 10,000 members of a workspace (10 ms against 1 ms), and with the limit known a
/// broad one joined every match before keeping a page (230 ms against 1 ms).
pub async fn search_rows(
    db: &DatabaseConnection,
    statement: Statement,
) -> Result<Vec<QueryResult>, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return db.query_all_raw(statement).await;
    }
    let values = statement.values.unwrap_or(Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(statement.sql), SqlxValues(values))
        .persistent(false)
        .fetch_all(db.get_postgres_connection_pool())
        .await
        .map(|rows| rows.into_iter().map(QueryResult::from).collect())
        .map_err(|err| DbErr::Query(RuntimeErr::SqlxError(err.into())))
}

/// A search term for `LIKE … ESCAPE '\\'`: `%`, `_` and `\\` in it are literal.
pub fn escape_like(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// How full the Postgres server's connection slots are, next to this instance's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRoom {
    /// The server's `max_connections`, less `superuser_reserved_connections`.
    pub usable: u32,
    /// Client connections open now, from every instance and tool.
    pub open: u32,
}

impl ConnectionRoom {
    /// How many more instances with pools of `pool` fit in what is free now.
    pub fn instances_that_fit(&self, pool: u32) -> u32 {
        self.usable.saturating_sub(self.open) / pool.max(1)
    }
}

/// The connection room of a Postgres server; `None` on SQLite.
pub async fn connection_room(db: &DatabaseConnection) -> Result<Option<ConnectionRoom>, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    let sql = "SELECT current_setting('max_connections')::int \
               - current_setting('superuser_reserved_connections')::int AS usable, \
               (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend') \
               AS open";
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("connection settings".into()))?;
    let count = |column| row.try_get::<i32>("", column).map(|n| n.max(0) as u32);
    Ok(Some(ConnectionRoom {
        usable: count("usable")?,
        open: count("open")?,
    }))
}

/// This process's pool: connections in use, idle, and the most it opens.
pub fn pool_usage(db: &DatabaseConnection) -> Option<(u32, u32, u32)> {
    fn usage<D: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<D>) -> (u32, u32, u32) {
        let (size, idle) = (pool.size(), pool.num_idle() as u32);
        (
            size.saturating_sub(idle),
            idle,
            pool.options().get_max_connections(),
        )
    }
    match db.get_database_backend() {
        DbBackend::Postgres => Some(usage(db.get_postgres_connection_pool())),
        DbBackend::Sqlite => Some(usage(db.get_sqlite_connection_pool())),
        _ => None,
    }
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
