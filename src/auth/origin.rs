//! better-auth's CSRF rule, applied to every `/v1/` route: a cookie-authenticated request
//! that changes something (any method but GET, HEAD, OPTIONS) must come from a trusted
//! origin, and every callback URL must stay on one.

use std::collections::HashSet;
use std::sync::Arc;

use poem::http::{HeaderMap, Method, StatusCode, header};
use poem::{Endpoint, Middleware, Request, Result};

use super::session;
use super::tokens::hash_token;
use crate::config::Settings;
use crate::error::ApiError;
use crate::state::AppState;

pub struct TrustedOrigin {
    trusted: Arc<HashSet<String>>,
}

impl TrustedOrigin {
    pub fn new(trusted: Vec<String>) -> Self {
        Self {
            trusted: Arc::new(trusted.into_iter().collect()),
        }
    }
}

impl<E: Endpoint> Middleware<E> for TrustedOrigin {
    type Output = TrustedOriginEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        TrustedOriginEndpoint {
            inner,
            trusted: self.trusted.clone(),
        }
    }
}

pub struct TrustedOriginEndpoint<E> {
    inner: E,
    trusted: Arc<HashSet<String>>,
}

impl<E: Endpoint> Endpoint for TrustedOriginEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let mutating = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let has_cookie = req.headers().contains_key(header::COOKIE);
        if mutating && has_cookie && req.uri().path().starts_with("/v1/") {
            let trusted = |origin: &str| self.trusted.contains(origin);
            if let Err(refused) = require_trusted_origin(req.headers(), trusted)
                && !bearer_authenticates(&req).await?
            {
                return Err(refused.into());
            }
        }
        self.inner.call(req).await
    }
}

/// Whether a bearer token opens a live session: then it, not the cookie beside it (never
/// read), authenticates the request, and a bearer client is no browser whose ambient cookie
/// another site could use. Looked up only for a request the Origin check would refuse.
async fn bearer_authenticates(req: &Request) -> Result<bool, ApiError> {
    let Some(state) = req.data::<AppState>() else {
        return Ok(false);
    };
    match session::presented_bearer(state, req) {
        Some(token) => session::still_open(state, hash_token(&token)).await,
        None => Ok(false),
    }
}

/// Whether the request's credentials are ambient: a cookie, with no bearer token (which,
/// when present, is what authenticates it: the cookie is then never read).
pub fn cookie_authenticated(req: &Request) -> bool {
    req.headers().contains_key(header::COOKIE) && bearer_token(req).is_none()
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// 403 `MISSING_OR_NULL_ORIGIN` / `INVALID_ORIGIN` unless the request's `Origin` is trusted.
pub fn require_trusted_origin(
    headers: &HeaderMap,
    is_trusted: impl Fn(&str) -> bool,
) -> Result<(), ApiError> {
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        None | Some("null") => Err(forbidden(
            "MISSING_OR_NULL_ORIGIN",
            "Missing or null Origin",
        )),
        Some(origin) if !is_trusted(origin) => Err(forbidden("INVALID_ORIGIN", "Invalid origin")),
        Some(_) => Ok(()),
    }
}

fn forbidden(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Every given callback URL must resolve (see [`resolve_callback`]) onto a trusted origin.
pub fn check_callbacks<'a>(
    settings: &Settings,
    callbacks: impl IntoIterator<Item = Option<&'a str>>,
) -> Result<(), ApiError> {
    callbacks
        .into_iter()
        .flatten()
        .try_for_each(|callback| resolve_callback(settings, callback).map(drop))
}

/// Where a callback URL sends the browser: resolved against `WEB_ORIGIN` (a relative
/// `/account` lands on the web app), then accepted only when the resolved URL's origin is a
/// trusted one. Control characters and whitespace are refused outright: browsers drop tabs and
/// newlines from URLs, so `/\t/evil.example` would land on `//evil.example`.
pub fn resolve_callback(settings: &Settings, callback: &str) -> Result<url::Url, ApiError> {
    let invalid = || forbidden("INVALID_CALLBACK_URL", "Invalid callbackURL");
    if callback
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(invalid());
    }
    let web = url::Url::parse(&settings.origins.web).map_err(|_| invalid())?;
    let resolved = web.join(callback).map_err(|_| invalid())?;
    let trusted = matches!(resolved.scheme(), "http" | "https")
        && settings
            .origins
            .is_trusted(&resolved.origin().ascii_serialization());
    match trusted {
        true => Ok(resolved),
        false => Err(invalid()),
    }
}

/// [`resolve_callback`] for an optional one, as the absolute URL to redirect to.
pub fn resolve_optional_callback(
    settings: &Settings,
    callback: Option<&str>,
) -> Result<Option<String>, ApiError> {
    callback
        .map(|raw| resolve_callback(settings, raw).map(String::from))
        .transpose()
}
