//! Orbit API server: the library behind the `orbit` binary, also driven by the tests.

pub mod audit;
pub mod auth;
pub mod billing;
pub mod capabilities;
pub mod config;
pub mod db;
pub mod dev;
pub mod error;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod me;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
pub mod realtime;
pub mod server;
pub mod state;
pub mod system;
pub mod telemetry;
pub mod time;
pub mod trigrams;
pub mod uploads;
pub mod workspaces;
