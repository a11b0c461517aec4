//! The registry of optional capabilities: which backend each one runs on, chosen at boot from
//! the settings, and how that is reported (boot log, `orbit doctor`, `GET /v1/config`).

use std::sync::Arc;

use orbit_billing::BillingProvider;
use orbit_email::Mailer;
use orbit_jobs::Jobs;
use orbit_oauth::SignInProviders;
use orbit_realtime::{Bus, Hub};
use orbit_uploads::ObjectStorage;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::rate_limit::{InMemoryRateLimiter, RateLimiter, RedisRateLimiter};

/// One row of the boot table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityStatus {
    pub name: &'static str,
    pub backend: &'static str,
    /// False when the capability runs on its logging fallback.
    pub enabled: bool,
    /// The variables that would enable it, shown while it is not enabled.
    pub enable_with: &'static [&'static str],
}

/// The chosen implementation of every capability.
#[derive(Clone)]
pub struct Capabilities {
    pub mailer: Arc<dyn Mailer>,
    /// The background job queue.
    pub jobs: Arc<dyn Jobs>,
    /// The realtime hub, on the bus between instances.
    pub hub: Arc<Hub>,
    /// Who subscriptions are billed through.
    pub billing: Arc<dyn BillingProvider>,
    /// Where uploaded files live.
    pub storage: Arc<dyn ObjectStorage>,
    /// Who one can sign in with besides email.
    pub oauth: Arc<dyn SignInProviders>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// Whether Prometheus metrics are recorded and served.
    metrics: bool,
    /// Whether spans are exported to a collector.
    traces: bool,
    /// The same limiter when it counts in Redis, for the checks.
    shared_limiter: Option<Arc<RedisRateLimiter>>,
}

impl Capabilities {
    /// Chooses every backend. Those on a server connect in the background: the app boots
    /// while one is down (`/ready` says so) and recovers by itself when it answers.
    pub async fn connect(
        settings: &Settings,
        http: reqwest::Client,
        db: &DatabaseConnection,
    ) -> anyhow::Result<Self> {
        let mailer = orbit_email::from_settings(&settings.email, http)?;
        let jobs = orbit_jobs::from_settings(&settings.jobs, db);
        let hub = crate::realtime::connect_hub(settings, db).await?;
        let storage = orbit_uploads::from_settings(&settings.storage)?;
        let billing = orbit_billing::from_settings(&settings.billing)?;
        let oauth = orbit_oauth::from_settings(&settings.oauth).await;
        let shared_limiter = match &settings.realtime.redis_url {
            Some(url) => Some(Arc::new(
                RedisRateLimiter::new(url.expose_secret())
                    .map_err(|err| anyhow::anyhow!("REDIS_URL: {err}"))?,
            )),
            None => None,
        };
        let rate_limiter: Arc<dyn RateLimiter> = match &shared_limiter {
            Some(limiter) => limiter.clone(),
            None => Arc::new(InMemoryRateLimiter::default()),
        };
        Ok(Self {
            mailer,
            jobs,
            hub,
            billing,
            storage,
            oauth,
            rate_limiter,
            metrics: settings.metrics.enabled(),
            traces: settings.traces.is_some(),
            shared_limiter,
        })
    }

