//! better-auth's CSRF rule, applied to every `/v1/` route: a cookie-authenticated request
//! that changes something (any method but GET, HEAD, OPTIONS) must come from a trusted
//! origin, and every callback URL must stay on one.

use std::collections::HashSet;
use std::sync::Arc;

use poem::http::{Method, StatusCode, header};
use poem::{Endpoint, Middleware, Request, Result};

use crate::config::Settings;
use crate::error::ApiError;

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
        let headers = req.headers();
        // Bearer clients are not browsers: no ambient cookie, nothing to forge.
        let mutating = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let cookie_authenticated = mutating
            && req.uri().path().starts_with("/v1/")
            && headers.contains_key(header::COOKIE)
            && !headers.contains_key(header::AUTHORIZATION);
        if cookie_authenticated {
            match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
                None | Some("null") => {
                    return Err(
                        forbidden("MISSING_OR_NULL_ORIGIN", "Missing or null Origin").into(),
                    );
                }
                Some(origin) if !self.trusted.contains(origin) => {
                    return Err(forbidden("INVALID_ORIGIN", "Invalid origin").into());
                }
                Some(_) => {}
            }
        }
        self.inner.call(req).await
    }
}

fn forbidden(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Every given callback URL must be relative (`/path`, not `//host`) or on a trusted origin.
pub fn check_callbacks<'a>(
    settings: &Settings,
    callbacks: impl IntoIterator<Item = Option<&'a str>>,
) -> Result<(), ApiError> {
    callbacks
        .into_iter()
        .flatten()
        .try_for_each(|callback| check_callback(settings, callback))
}

fn check_callback(settings: &Settings, callback: &str) -> Result<(), ApiError> {
    let relative =
        callback.starts_with('/') && !callback.starts_with("//") && !callback.starts_with("/\\");
    let trusted = || {
        url::Url::parse(callback).is_ok_and(|url| {
            settings
                .origins
                .trusted()
                .contains(&url.origin().ascii_serialization())
        })
    };
    match relative || trusted() {
        true => Ok(()),
        false => Err(forbidden("INVALID_CALLBACK_URL", "Invalid callbackURL")),
    }
}
