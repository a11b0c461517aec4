//! The jobs capability: durable background jobs in the app's own database.
//!
//! Domain code enqueues a [`NewJob`] through the [`Jobs`] trait **inside its own database
//! transaction**, so a job exists exactly when the change that causes it commits. Handlers are
//! registered by name in a [`Registry`] (with their attempts, timeout and optional cron
//! schedule) and run by a worker started with [`Jobs::start`], in the API process or in
//! `orbit worker`. [`from_settings`] picks the durable queue (Postgres or SQLite, from the
//! connection) or, with `JOBS_BACKEND=inline`, a runner that spawns each job at once and keeps
//! nothing. The crate owns only its tables (`jobs`, `job_schedules`; see [`migration`]).

mod cron;
mod inline;
pub mod migration;
mod queue;
mod registry;
mod settings;
mod store;
mod worker;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};
use serde::Serialize;

pub use cron::Schedule;
pub use inline::InlineRunner;
pub use queue::DatabaseQueue;
pub use registry::{Handler, JobContext, JobError, Registry};
pub use settings::{JobsMode, JobsSettings, SettingsError, parse_schedules};
pub use worker::Worker;

/// A job to enqueue. Build it with [`NewJob::new`] and the `with_*` methods.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub name: String,
    pub payload: serde_json::Value,
    /// Not before this instant (now when `None`).
    pub run_at: Option<DateTime<Utc>>,
    /// While a job with this key is pending or running, enqueueing another is a no-op.
    pub job_key: Option<String>,
    /// Overrides the handler's `max_attempts`.
    pub max_attempts: Option<u32>,
    /// Lower runs first (default 0).
    pub priority: i32,
    /// Jobs of one queue never run at the same time.
    pub queue: Option<String>,
}

impl NewJob {
    pub fn new(name: &str, payload: &impl Serialize) -> Result<Self, JobsError> {
        let payload =
            serde_json::to_value(payload).map_err(|err| JobsError::Payload(err.to_string()))?;
        Ok(Self {
            payload,
            ..Self::named(name)
        })
    }

    /// A job of `name` with no payload (a schedule's tick).
    pub(crate) fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            payload: serde_json::Value::Null,
            run_at: None,
            job_key: None,
            max_attempts: None,
            priority: 0,
            queue: None,
        }
    }

    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    pub fn job_key(mut self, key: impl Into<String>) -> Self {
        self.job_key = Some(key.into());
        self
    }

    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Canceled => "canceled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            JobState::Pending,
            JobState::Running,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Canceled,
        ]
        .into_iter()
        .find(|state| state.as_str() == raw)
    }
}

/// `job_` + a UUIDv7: ids sort by creation, which the admin lists page by.
pub(crate) fn new_job_id() -> String {
    format!("job_{}", uuid::Uuid::now_v7().simple())
}

/// A job as the admin tools show it. The payload is never shown: it may carry a mailed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    pub name: String,
    pub state: JobState,
    pub queue: Option<String>,
    pub job_key: Option<String>,
    pub priority: i32,
    pub attempts: u32,
    /// `None`: the handler's.
    pub max_attempts: Option<u32>,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// What a list of jobs asks for: newest first, `limit` of them, after the job `after` (the
/// last id of the previous page).
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub limit: u64,
    pub after: Option<String>,
}

/// How many jobs are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobCounts {
    pub pending: u64,
    pub running: u64,
    pub failed: u64,
}

/// What retrying or canceling a job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The job as it is now.
    Done(JobRecord),
    NotFound,
    /// The job is in a state that does not allow it.
    Refused(JobState),
}

/// Counts a job added to the queue (`jobs_enqueued_total`); a deduplicated one is not.
pub fn count_enqueued(job: &str) {
    metrics::counter!("jobs_enqueued_total", "job" => job.to_owned()).increment(1);
}

/// What enqueueing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job, with its id.
    Created(String),
    /// A pending or running job already holds this `job_key`; nothing was added.
    Deduplicated,
}

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("the job queue's database failed: {0}")]
    Database(#[from] DbErr),
    #[error("the job payload is not serialisable: {0}")]
    Payload(String),
    #[error("no handler is registered for job {0:?}")]
    UnknownJob(String),
}

/// What a worker does until it is told to stop.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub concurrency: usize,
    /// Whether this worker also fires the registry's cron schedules.
    pub run_schedules: bool,
}

/// The queue as domain code and the admin tools see it.
#[async_trait::async_trait]
pub trait Jobs: Send + Sync + 'static {
    /// Short name of the backend, for the boot table and `/v1/config`.
    fn backend(&self) -> &'static str;

    /// True when a job survives the process that enqueued it.
    fn durable(&self) -> bool;

    /// Adds a job in the caller's transaction: it runs only if that transaction commits.
    async fn enqueue(&self, tx: &DatabaseTransaction, job: NewJob) -> Result<Enqueued, JobsError>;

    /// Starts working the jobs of `registry` (plus the queue's own retention job), with
    /// `JOBS_SCHEDULES` applied; [`Worker::stop`] drains it.
    fn start(&self, registry: Arc<Registry>, options: WorkerOptions) -> Worker;

    async fn list(&self, filter: JobFilter) -> Result<Vec<JobRecord>, JobsError>;

    async fn get(&self, id: &str) -> Result<Option<JobRecord>, JobsError>;

    /// Makes a failed or canceled job pending again, with its attempts reset.
    async fn retry(&self, id: &str) -> Result<Transition, JobsError>;

    /// Cancels a pending job.
    async fn cancel(&self, id: &str) -> Result<Transition, JobsError>;

    async fn counts(&self) -> Result<JobCounts, JobsError>;

    /// Whether the queue answers (its tables exist): for `orbit doctor` and `/ready`.
    async fn check(&self) -> Result<(), JobsError> {
        Ok(())
    }
}

/// Chooses the queue for these settings.
pub fn from_settings(settings: &JobsSettings, db: &DatabaseConnection) -> Arc<dyn Jobs> {
    match settings.mode {
        JobsMode::Database => Arc::new(DatabaseQueue::new(db.clone(), settings.clone())),
        JobsMode::Inline => Arc::new(InlineRunner::default()),
    }
}
