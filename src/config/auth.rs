//! The auth section: the signing secret and `AuthSettings` (sign-in, cookies, client IP, invites).

use std::time::Duration;

use secrecy::SecretString;

use super::{AppEnv, Vars};

const MIN_SECRET_BYTES: usize = 32;

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

impl Vars {
    pub(super) fn auth_secret(&mut self, env: AppEnv) -> SecretString {
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

    pub(super) fn auth(&mut self) -> AuthSettings {
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

    /// How long something is kept: the days in `name` (`default` when unset; 1 to 3650).
    pub(super) fn retention(&mut self, name: &str, default: u64) -> Duration {
        let days = self.parse(name, default, "a number of days");
        if !(1..=3650).contains(&days) {
            self.problems
                .push(format!("{name} must be 1 to 3650 (got {days})"));
        }
        Duration::from_secs(days.saturating_mul(24 * 60 * 60))
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
