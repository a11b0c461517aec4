//! Development helpers: sign in without a mailbox, become admin. Never mounted in production.

pub mod api;
