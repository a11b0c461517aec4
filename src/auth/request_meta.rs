use poem::Request;

use super::session::Origin;
use crate::config::Settings;

const MAX_USER_AGENT: usize = 512;

/// The caller's IP: from the trusted proxy's header when one is configured, else the peer.
pub fn client_ip(settings: &Settings, req: &Request) -> Option<String> {
    let from_proxy = settings.auth.client_ip_header.as_ref().and_then(|name| {
        let value = req.headers().get(name.as_str())?.to_str().ok()?;
        // X-Forwarded-For lists the client first.
        Some(value.split(',').next()?.trim().to_owned())
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
