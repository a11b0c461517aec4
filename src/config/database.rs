//! The database section: `DATABASE_URL` and the pool.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{AppEnv, Vars};

const DEV_DATABASE_URL: &str = "sqlite://orbit-dev.db?mode=rwc";

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    /// Connections this instance may hold (`DATABASE_POOL_SIZE`, 10). Every instance and
    /// `orbit worker` holds its own: their sum must stay under the server's `max_connections`.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing
    /// (`DATABASE_ACQUIRE_TIMEOUT_SECS`, 5).
    pub acquire_timeout: Duration,
}

impl DatabaseSettings {
    pub fn is_sqlite(&self) -> bool {
        self.url.expose_secret().starts_with("sqlite:")
    }

    pub fn is_postgres(&self) -> bool {
        let url = self.url.expose_secret();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }
}

impl Vars {
    pub(super) fn database(&mut self, env: AppEnv) -> DatabaseSettings {
        let max_connections = self.parse("DATABASE_POOL_SIZE", 10u32, "a number of connections");
        if max_connections == 0 {
            self.problems
                .push("DATABASE_POOL_SIZE must be at least 1".into());
        }
        let acquire_secs = self.parse("DATABASE_ACQUIRE_TIMEOUT_SECS", 5u64, "a number of seconds");
        let url = match (self.get("DATABASE_URL"), env) {
            (Some(url), _) => url.to_owned(),
            (None, AppEnv::Production) => {
                self.problems
                    .push("DATABASE_URL is required in production".into());
                String::new()
            }
            (None, _) => DEV_DATABASE_URL.to_owned(),
        };
        let is_postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        let is_sqlite = url.starts_with("sqlite:");
        if !url.is_empty() && !is_postgres && !is_sqlite {
            self.problems
                .push("DATABASE_URL must start with postgres://, postgresql:// or sqlite:".into());
        } else if is_sqlite && env.is_production() {
            self.problems.push(
                "DATABASE_URL must be a Postgres URL in production (SQLite writes to local disk)"
                    .into(),
            );
        }
        DatabaseSettings {
            url: url.into(),
            max_connections,
            acquire_timeout: Duration::from_secs(acquire_secs.max(1)),
        }
    }
}
