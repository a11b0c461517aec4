//! Sign-in and sessions, compatible with better-auth's client: the routes under `/v1/auth/`,
//! the session cookie, and the `Authenticated` extractor every other route uses.

pub mod address;
pub mod api;
pub mod cookies;
pub mod dev_links;
pub mod dto;
pub mod emails;
pub mod entities;
pub mod origin;
pub mod request_meta;
pub mod session;
pub mod tokens;
pub mod users;

/// Bodies sent to `/v1/auth/*` are small; anything larger is refused (413).
pub const AUTH_BODY_LIMIT_BYTES: usize = 8 * 1024;
