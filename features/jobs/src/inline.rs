use std::sync::{Arc, OnceLock};

use sea_orm::DatabaseTransaction;
use tokio::sync::watch;

use crate::new_job_id;
use crate::registry::{JobContext, JobError};
use crate::worker::backoff;
use crate::{
    Enqueued, JobCounts, JobFilter, JobRecord, Jobs, JobsError, NewJob, Registry, Transition,
    Worker, WorkerOptions,
};

/// The fallback (`JOBS_BACKEND=inline`): each job runs on a spawned task as soon as it is
/// enqueued (retrying in memory), whether or not the transaction commits, and is lost if the
/// process stops. Schedules tick in every process. For development and tests only.
#[derive(Default)]
pub struct InlineRunner {
    registry: OnceLock<Arc<Registry>>,
}

#[async_trait::async_trait]
impl Jobs for InlineRunner {
    fn backend(&self) -> &'static str {
        "inline"
    }

    fn durable(&self) -> bool {
        false
    }

    async fn enqueue(&self, _tx: &DatabaseTransaction, job: NewJob) -> Result<Enqueued, JobsError> {
        let registry = self.registry.get().cloned().unwrap_or_default();
        let handler = registry
            .get(&job.name)
            .cloned()
            .ok_or_else(|| JobsError::UnknownJob(job.name.clone()))?;
        let id = new_job_id();
        tokio::spawn(run_inline(handler, id.clone(), job));
        Ok(Enqueued::Created(id))
    }

    fn start(&self, registry: Arc<Registry>, _options: WorkerOptions) -> Worker {
        let _ = self.registry.set(registry.clone());
        Worker::spawn(|mut stopped| async move {
            let schedules: Vec<_> = registry
                .scheduled()
                .map(|(handler, schedule)| (handler.clone(), schedule.clone()))
                .collect();
            let mut ticks = tokio::task::JoinSet::new();
            for (handler, schedule) in schedules {
                let mut stopped: watch::Receiver<_> = stopped.clone();
                ticks.spawn(async move {
                    while let Some(next) = schedule.next_after(chrono::Utc::now()) {
                        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = stopped.changed() => return,
                        }
                        let job = NewJob::named(&handler.name);
                        run_inline(handler.clone(), new_job_id(), job).await;
                    }
                });
            }
            let _ = stopped.changed().await;
            ticks.abort_all();
        })
    }

    async fn list(&self, _filter: JobFilter) -> Result<Vec<JobRecord>, JobsError> {
        Ok(Vec::new())
    }

    async fn get(&self, _id: &str) -> Result<Option<JobRecord>, JobsError> {
        Ok(None)
    }

    async fn retry(&self, _id: &str) -> Result<Transition, JobsError> {
        Ok(Transition::NotFound)
    }

    async fn cancel(&self, _id: &str) -> Result<Transition, JobsError> {
        Ok(Transition::NotFound)
    }

    async fn counts(&self) -> Result<JobCounts, JobsError> {
        Ok(JobCounts::default())
    }
}

async fn run_inline(handler: crate::Handler, id: String, job: NewJob) {
    if let Some(at) = job.run_at {
        let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
    }
    let max_attempts = job.max_attempts.unwrap_or(handler.max_attempts);
    for attempt in 1..=max_attempts {
        let context = JobContext {
            id: id.clone(),
            name: job.name.clone(),
            attempt,
            max_attempts,
        };
        let started = std::time::Instant::now();
        let result = crate::worker::call(&handler, context, job.payload.clone()).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(()) => {
                tracing::info!(job = %job.name, id = %id, attempt, ms, outcome = "succeeded", backend = "inline", "job run");
                return;
            }
            Err(JobError::Retry(error)) if attempt < max_attempts => {
                tracing::warn!(job = %job.name, id = %id, attempt, ms, outcome = "retrying", error = %error, backend = "inline", "job run");
                tokio::time::sleep(backoff(handler.backoff, attempt)).await;
            }
            Err(error) => {
                tracing::error!(job = %job.name, id = %id, attempt, ms, outcome = "failed", error = %error, backend = "inline", "job run");
                return;
            }
        }
    }
}
