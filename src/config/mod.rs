//! Settings, read once at boot from the environment (and `.env`, loaded by `main`).
//!
//! Every problem is collected before failing, so one boot error names every missing or invalid
//! variable at once. Secrets are [`SecretString`]s: their `Debug` prints `[REDACTED]`.

mod auth;
mod billing;
mod database;
mod email;
mod jobs;
mod lists;
mod log;
mod metrics;
mod oauth;
mod origins;
mod realtime;
mod traces;
mod uploads;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use metrics::MetricsSettings;
use orbit_billing::BillingSettings;
use orbit_email::EmailSettings;
use orbit_jobs::JobsSettings;
use orbit_oauth::OAuthSettings;
use orbit_uploads::StorageSettings;
use secrecy::SecretString;

pub use auth::AuthSettings;
pub use database::DatabaseSettings;
pub use lists::ListSettings;
pub use log::LogSettings;
pub use origins::Origins;
pub use realtime::{BusBackend, RealtimeSettings};
pub use uploads::UploadLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
    Test,
}

impl AppEnv {
    pub fn as_str(self) -> &'static str {
        match self {
            AppEnv::Development => "development",
            AppEnv::Production => "production",
            AppEnv::Test => "test",
        }
    }

    pub fn is_production(self) -> bool {
        self == AppEnv::Production
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub env: AppEnv,
    pub port: u16,
    pub database: DatabaseSettings,
    pub auth_secret: SecretString,
    pub auth: AuthSettings,
    pub origins: Origins,
    pub log: LogSettings,
    pub email: EmailSettings,
    pub jobs: JobsSettings,
    pub realtime: RealtimeSettings,
    pub lists: ListSettings,
    /// The billing provider and plans (`STRIPE_*`, `BILLING_PLANS_JSON`).
    pub billing: BillingSettings,
    /// How long a past-due subscription stays entitled (`BILLING_GRACE_DAYS`, 3 days).
    pub billing_grace: Duration,
    /// Where files are stored (`S3_*`).
    pub storage: StorageSettings,
    /// Where Prometheus metrics are served, if anywhere (`METRICS_PORT`, `METRICS_TOKEN`).
    pub metrics: MetricsSettings,
    /// Where spans are exported, if anywhere (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub traces: Option<orbit_telemetry::TraceSettings>,
    /// The sign-in providers (`GOOGLE_*`, `GITHUB_*`, `APPLE_*`, `OIDC_*`).
    pub oauth: OAuthSettings,
    /// What uploads are accepted.
    pub uploads: UploadLimits,
    /// How long workspace invitations are kept (`INVITE_RETENTION_DAYS`, 30; 1 to 3650 days).
    pub invite_retention: Duration,
    /// How long audit entries are kept (`AUDIT_RETENTION_DAYS`, 365; 1 to 3650 days).
    pub audit_retention: Duration,
    /// Largest request body accepted anywhere, in bytes.
    pub body_limit_bytes: usize,
    /// How long in-flight requests may run after SIGTERM before the process exits anyway.
    pub shutdown_timeout: Duration,
    /// Things worth a warning at boot (development defaults that production would refuse).
    pub warnings: Vec<String>,
}

/// All configuration problems found, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(config::Environment::default())
    }

    /// Reads the given variables instead of the process environment (tests, tools).
    pub fn from_vars<'a>(
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        Self::from_source(config::Environment::default().source(Some(own(vars))))
    }

    fn from_source(source: config::Environment) -> Result<Self, ConfigError> {
        let mut vars = Vars::load(source)?;
        let settings = vars.settings();
        vars.finish(settings)
    }
}

/// Only what `orbit migrate` needs: a migration step must not require the app's other secrets.
#[derive(Debug, Clone)]
pub struct MigrateSettings {
    pub database: DatabaseSettings,
    pub log: LogSettings,
}

impl MigrateSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars = Vars::load(config::Environment::default())?;
        let env = vars.app_env();
        let settings = MigrateSettings {
            database: vars.database(env),
            log: vars.log(env),
        };
        vars.finish(settings)
    }
}

