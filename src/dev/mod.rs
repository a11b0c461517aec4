//! Development helpers: sign in without a mailbox, become admin. 404 in production.

pub mod api;
