use poem::Request;

use super::session::Origin;
use crate::config::Settings;

const MAX_USER_AGENT: usize = 512;

/// The caller's IP: from the trusted proxy's header when one is configured, else the peer.
/// A forwarded list (`X-Forwarded-For: client, proxy1`) is read from the right: each proxy
/// appends the address it saw, so the entry `TRUSTED_PROXY_HOPS` from the end is the one our
/// outermost proxy wrote, and whatever the client sent sits to its left, unread.
pub fn client_ip(settings: &Settings, req: &Request) -> Option<String> {
    let auth = &settings.auth;
    let from_proxy = auth.client_ip_header.as_ref().and_then(|name| {
        let entries: Vec<&str> = req
            .headers()
            .get_all(name.as_str())
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let at = entries.len().checked_sub(auth.trusted_proxy_hops.max(1))?;
        Some(entries[at].to_owned())
    });
    from_proxy
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .or_else(|| {
            req.remote_addr()
                .as_socket_addr()
                .map(|addr| addr.ip().to_string())
        })
}

/// Where a session is being opened from.
pub fn session_origin(settings: &Settings, req: &Request) -> Origin {
    let user_agent = req
        .headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(MAX_USER_AGENT).collect());
    Origin {
        ip_address: client_ip(settings, req),
        user_agent,
        impersonated_by: None,
    }
}
