//! Settings, read once at boot from the environment (and `.env`, loaded by `main`).
//!
//! Every problem is collected before failing, so one boot error names every missing or invalid
//! variable at once. Secrets are [`SecretString`]s: their `Debug` prints `[REDACTED]`.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use orbit_email::EmailSettings;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

const DEV_DATABASE_URL: &str = "sqlite://orbit-dev.db?mode=rwc";
const DEV_API_ORIGIN: &str = "http://localhost:4002";
const DEV_WEB_ORIGIN: &str = "http://localhost:4001";
const DEV_WWW_ORIGIN: &str = "http://localhost:4000";
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=info";
const MIN_SECRET_BYTES: usize = 32;

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
    pub realtime: RealtimeSettings,
    /// Largest request body accepted anywhere, in bytes.
    pub body_limit_bytes: usize,
    /// How long in-flight requests may run after SIGTERM before the process exits anyway.
    pub shutdown_timeout: Duration,
    /// Things worth a warning at boot (development defaults that production would refuse).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// How long a mailed sign-in link stays valid (`MAGIC_LINK_TTL_MIN`, 15).
    pub magic_link_ttl: Duration,
    /// `Domain=` of the session cookie, to share it across subdomains (`AUTH_COOKIE_DOMAIN`).
    pub cookie_domain: Option<String>,
    /// Email + password sign-up and sign-in (`AUTH_EMAIL_PASSWORD`, on by default).
    pub email_password: bool,
    /// The header a trusted proxy puts the client's IP in (`CLIENT_IP_HEADER`, e.g.
    /// `fly-client-ip`, `x-forwarded-for`); without it, the socket's peer address is used.
    pub client_ip_header: Option<String>,
    /// How many proxies of ours append to that header (`TRUSTED_PROXY_HOPS`, 1): the address
    /// this many entries from the right is the one the outermost of them saw; anything left
    /// of it was written by the client.
    pub trusted_proxy_hops: usize,
    /// How long a workspace invitation can be accepted (`INVITE_TTL_DAYS`, 7).
    pub invite_ttl: Duration,
    /// WebSocket upgrades one client IP may make per minute (`WS_UPGRADES_PER_MINUTE`, 600).
    pub ws_upgrades_per_minute: u32,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
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

#[derive(Debug, Clone)]
pub struct RealtimeSettings {
    /// `REALTIME_BACKEND`; `None` (auto) picks NATS, else Redis, else Postgres, else in-process.
    pub backend: Option<BusBackend>,
    /// `REDIS_URL`: the realtime bus (unless NATS is set) and the shared rate limiter.
    pub redis_url: Option<SecretString>,
    /// `NATS_URL`: the realtime bus.
    pub nats_url: Option<SecretString>,
    /// How long a member stays online after their last socket closed
    /// (`PRESENCE_OFFLINE_GRACE_SECS`, 30).
    pub offline_grace: Duration,
    /// How often each socket is pinged and its session checked again (`WS_PING_SECS`, 25).
    pub ping_every: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusBackend {
    InProcess,
    Postgres,
    Redis,
    Nats,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

/// Public origins, each normalised to `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origins {
    pub api: String,
    pub web: String,
    pub www: String,
    pub additional: Vec<String>,
}

impl Origins {
    /// The CORS allow-list: web, www and the additional origins, each with its loopback twin
    /// (`localhost` ⇄ `127.0.0.1`). The API's own origin is not a CORS origin.
    pub fn cors_allowed(&self) -> Vec<String> {
        with_loopback_twins([&self.web, &self.www].into_iter().chain(&self.additional))
    }

    /// Origins trusted by the auth routes (request `Origin`, callback URLs): the CORS list
    /// plus the API's own origin.
    pub fn trusted(&self) -> Vec<String> {
        with_loopback_twins(
            [&self.api, &self.web, &self.www]
                .into_iter()
                .chain(&self.additional),
        )
    }

    /// Whether `origin` (`scheme://host[:port]`) is one of [`Origins::trusted`].
    pub fn is_trusted(&self, origin: &str) -> bool {
        self.trusted().iter().any(|trusted| trusted == origin)
    }
}

fn with_loopback_twins<'a>(origins: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut expanded = Vec::new();
    for origin in origins {
        for candidate in with_loopback_twin(origin) {
            if !expanded.contains(&candidate) {
                expanded.push(candidate);
            }
        }
    }
    expanded
}

