//! The metrics section: `METRICS_PORT` (a private port) or `METRICS_TOKEN` (the main port,
//! bearer-guarded); neither: off.

use secrecy::{ExposeSecret, SecretString};

use super::Vars;

/// A guessable token would publish the app's traffic to anyone.
const MIN_TOKEN_CHARS: usize = 16;

#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// Serve `/metrics` on this port only (never on the public one).
    pub port: Option<u16>,
    /// Serve `/metrics` on the main port to `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
}

impl MetricsSettings {
    pub fn enabled(&self) -> bool {
        self.port.is_some() || self.token.is_some()
    }
}

impl Vars {
    pub(super) fn metrics(&mut self, main_port: u16) -> MetricsSettings {
        let port = self
            .get("METRICS_PORT")
            .is_some()
            .then(|| self.parse("METRICS_PORT", 0u16, "a port number (1-65535)"))
            .filter(|port| *port != 0);
        if port == Some(main_port) {
            self.problems.push(format!(
                "METRICS_PORT must differ from the main port ({main_port}): it is the private one"
            ));
        }
        let token = self
            .get("METRICS_TOKEN")
            .map(|token| SecretString::from(token.to_owned()));
        if token
            .as_ref()
            .is_some_and(|token| token.expose_secret().chars().count() < MIN_TOKEN_CHARS)
        {
            self.problems.push(format!(
                "METRICS_TOKEN must be at least {MIN_TOKEN_CHARS} characters"
            ));
        }
        MetricsSettings { port, token }
    }
}