    pub fn statuses(&self) -> Vec<CapabilityStatus> {
        let bus = self.hub.bus();
        vec![
            CapabilityStatus {
                name: "email",
                backend: self.mailer.backend(),
                enabled: self.mailer.delivers(),
                enable_with: orbit_email::ENABLE_VARS,
            },
            CapabilityStatus {
                name: "jobs",
                backend: self.jobs.backend(),
                enabled: self.jobs.durable(),
                enable_with: &["JOBS_BACKEND=database (the default)"],
            },
            CapabilityStatus {
                name: "realtime",
                backend: bus.backend(),
                enabled: bus.crosses_instances(),
                enable_with: &["NATS_URL, REDIS_URL or a Postgres DATABASE_URL"],
            },
            CapabilityStatus {
                name: "billing",
                backend: self.billing.backend(),
                enabled: self.billing.enabled(),
                enable_with: orbit_billing::ENABLE_VARS,
            },
            CapabilityStatus {
                name: "uploads",
                backend: self.storage.backend(),
                enabled: self.storage.enabled(),
                enable_with: orbit_uploads::ENABLE_VARS,
            },
            CapabilityStatus {
                name: "oauth",
                backend: self.oauth.backend(),
                enabled: !self.oauth.providers().is_empty(),
                enable_with: orbit_oauth::ENABLE_VARS,
            },
            CapabilityStatus {
                name: "metrics",
                backend: match self.metrics {
                    true => "prometheus",
                    false => "none",
                },
                enabled: self.metrics,
                enable_with: &["METRICS_PORT or METRICS_TOKEN"],
            },
            CapabilityStatus {
                name: "telemetry",
                backend: match self.traces {
                    true => "otlp-http",
                    false => "none",
                },
                enabled: self.traces,
                enable_with: orbit_telemetry::ENABLE_VARS,
            },
            CapabilityStatus {
                name: "ratelimit",
                backend: self.rate_limiter.backend(),
                enabled: self.shared_limiter.is_some(),
                enable_with: &["REDIS_URL"],
            },
        ]
    }

    /// Probes every enabled backend; `orbit doctor` fails when one does not answer.
    pub async fn check(&self) -> Vec<(&'static str, Result<(), String>)> {
        let mut results = Vec::new();
        if self.mailer.delivers() {
            let email = self.mailer.check().await.map_err(|err| err.to_string());
            results.push(("email", email));
        }
        if self.jobs.durable() {
            let queue = self.jobs.check().await.map_err(|err| err.to_string());
            results.push(("jobs", queue));
        }
        if let Some(bus) = self.shared_bus() {
            let ping = bus.ping().await.map_err(|err| err.message);
            results.push(("realtime", ping));
        }
        if self.billing.enabled() {
            let provider = self.billing.check().await.map_err(|err| err.to_string());
            results.push(("billing", provider));
        }
        if self.storage.enabled() {
            let bucket = self.storage.check().await.map_err(|err| err.to_string());
            results.push(("uploads", bucket));
        }
        let providers = self.oauth.check().await;
        if !providers.is_empty() {
            let failures: Vec<String> = providers
                .into_iter()
                .filter_map(|(id, result)| result.err().map(|err| format!("{id}: {err}")))
                .collect();
            let discovery = match failures.is_empty() {
                true => Ok(()),
                false => Err(failures.join("; ")),
            };
            results.push(("oauth", discovery));
        }
        if let Some(limiter) = &self.shared_limiter {
            let ping = limiter.ping().await.map_err(|err| err.to_string());
            results.push(("ratelimit", ping));
        }
        results
    }

    /// The bus between instances, which checks probe (`None` in-process: nothing can fail).
    pub fn shared_bus(&self) -> Option<&Arc<dyn Bus>> {
        Some(self.hub.bus()).filter(|bus| bus.crosses_instances())
    }

    /// Logs the boot table, one line per capability.
    pub fn log_boot_table(&self) {
        for status in self.statuses() {
            match status.enabled {
                true => tracing::info!(
                    capability = status.name,
                    backend = status.backend,
                    "{:<9} {:<10} enabled",
                    status.name,
                    status.backend
                ),
                false => tracing::warn!(
                    capability = status.name,
                    backend = status.backend,
                    "{:<9} {:<10} fallback; enable with {}",
                    status.name,
                    status.backend,
                    status.enable_with.join(" + ")
                ),
            }
        }
    }
}

/// The HTTP client every capability shares: rustls, bounded timeouts.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(15))
        .user_agent(concat!("orbit/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a rustls client with default settings builds")
}
