//! The registry of optional capabilities: which backend each one runs on, chosen at boot from
//! the settings, and how that is reported (boot log, `orbit doctor`, `GET /v1/config`).

use std::sync::Arc;

use orbit_email::Mailer;

use crate::config::Settings;

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
}

impl Capabilities {
    pub fn from_settings(settings: &Settings, http: reqwest::Client) -> anyhow::Result<Self> {
        Ok(Self {
            mailer: orbit_email::from_settings(&settings.email, http)?,
        })
    }

    pub fn statuses(&self) -> Vec<CapabilityStatus> {
        vec![CapabilityStatus {
            name: "email",
            backend: self.mailer.backend(),
            enabled: self.mailer.delivers(),
            enable_with: orbit_email::ENABLE_VARS,
        }]
    }

    /// Probes every enabled backend; `orbit doctor` fails when one does not answer.
    pub async fn check(&self) -> Vec<(&'static str, Result<(), String>)> {
        let mut results = Vec::new();
        if self.mailer.delivers() {
            let email = self.mailer.check().await.map_err(|err| err.to_string());
            results.push(("email", email));
        }
        results
    }

    /// Logs the boot table, one line per capability.
    pub fn log_boot_table(&self) {
        for status in self.statuses() {
            match status.enabled {
                true => tracing::info!(
                    capability = status.name,
                    backend = status.backend,
                    "{:<8} {:<10} enabled",
                    status.name,
                    status.backend
                ),
                false => tracing::warn!(
                    capability = status.name,
                    backend = status.backend,
                    "{:<8} {:<10} fallback; enable with {}",
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
