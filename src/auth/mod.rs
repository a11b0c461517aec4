//! Sign-in and sessions, compatible with better-auth's client: the routes under `/v1/auth/`,
//! the session cookie, and the `Authenticated` extractor every other route uses.

pub mod address;
pub mod address_mail;
pub mod api;
pub mod cleanup;
pub mod cookies;
pub mod credentials;
pub mod dev_links;
pub mod dto;
pub mod email_verification;
pub mod emails;
pub mod entities;
pub mod links;
pub mod origin;
pub mod password;
pub mod permissions;
pub mod request_meta;
pub mod sealed;
pub mod session;
pub mod session_lookups;
pub mod social;
pub mod throttle;
pub mod tokens;
pub mod users;
pub mod verifications;

/// Bodies sent to `/v1/auth/*` are small; anything larger is refused (413).
pub const AUTH_BODY_LIMIT_BYTES: usize = 8 * 1024;
