//! Black-box tests: the real server on port 0 over a fresh database per test (a temp SQLite
//! file, or a `test_<uuid>` Postgres database when `TEST_DATABASE_URL` is set).

mod bus_servers;
mod helpers;
mod object_store;

mod account;
mod admin;
mod audit;
mod auth;
mod billing;
mod cli;
mod config;
mod database;
mod edge;
mod hardening;
mod indexes;
mod invites;
mod jobs;
mod me;
mod members;
mod metrics;
mod oauth;
mod oauth_id_tokens;
mod pagination;
mod passwords;
mod rate_limits;
mod realtime;
mod realtime_cluster;
mod retention;
mod system;
mod tenancy;
mod traces;
mod uploads;
mod workspace_settings;
mod workspaces;
