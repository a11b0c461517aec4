//! The app's background jobs: which handlers exist (mail, cleanups), the worker that runs them
//! in this process or in `orbit worker`, and the admin tools over the queue.

pub mod api;
pub mod cli;

use std::sync::Arc;

use orbit_jobs::{Enqueued, NewJob, Registry, Worker, WorkerOptions};
use sea_orm::DatabaseTransaction;

use crate::error::{ApiError, ApiResult};

use crate::auth::{address_mail, cleanup, emails};
use crate::state::AppState;
use crate::uploads;
use crate::workspaces::invites;

/// Every job the app runs, with its schedule where it has one.
pub fn registry(state: &AppState) -> Registry {
    Registry::default()
        .with(emails::send_handler(state.capabilities.mailer.clone()))
        .with(address_mail::handler(state.clone()))
        .with(cleanup::prune_handler(state.db.clone()))
        .with(invites::prune_handler(
            state.db.clone(),
            state.settings.invite_retention,
        ))
        .with(crate::audit::prune_handler(
            state.db.clone(),
            state.settings.audit_retention,
        ))
        .with(crate::billing::webhooks::sync_handler(state.clone()))
        .with(crate::billing::seats::seats_handler(state.clone()))
        .with(uploads::delete_handler(state.capabilities.storage.clone()))
        .with(uploads::prune_handler(
            state.db.clone(),
            state.capabilities.storage.clone(),
            state.settings.uploads.url_ttl,
        ))
}

/// Enqueues `job` in `tx`: it runs once `tx` commits.
pub async fn enqueue(state: &AppState, tx: &DatabaseTransaction, job: NewJob) -> ApiResult<()> {
    let name = job.name.clone();
    let enqueued = state.capabilities.jobs.enqueue(tx, job).await;
    if let Enqueued::Created(_) = enqueued.map_err(ApiError::internal)? {
        orbit_jobs::count_enqueued(&name);
    }
    Ok(())
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
