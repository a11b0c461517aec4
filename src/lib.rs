//! Orbit API server: the library behind the `orbit` binary, also driven by the tests.

pub mod capabilities;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod openapi;
pub mod server;
pub mod state;
pub mod system;
pub mod telemetry;
pub mod time;