fn with_loopback_twin(origin: &str) -> Vec<String> {
    let twin = if origin.contains("://localhost") {
        Some(origin.replacen("://localhost", "://127.0.0.1", 1))
    } else if origin.contains("://127.0.0.1") {
        Some(origin.replacen("://127.0.0.1", "://localhost", 1))
    } else {
        None
    };
    std::iter::once(origin.to_owned()).chain(twin).collect()
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
            realtime,
            body_limit_bytes,
            shutdown_timeout: Duration::from_secs(shutdown_secs),
            warnings: std::mem::take(&mut self.warnings),
        }
    }

    fn database(&mut self, env: AppEnv) -> DatabaseSettings {
        let max_connections = self.parse("DATABASE_POOL_SIZE", 10u32, "a number of connections");
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
        }
    }

    fn auth_secret(&mut self, env: AppEnv) -> SecretString {
        let name = match self.get("AUTH_SECRET") {
            Some(_) => "AUTH_SECRET",
            None => "BETTER_AUTH_SECRET",
        };
        match (self.get(name).map(str::to_owned), env) {
            (Some(secret), AppEnv::Production) if secret.len() < MIN_SECRET_BYTES => {
                self.problems.push(format!(
                    "{name} must be at least {MIN_SECRET_BYTES} bytes (got {})",
                    secret.len()
                ));
                secret.into()
            }
            (Some(secret), _) => secret.into(),
            (None, AppEnv::Production) => {
                self.problems.push(format!(
                    "AUTH_SECRET (or BETTER_AUTH_SECRET) is required in production: \
                     at least {MIN_SECRET_BYTES} random bytes"
                ));
                SecretString::default()
            }
            (None, _) => {
                self.warnings.push(
                    "AUTH_SECRET is not set: using a random secret, so sessions end when \
                     the process restarts"
                        .into(),
                );
                random_secret()
            }
        }
    }

    fn auth(&mut self) -> AuthSettings {
        let ttl_minutes = self.parse("MAGIC_LINK_TTL_MIN", 15u64, "a number of minutes");
        let invite_days = self.parse("INVITE_TTL_DAYS", 7u64, "a number of days");
        if !(1..=365).contains(&invite_days) {
            self.problems.push(format!(
                "INVITE_TTL_DAYS must be 1 to 365 (got {invite_days})"
            ));
        }
        AuthSettings {
            magic_link_ttl: Duration::from_secs(ttl_minutes * 60),
            cookie_domain: self.get("AUTH_COOKIE_DOMAIN").map(str::to_owned),
            email_password: self.parse("AUTH_EMAIL_PASSWORD", true, "true or false"),
            client_ip_header: self.get("CLIENT_IP_HEADER").map(str::to_ascii_lowercase),
            trusted_proxy_hops: self.parse("TRUSTED_PROXY_HOPS", 1, "a number of proxies"),
            invite_ttl: Duration::from_secs(invite_days * 24 * 60 * 60),
            ws_upgrades_per_minute: self.parse("WS_UPGRADES_PER_MINUTE", 600, "a number"),
        }
    }

    fn origins(&mut self, env: AppEnv) -> Origins {
        let api = self.origin("API_ORIGIN", DEV_API_ORIGIN, env);
        let web = self.origin("WEB_ORIGIN", DEV_WEB_ORIGIN, env);
        let www = self.origin("WWW_ORIGIN", DEV_WWW_ORIGIN, env);
        let additional = self
            .get("ADDITIONAL_WEB_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .into_iter()
            .filter_map(|raw| self.checked_origin("ADDITIONAL_WEB_ORIGINS", &raw))
            .collect();
        Origins {
            api,
            web,
            www,
            additional,
        }
    }

    fn origin(&mut self, name: &str, dev_default: &str, env: AppEnv) -> String {
        match (self.get(name).map(str::to_owned), env) {
            (Some(raw), _) => self.checked_origin(name, &raw).unwrap_or_default(),
            (None, AppEnv::Production) => {
                self.problems
                    .push(format!("{name} is required in production"));
                String::new()
            }
            (None, _) => dev_default.to_owned(),
        }
    }

    fn checked_origin(&mut self, name: &str, raw: &str) -> Option<String> {
        match Url::parse(raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
                Some(url.origin().ascii_serialization())
            }
            _ => {
                let problem = format!(
                    "{name} must be an http(s) origin like https://app.example.com (got {raw:?})"
                );
                self.problems.push(problem);
                None
            }
        }
    }

    fn log(&mut self, env: AppEnv) -> LogSettings {
        let format = match (self.get("LOG_FORMAT"), env) {
            (Some("json"), _) | (None, AppEnv::Production) => LogFormat::Json,
            (Some("pretty"), _) | (None, _) => LogFormat::Pretty,
            (Some(other), _) => {
                let problem = format!("LOG_FORMAT must be json or pretty (got {other:?})");
                self.problems.push(problem);
                LogFormat::Pretty
            }
        };
        let filter = self
            .get("RUST_LOG")
            .unwrap_or(DEFAULT_LOG_FILTER)
            .to_owned();
        if tracing_subscriber::EnvFilter::try_new(&filter).is_err() {
            self.problems
                .push(format!("RUST_LOG is not a valid filter (got {filter:?})"));
        }
        LogSettings { format, filter }
    }

    fn realtime(&mut self, database: &DatabaseSettings) -> RealtimeSettings {
        let redis_url = self
            .get("REDIS_URL")
            .map(|url| SecretString::from(url.to_owned()));
        let nats_url = self
            .get("NATS_URL")
            .map(|url| SecretString::from(url.to_owned()));
        let backend = match self.get("REALTIME_BACKEND") {
            None | Some("auto") => None,
            Some("in-process") => Some(BusBackend::InProcess),
            Some("postgres") => Some(BusBackend::Postgres),
            Some("redis") => Some(BusBackend::Redis),
            Some("nats") => Some(BusBackend::Nats),
            Some(other) => {
                self.problems.push(format!(
                    "REALTIME_BACKEND must be auto, in-process, postgres, redis or nats (got {other:?})"
                ));
                None
            }
        };
        let missing = match backend {
            Some(BusBackend::Redis) if redis_url.is_none() => Some("REDIS_URL"),
            Some(BusBackend::Nats) if nats_url.is_none() => Some("NATS_URL"),
            Some(BusBackend::Postgres) if !database.is_postgres() => {
                Some("a Postgres DATABASE_URL")
            }
            _ => None,
        };
        if let Some(missing) = missing {
            self.problems.push(format!(
                "REALTIME_BACKEND={} needs {missing}",
                self.get("REALTIME_BACKEND").unwrap_or_default()
            ));
        }
        let grace = self.parse("PRESENCE_OFFLINE_GRACE_SECS", 30u64, "a number of seconds");
        if grace > 600 {
            self.problems.push(format!(
                "PRESENCE_OFFLINE_GRACE_SECS must be at most 600 (got {grace})"
            ));
        }
        let ping = self.parse("WS_PING_SECS", 25u64, "a number of seconds");
        if !(1..=300).contains(&ping) {
            self.problems
                .push(format!("WS_PING_SECS must be 1 to 300 (got {ping})"));
        }
        RealtimeSettings {
            backend,
            redis_url,
            nats_url,
            offline_grace: Duration::from_secs(grace),
            ping_every: Duration::from_secs(ping),
        }
    }

    fn email(&mut self, env: AppEnv) -> EmailSettings {
        let resend_base_url = self
            .get("RESEND_BASE_URL")
            .map(str::to_owned)
            .and_then(|raw| {
                raw.parse()
                    .map_err(|_| {
                        let problem = format!("RESEND_BASE_URL must be a URL (got {raw:?})");
                        self.problems.push(problem);
                    })
                    .ok()
            });
        let email = EmailSettings {
            resend_api_key: self.get("RESEND_API_KEY").map(SecretString::from),
            resend_from: self.get("RESEND_FROM").map(str::to_owned),
            resend_base_url,
            redact_console_log: env.is_production(),
        };
        if let Err(err) = email.validate() {
            self.problems.push(err.to_string());
        }
        email
    }
}

fn random_secret() -> SecretString {
    let bytes: [u8; 32] = rand::random();
    bytes
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>()
        .into()
}
