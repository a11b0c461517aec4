//! The cookies better-auth's client expects, with the same names and attributes.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::config::Settings;

pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
const SESSION_TOKEN: &str = "better-auth.session_token";
/// Cookies better-auth may have set on an older deploy; signing out clears them too.
const COMPANIONS: [&str; 2] = ["better-auth.session_data", "better-auth.dont_remember"];

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

fn cookie(settings: &Settings, name: &str, value: &str, max_age: u64) -> String {
    let mut cookie = format!(
        "{}={}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax",
        prefixed(settings, name),
        urlencoding(value)
    );
    if let Some(domain) = &settings.auth.cookie_domain {
        cookie.push_str(&format!("; Domain={domain}"));
    }
    if settings.env.is_production() {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Sets the session cookie to a signed token for [`SESSION_TTL`].
pub fn set_session(settings: &Settings, signed_token: &str) -> String {
    cookie(settings, SESSION_TOKEN, signed_token, SESSION_TTL.as_secs())
}

/// Expires the session cookie and its companions.
pub fn clear_all(settings: &Settings) -> Vec<String> {
    std::iter::once(SESSION_TOKEN)
        .chain(COMPANIONS)
        .map(|name| cookie(settings, name, "", 0))
        .collect()
}

/// What JavaScript's `encodeURIComponent` escapes, as better-auth encodes cookie values.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

fn urlencoding(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// The value of cookie `name` in a `Cookie` header, percent-decoded.
pub fn read(cookie_header: &str, name: &str) -> Option<String> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| percent_decode_str(value).decode_utf8_lossy().into_owned())
}
