//! The cookies better-auth's client expects, with the same names and attributes.

use std::time::Duration;

use percent_encoding::percent_decode_str;

use super::links::encode_uri_component;

use crate::config::Settings;

pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
const SESSION_TOKEN: &str = "better-auth.session_token";
/// Holds the admin's own session while they impersonate someone.
const ADMIN_SESSION: &str = "better-auth.admin_session";
/// Marks a browser session opened with `rememberMe: false`: it is never made persistent.
const DONT_REMEMBER: &str = "better-auth.dont_remember";
/// Cookies signing out clears with the session cookie (`session_data` is better-auth's cookie
/// cache, which an older deploy may have set).
const COMPANIONS: [&str; 2] = ["better-auth.session_data", DONT_REMEMBER];

/// `__Secure-` in production (the cookie is `Secure` there), as better-auth names it.
fn prefixed(settings: &Settings, name: &str) -> String {
    match settings.env.is_production() {
        true => format!("__Secure-{name}"),
        false => name.to_owned(),
    }
}

pub fn session_cookie_name(settings: &Settings) -> String {
    prefixed(settings, SESSION_TOKEN)
}

pub fn admin_cookie_name(settings: &Settings) -> String {
    prefixed(settings, ADMIN_SESSION)
}

/// A cookie with the session cookie's attributes; without `max_age` it ends with the browser
/// session.
fn cookie(settings: &Settings, name: &str, value: &str, max_age: Option<u64>) -> String {
    let mut cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax",
        prefixed(settings, name),
        encode_uri_component(value)
    );
    if let Some(max_age) = max_age {
        cookie.push_str(&format!("; Max-Age={max_age}"));
    }
    if let Some(domain) = &settings.auth.cookie_domain {
        cookie.push_str(&format!("; Domain={domain}"));
    }
    if settings.env.is_production() {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Sets the session cookie to a signed token for [`SESSION_TTL`], or, not `persistent`, until
/// the browser closes.
pub fn set_session(settings: &Settings, signed_token: &str, persistent: bool) -> String {
    let max_age = persistent.then_some(SESSION_TTL.as_secs());
    cookie(settings, SESSION_TOKEN, signed_token, max_age)
}

pub fn dont_remember_cookie_name(settings: &Settings) -> String {
    prefixed(settings, DONT_REMEMBER)
}

/// Sets the signed `dont_remember` marker, for as long as the browser session.
pub fn set_dont_remember(settings: &Settings, signed_value: &str) -> String {
    cookie(settings, DONT_REMEMBER, signed_value, None)
}

/// Keeps the admin's signed session token aside while they impersonate someone.
pub fn set_admin_session(settings: &Settings, signed_value: &str) -> String {
    cookie(settings, ADMIN_SESSION, signed_value, None)
}

/// Binds an OAuth flow to the browser that started it (its state, signed).
const OAUTH_STATE: &str = "better-auth.state";

pub fn oauth_state_cookie_name(settings: &Settings) -> String {
    prefixed(settings, OAUTH_STATE)
}

pub fn set_oauth_state(settings: &Settings, signed_value: &str, max_age: Duration) -> String {
    cookie(settings, OAUTH_STATE, signed_value, Some(max_age.as_secs()))
}

pub fn clear_oauth_state(settings: &Settings) -> String {
    cookie(settings, OAUTH_STATE, "", Some(0))
}

pub fn clear_admin_session(settings: &Settings) -> String {
    cookie(settings, ADMIN_SESSION, "", Some(0))
}

/// Expires the session cookie and its companions.
pub fn clear_all(settings: &Settings) -> Vec<String> {
    std::iter::once(SESSION_TOKEN)
        .chain(COMPANIONS)
        .map(|name| cookie(settings, name, "", Some(0)))
        .collect()
}

/// The value of cookie `name` in a `Cookie` header, percent-decoded.
pub fn read(cookie_header: &str, name: &str) -> Option<String> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| percent_decode_str(value).decode_utf8_lossy().into_owned())
}
