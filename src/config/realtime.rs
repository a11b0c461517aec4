//! The realtime section: the bus backend, presence and WebSocket pings.

use std::time::Duration;

use secrecy::SecretString;

use super::{DatabaseSettings, Vars};

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

impl Vars {
    pub(super) fn realtime(&mut self, database: &DatabaseSettings) -> RealtimeSettings {
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
}
