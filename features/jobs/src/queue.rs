use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbBackend};
use tokio::sync::Notify;

use crate::worker::{self, WorkerSetup};
use crate::{Handler, JobError};

/// The queue's own retention job.
pub const PRUNE_JOB: &str = "jobs.prune";
/// A job that does nothing, always registered: benchmarks and smoke tests enqueue it.
pub const NOOP_JOB: &str = "jobs.noop";
use crate::{
    Enqueued, JobCounts, JobFilter, JobRecord, JobState, Jobs, JobsError, JobsSettings, NewJob,
    Registry, Transition, Worker, WorkerOptions, store,
};

/// The durable queue, in the app's own database: Postgres (workers woken by `LISTEN/NOTIFY`,
/// claims with `FOR UPDATE SKIP LOCKED`, any number of workers) or SQLite (one process).
pub struct DatabaseQueue {
    db: DatabaseConnection,
    settings: JobsSettings,
    /// Wakes this process's worker when a job is enqueued here (SQLite) or notified (Postgres).
    wake: Arc<Notify>,
}

impl DatabaseQueue {
    pub fn new(db: DatabaseConnection, settings: JobsSettings) -> Self {
        Self {
            db,
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }

    /// Moves job `id` to `to`, or says why not.
    async fn transition(&self, id: &str, to: JobState) -> Result<Transition, JobsError> {
        if let Some(job) = store::transition(&self.db, id, to).await? {
            return Ok(Transition::Done(job));
        }
        Ok(match store::get(&self.db, id).await? {
            Some(job) => Transition::Refused(job.state),
            None => Transition::NotFound,
        })
    }

    /// `registry`, plus the daily job that deletes finished jobs older than the retention and
    /// the no-op job, with `JOBS_SCHEDULES` and `JOBS_RETRY_BASE_MS` applied.
    fn configured(&self, registry: &Registry) -> Registry {
        let (db, retention) = (self.db.clone(), self.settings.retention);
        let prune = Handler::new(PRUNE_JOB, move |_, _| {
            let db = db.clone();
            async move {
                let before = store::now_ms() - retention.as_millis() as i64;
                let deleted = store::prune(&db, before).await.map_err(JobError::retry)?;
                tracing::info!(deleted, "finished jobs past their retention deleted");
                Ok(())
            }
        })
        .every("@daily".parse().expect("a valid schedule"));
        let noop = Handler::new(NOOP_JOB, |_, _| async { Ok(()) });
        let mut registry = registry.clone().with(prune).with(noop);
        for unknown in registry.override_schedules(&self.settings.schedules) {
            tracing::warn!(job = %unknown, "JOBS_SCHEDULES names a job no handler runs");
        }
        if let Some(first_retry) = self.settings.retry_base {
            registry.override_backoff(first_retry);
        }
        registry
    }
}

#[async_trait::async_trait]
impl Jobs for DatabaseQueue {
    fn backend(&self) -> &'static str {
        match self.is_postgres() {
            true => "postgres",
            false => "sqlite",
        }
    }

    fn durable(&self) -> bool {
        true
    }

    async fn enqueue(&self, tx: &DatabaseTransaction, job: NewJob) -> Result<Enqueued, JobsError> {
        let enqueued = store::enqueue(tx, job).await?;
        if !self.is_postgres() {
            self.wake.notify_one();
        }
        Ok(enqueued)
    }

    fn start(&self, registry: Arc<Registry>, options: WorkerOptions) -> Worker {
        let registry = Arc::new(self.configured(&registry));
        let listener = self
            .is_postgres()
            .then(|| tokio::spawn(listen(self.db.clone(), self.wake.clone())));
        worker::start(WorkerSetup {
            db: self.db.clone(),
            settings: self.settings.clone(),
            registry,
            options,
            wake: self.wake.clone(),
            listener,
        })
    }

    async fn list(&self, filter: JobFilter) -> Result<Vec<JobRecord>, JobsError> {
        Ok(store::list(&self.db, &filter).await?)
    }

    async fn get(&self, id: &str) -> Result<Option<JobRecord>, JobsError> {
        Ok(store::get(&self.db, id).await?)
    }

    async fn retry(&self, id: &str) -> Result<Transition, JobsError> {
        let retried = self.transition(id, JobState::Pending).await?;
        if matches!(retried, Transition::Done(_)) {
            self.wake.notify_one();
        }
        Ok(retried)
    }

    async fn cancel(&self, id: &str) -> Result<Transition, JobsError> {
        self.transition(id, JobState::Canceled).await
    }

    async fn counts(&self) -> Result<JobCounts, JobsError> {
        Ok(store::counts(&self.db).await?)
    }

    async fn check(&self) -> Result<(), JobsError> {
        let filter = JobFilter {
            limit: 1,
            ..JobFilter::default()
        };
        store::list(&self.db, &filter).await?;
        Ok(())
    }
}

/// Wakes the worker on each notification of a due job; listens again when the connection
/// drops (the worker's poll covers the gap).
async fn listen(db: DatabaseConnection, wake: Arc<Notify>) {
    let pool = db.get_postgres_connection_pool().clone();
    loop {
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(store::WAKE_CHANNEL).await?;
            loop {
                listener.recv().await?;
                wake.notify_one();
            }
        };
        let result: Result<(), sqlx::Error> = listener.await;
        if let Err(err) = result {
            tracing::debug!(error = %err, "job wake-ups interrupted; listening again");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
