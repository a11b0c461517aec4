//! Liveness, readiness, the service banner and the public runtime configuration.

pub mod api;