fn own<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> HashMap<String, String> {
    vars.into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// The raw variables plus the problems found so far.
struct Vars {
    values: HashMap<String, String>,
    problems: Vec<String>,
    warnings: Vec<String>,
}

impl Vars {
    fn load(source: config::Environment) -> Result<Self, ConfigError> {
        let values = config::Config::builder()
            .add_source(source.try_parsing(false))
            .build()
            .and_then(|config| config.try_deserialize::<HashMap<String, config::Value>>())
            .map_err(|err| ConfigError {
                problems: vec![format!("could not read the environment: {err}")],
            })?
            .into_iter()
            // A variable whose name contains a dot nests in `config`; none of ours does.
            .filter_map(|(key, value)| Some((key, value.into_string().ok()?)))
            .collect();
        Ok(Self {
            values,
            problems: Vec::new(),
            warnings: Vec::new(),
        })
    }

    fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        match self.problems.is_empty() {
            true => Ok(value),
            false => Err(ConfigError {
                problems: self.problems,
            }),
        }
    }

    /// A variable's value; unset and blank are the same.
    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(&name.to_ascii_lowercase())
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    fn parse<T: FromStr>(&mut self, name: &str, default: T, expected: &str) -> T {
        let Some(raw) = self.get(name) else {
            return default;
        };
        match raw.parse() {
            Ok(value) => value,
            Err(_) => {
                let problem = format!("{name} must be {expected} (got {raw:?})");
                self.problems.push(problem);
                default
            }
        }
    }

    /// A URL, when the variable is set; a problem when it is not one.
    fn url(&mut self, name: &str) -> Option<url::Url> {
        let raw = self.get(name)?.to_owned();
        match raw.parse() {
            Ok(url) => Some(url),
            Err(_) => {
                self.problems
                    .push(format!("{name} must be a URL (got {raw:?})"));
                None
            }
        }
    }

    fn app_env(&mut self) -> AppEnv {
        match self.get("APP_ENV") {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some("test") => AppEnv::Test,
            Some(other) => {
                let problem =
                    format!("APP_ENV must be development, production or test (got {other:?})");
                self.problems.push(problem);
                AppEnv::Development
            }
        }
    }

    fn settings(&mut self) -> Settings {
        let env = self.app_env();
        let port_var = match self.get("PORT") {
            Some(_) => "PORT",
            None => "APP_PORT",
        };
        let port = self.parse(port_var, 4002u16, "a port number (1-65535)");
        let database = self.database(env);
        let auth_secret = self.auth_secret(env);
        let auth = self.auth();
        if env.is_production() && auth.client_ip_header.is_none() {
            self.warnings.push(
                "CLIENT_IP_HEADER is not set: behind a platform's proxy every client shares the \
                 proxy's address and so one rate-limit budget. Set it to fly-client-ip on Fly, \
                 or x-forwarded-for (with TRUSTED_PROXY_HOPS=1) on Railway and Render"
                    .into(),
            );
        }
        let origins = self.origins(env);
        let log = self.log(env);
        let email = self.email(env);
        let jobs = self.jobs(env);
        let invite_retention = self.retention("INVITE_RETENTION_DAYS", 30);
        let audit_retention = self.retention("AUDIT_RETENTION_DAYS", 365);
        let lists = self.lists();
        let storage = self.storage();
        let billing = self.billing();
        let billing_grace = self.billing_grace();
        let oauth = self.oauth();
        let metrics = self.metrics(port);
        let traces = self.traces();
        let uploads = self.upload_limits();
        let realtime = self.realtime(&database);
        let body_limit_bytes = self.parse("BODY_LIMIT_BYTES", 1 << 20, "a number of bytes");
        let shutdown_secs = self.parse("SHUTDOWN_TIMEOUT_SECS", 8u64, "a number of seconds");
        Settings {
            env,
            port,
            database,
            auth_secret,
            auth,
            origins,
            log,
            email,
            jobs,
            realtime,
            lists,
            storage,
            uploads,
            billing,
            billing_grace,
            oauth,
            metrics,
            traces,
            invite_retention,
            audit_retention,
            body_limit_bytes,
            shutdown_timeout: Duration::from_secs(shutdown_secs),
            warnings: std::mem::take(&mut self.warnings),
        }
    }
}
