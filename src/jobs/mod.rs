//! The app's background jobs: which handlers exist (mail, cleanups), the worker that runs them
//! in this process or in `orbit worker`, and the admin tools over the queue.

pub mod api;
pub mod cli;

use std::sync::Arc;

use orbit_jobs::{Registry, Worker, WorkerOptions};

use crate::auth::{cleanup, emails};
use crate::state::AppState;
use crate::workspaces::invites;

/// Every job the app runs, with its schedule where it has one.
pub fn registry(state: &AppState) -> Registry {
    Registry::default()
        .with(emails::send_handler(state.capabilities.mailer.clone()))
        .with(cleanup::prune_handler(state.db.clone()))
        .with(invites::prune_handler(
            state.db.clone(),
            state.settings.invite_retention,
        ))
}

/// Starts working jobs and schedules in this process.
pub fn start_worker(state: &AppState) -> Worker {
    let options = WorkerOptions {
        concurrency: state.settings.jobs.concurrency,
        run_schedules: true,
    };
    state
        .capabilities
        .jobs
        .start(Arc::new(registry(state)), options)
}
