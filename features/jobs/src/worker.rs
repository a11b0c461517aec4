//! The loop that works a queue: claim due jobs, run them on bounded tasks, record outcomes,
//! renew leases, return jobs of lost workers, fire schedules, and drain on stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use sea_orm::DatabaseConnection;
use tokio::sync::{Mutex, Notify, mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::registry::{Handler, JobContext, JobError};
use crate::store::{self, Claimed};
use crate::{JobsSettings, NewJob, Registry, WorkerOptions};

/// Claims run ahead of free slots only while jobs finish this fast (microseconds, moving
/// average): a batch of slow jobs would wait in one worker while another sits idle.
const FAST_JOB_MICROS: u64 = 10_000;
/// How many jobs a worker claims at once while jobs are fast: a claim costs a few round trips
/// whatever its size, so quick jobs are claimed by the hundred.
const FAST_CLAIM: usize = 500;
/// Successes recorded per statement. Kept small: sqlx does not set `TCP_NODELAY`, and a
/// statement with a large parameter (500 ids, ~20 kB) stalled ~40 ms in Nagle's algorithm
/// on every flush.
const COMPLETE_BATCH: usize = 100;
const MAINTENANCE_EVERY: Duration = Duration::from_secs(1);
/// Right after a wake-up that found nothing (on SQLite the enqueueing transaction may not
/// have committed yet), look again this soon, doubling, before waiting for the next poll.
const EAGER_RETRIES: [u64; 5] = [5, 10, 20, 40, 80];

/// A running worker. [`Worker::stop`] drains it.
pub struct Worker {
    /// Set to the drain's grace period when the worker is told to stop.
    stop: watch::Sender<Option<Duration>>,
    done: tokio::task::JoinHandle<()>,
}

/// What a worker's tasks watch: `Some(grace)` once it is told to stop.
pub(crate) type StopSignal = watch::Receiver<Option<Duration>>;

impl Worker {
    pub(crate) fn spawn<F>(run: impl FnOnce(StopSignal) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(None);
        Self {
            stop,
            done: tokio::spawn(run(stopped)),
        }
    }

    /// Stops claiming, lets running jobs finish within `grace`, and hands the rest back to the
    /// queue for another worker.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(Some(grace));
        // The worker bounds its own drain by `grace`; this is a backstop.
        let _ = tokio::time::timeout(grace + Duration::from_secs(5), self.done).await;
    }
}

pub(crate) struct WorkerSetup {
    pub db: DatabaseConnection,
    pub settings: JobsSettings,
    pub registry: Arc<Registry>,
    pub options: WorkerOptions,
    pub wake: Arc<Notify>,
    /// The task that turns notifications into wake-ups (Postgres), stopped with the worker:
    /// its connection must not hold up the pool's closing.
    pub listener: Option<tokio::task::JoinHandle<()>>,
}

/// Everything the tasks of one worker share.
struct Shared {
    db: DatabaseConnection,
    id: String,
    registry: Arc<Registry>,
    lease_ms: i64,
    average_micros: AtomicU64,
    completed: mpsc::Sender<String>,
}

pub(crate) fn start(setup: WorkerSetup) -> Worker {
    Worker::spawn(|stopped| run(setup, stopped))
}

async fn run(setup: WorkerSetup, mut stopped: StopSignal) {
    let WorkerSetup {
        db,
        settings,
        registry,
        options,
        wake,
        listener,
    } = setup;
    // Bounded: a worker never holds more finished-but-unrecorded jobs than a few batches.
    let (completed, completions) = mpsc::channel(COMPLETE_BATCH * 4);
    let shared = Arc::new(Shared {
        db: db.clone(),
        id: format!("worker_{}", uuid::Uuid::now_v7().simple()),
        registry,
        lease_ms: settings.lease.as_millis() as i64,
        average_micros: AtomicU64::new(FAST_JOB_MICROS * 10),
        completed,
    });
    tracing::info!(
        worker = %shared.id,
        concurrency = options.concurrency,
        schedules = options.run_schedules,
        "jobs worker started"
    );
    let completer = tokio::spawn(complete(db.clone(), completions));
    let maintenance = tokio::spawn(maintain(
        shared.clone(),
        settings.clone(),
        options.run_schedules,
        stopped.clone(),
    ));
    // Claimed jobs wait here for a slot, in chunks (a slot takes a chunk at a time: one
    // hand-off per chunk, not per job); the claimer refills it while the slots work.
    let (queued, to_run) = mpsc::channel::<Vec<Claimed>>(options.concurrency);
    let to_run = Arc::new(Mutex::new(to_run));
    let slots = Arc::new(Slots {
        idle: AtomicUsize::new(options.concurrency),
        freed: Notify::new(),
    });
    let claimer = tokio::spawn(claim_batches(
        shared.clone(),
        slots.clone(),
        options.concurrency,
        settings.poll_interval,
        wake,
        queued,
        stopped.clone(),
    ));
    // Long-lived slot tasks that take job after job: no task, and no wake-up of another
    // thread, per job.
    let mut running = JoinSet::new();
    for _ in 0..options.concurrency {
        let (shared, slots, to_run) = (shared.clone(), slots.clone(), to_run.clone());
        running.spawn(work_slot(shared, slots, to_run, stopped.clone()));
    }
    let _ = stopped.changed().await;
    if let Some(listener) = listener {
        listener.abort();
    }

    let mut unstarted: Vec<String> = claimer
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|job| job.id)
        .collect();
    let grace = stopped.borrow().unwrap_or_default();
    let drained = tokio::time::timeout(grace, async {
        while let Some(left) = running.join_next().await {
            unstarted.extend(left.unwrap_or_default().into_iter().map(|job| job.id));
        }
    })
    .await;
    running.abort_all();
    while running.join_next().await.is_some() {}
    let mut to_run = to_run.lock().await;
    while let Ok(chunk) = to_run.try_recv() {
        unstarted.extend(chunk.into_iter().map(|job| job.id));
    }
    if let Err(err) = store::release(&db, &unstarted, false).await {
        tracing::warn!(error = %err, "could not hand unstarted jobs back; their lease will expire");
    }
    maintenance.abort();
    let worker_id = shared.id.clone();
    drop(shared);
    // Successes are recorded before anything still held is handed back.
    let _ = completer.await;
    if drained.is_err() {
        // Cut off mid-run: handed back as started, so the attempt counts.
        match store::release_held(&db, &worker_id).await {
            Ok(n) => tracing::warn!(jobs = n, "jobs still running at the deadline handed back"),
            Err(err) => {
                tracing::warn!(error = %err, "could not hand running jobs back; their lease will expire")
            }
        }
    }
    tracing::info!("jobs worker stopped");
}

/// How many of a worker's slots are free, and a signal when one frees.
struct Slots {
    idle: AtomicUsize,
    freed: Notify,
}

/// Whether the worker has been told to stop.
fn stopping(stopped: &StopSignal) -> bool {
    stopped.borrow().is_some()
}

/// One of a worker's `JOBS_CONCURRENCY` slots: runs the claimed jobs, a chunk at a time,
/// until the worker stops; returns the jobs of its chunk it did not start.
async fn work_slot(
    shared: Arc<Shared>,
    slots: Arc<Slots>,
    to_run: Arc<Mutex<mpsc::Receiver<Vec<Claimed>>>>,
    mut stopped: StopSignal,
) -> Vec<Claimed> {
    loop {
        let next = {
            let mut to_run = to_run.lock().await;
            tokio::select! {
                biased;
                _ = stopped.changed() => None,
                chunk = to_run.recv() => chunk,
            }
        };
        let Some(chunk) = next else {
            return Vec::new();
        };
        slots.idle.fetch_sub(1, Ordering::Relaxed);
        let mut chunk = chunk.into_iter();
        while let Some(job) = chunk.next() {
            if stopping(&stopped) {
                return std::iter::once(job).chain(chunk).collect();
            }
            run_one(&shared, job).await;
        }
        slots.idle.fetch_add(1, Ordering::Relaxed);
        slots.freed.notify_one();
    }
}

/// Claims due jobs for the slots until the worker stops (then returns those it could not
/// queue): at once while jobs are due; when none are, on a wake-up (a job enqueued), soon
/// after a wake-up that found nothing, or at the next poll.
async fn claim_batches(
    shared: Arc<Shared>,
    slots: Arc<Slots>,
    concurrency: usize,
    poll_interval: Duration,
    wake: Arc<Notify>,
    queued: mpsc::Sender<Vec<Claimed>>,
    mut stopped: StopSignal,
) -> Vec<Claimed> {
    let mut eager = 0;
    while !stopping(&stopped) {
        let fast = shared.average_micros.load(Ordering::Relaxed) < FAST_JOB_MICROS;
        let limit = match fast {
            // Quick jobs: by the hundred (the queue of chunks bounds how far ahead).
            true => FAST_CLAIM,
            // Slow jobs: only what idle slots start now, so that another worker with idle
            // slots gets the rest.
            false => {
                while slots.idle.load(Ordering::Relaxed) == 0
                    || queued.capacity() < queued.max_capacity()
                {
                    tokio::select! {
                        _ = slots.freed.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = stopped.changed() => break,
                    }
                }
                slots.idle.load(Ordering::Relaxed).max(1)
            }
        };
        if stopping(&stopped) {
            break;
        }
        let jobs = match store::claim(&shared.db, &shared.id, limit as u64, shared.lease_ms).await {
            Ok(jobs) => jobs,
            Err(err) => {
                tracing::warn!(error = %err, "could not claim jobs; retrying");
                Vec::new()
            }
        };
        if !jobs.is_empty() {
            eager = 0;
            // One chunk per slot.
            let size = jobs.len().div_ceil(concurrency);
            let mut chunks: Vec<Vec<Claimed>> = jobs.chunks(size).map(<[_]>::to_vec).collect();
            while !chunks.is_empty() {
                let chunk = chunks.remove(0);
                tokio::select! {
                    sent = queued.send(chunk.clone()) => if sent.is_err() { return chunk },
                    // Stopping while these wait for room: the worker hands them back.
                    _ = stopped.changed() => {
                        return chunk.into_iter().chain(chunks.into_iter().flatten()).collect();
                    }
                }
            }
            continue;
        }
        let wait = match EAGER_RETRIES.get(eager) {
            Some(ms) => Duration::from_millis(*ms),
            None => poll_interval,
        };
        eager += 1;
        tokio::select! {
            _ = wake.notified() => eager = 0,
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {}
        }
    }
    Vec::new()
}

async fn run_one(shared: &Shared, job: Claimed) {
    let started = Instant::now();
    let span = tracing::info_span!(
        "job",
        otel.name = %job.name,
        job.name = %job.name,
        job.id = %job.id,
        job.attempt = job.attempts,
    );
    let outcome = attempt(shared, &job).instrument(span).await;
    let elapsed = started.elapsed();
    let micros = elapsed.as_micros().min(u64::MAX as u128) as u64;
    let average = shared.average_micros.load(Ordering::Relaxed);
    shared
        .average_micros
        .store((average * 7 + micros) / 8, Ordering::Relaxed);
    let ms = elapsed.as_secs_f64() * 1000.0;
    let counted = match &outcome {
        Ok(()) => "succeeded",
        Err((_, Some(_))) => "retried",
        Err((_, None)) => "failed",
    };
    metrics::counter!("jobs_runs_total", "job" => job.name.clone(), "outcome" => counted)
        .increment(1);
    match outcome {
        Ok(()) => {
            tracing::info!(job = %job.name, id = %job.id, attempt = job.attempts, ms, outcome = "succeeded", "job run");
            let _ = shared.completed.send(job.id).await;
        }
        Err((error, retry_at)) => {
            let outcome = match retry_at {
                Some(_) => "retrying",
                None => "failed",
            };
            tracing::warn!(job = %job.name, id = %job.id, attempt = job.attempts, ms, outcome, error = %error, "job run");
            if let Err(err) = store::fail(&shared.db, &job.id, &error, retry_at).await {
                tracing::error!(id = %job.id, error = %err, "could not record a failed job; its lease will expire");
            }
        }
    }
}

/// Runs a claimed job. On failure: the error and, when another attempt is due, when.
async fn attempt(shared: &Shared, job: &Claimed) -> Result<(), (String, Option<i64>)> {
    let Some(handler) = shared.registry.get(&job.name) else {
        // A worker of an older release may meet a job a newer one enqueued: leave it for a
        // worker that knows it, a little later.
        let error = format!("no handler for {:?} in this worker", job.name);
        let retry_at = (job.attempts < 25).then(|| store::now_ms() + 60_000);
        return Err((error, retry_at));
    };
    let max_attempts = job.max_attempts.unwrap_or(handler.max_attempts);
    if job.attempts > max_attempts {
        return Err(("the worker running its last attempt stopped".into(), None));
    }
    let payload = serde_json::from_str(&job.payload).unwrap_or(serde_json::Value::Null);
    let context = JobContext {
        id: job.id.clone(),
        name: job.name.clone(),
        attempt: job.attempts,
        max_attempts,
    };
    let error = match call(handler, context, payload).await {
        Ok(()) => return Ok(()),
        Err(error) => error,
    };
    let retry_at = match &error {
        JobError::Retry(_) if job.attempts < max_attempts => {
            Some(store::now_ms() + backoff(handler.backoff, job.attempts).as_millis() as i64)
        }
        _ => None,
    };
    Err((error.to_string(), retry_at))
}

/// The handler within its timeout; a panic fails this attempt only.
pub(crate) async fn call(
    handler: &Handler,
    context: JobContext,
    payload: serde_json::Value,
) -> Result<(), JobError> {
    let run = std::panic::AssertUnwindSafe(handler.call(context, payload)).catch_unwind();
    match tokio::time::timeout(handler.timeout, run).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Err(JobError::Retry(format!("the handler panicked: {message}")))
        }
        Err(_) => Err(JobError::Retry(format!(
            "timed out after {} s",
            handler.timeout.as_secs_f64()
        ))),
    }
}

/// `first × 2^(attempt-1)`, at most an hour, ±25 % jitter so that retries spread out.
pub(crate) fn backoff(first: Duration, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let delay = first
        .saturating_mul(1 << exponent)
        .min(Duration::from_secs(3600));
    delay.mul_f64(rand::random_range(0.75..1.25))
}

/// Records successes in batches.
async fn complete(db: DatabaseConnection, mut completions: mpsc::Receiver<String>) {
    let mut ids = Vec::with_capacity(COMPLETE_BATCH);
    while completions.recv_many(&mut ids, COMPLETE_BATCH).await > 0 {
        let mut delay = Duration::from_millis(100);
        while let Err(err) = store::succeed(&db, &ids).await {
            tracing::warn!(error = %err, jobs = ids.len(), "could not record finished jobs; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        ids.clear();
    }
}

/// Every second: return the jobs of lost workers and fire due schedules; every third of a
/// lease: renew this worker's leases.
async fn maintain(
    shared: Arc<Shared>,
    settings: JobsSettings,
    run_schedules: bool,
    mut stopped: StopSignal,
) {
    let mut ticker = tokio::time::interval(MAINTENANCE_EVERY);
    let mut heartbeat = tokio::time::interval(settings.lease / 3);
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = heartbeat.tick() => {
                if let Err(err) = store::heartbeat(&shared.db, &shared.id, shared.lease_ms).await {
                    tracing::warn!(error = %err, "could not renew job leases");
                }
            }
            _ = ticker.tick() => {
                match store::reclaim_expired(&shared.db).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(jobs = n, "jobs of a lost worker returned to the queue"),
                    Err(err) => tracing::warn!(error = %err, "could not check job leases"),
                }
                if run_schedules {
                    fire_schedules(&shared).await;
                }
            }
        }
    }
}

async fn fire_schedules(shared: &Shared) {
    let due = match store::schedules(&shared.db).await {
        Ok(due) => due,
        Err(err) => return tracing::warn!(error = %err, "could not read job schedules"),
    };
    let now = chrono::Utc::now();
    for (handler, schedule) in shared.registry.scheduled() {
        let Some(next) = schedule.next_after(now) else {
            continue;
        };
        let next = next.timestamp_millis();
        let result = match due.get(&handler.name) {
            Some((spec, tick)) if spec == schedule.spec() => {
                if *tick > now.timestamp_millis() {
                    continue;
                }
                // Missed ticks (the app was down) are not made up: one run, then the next
                // tick after now. While the last tick's job is still waiting or running, the
                // key makes this one a no-op.
                let mut job =
                    NewJob::named(&handler.name).job_key(format!("schedule:{}", handler.name));
                job.run_at = chrono::DateTime::from_timestamp_millis(*tick);
                store::take_tick(&shared.db, &handler.name, *tick, next, job)
                    .await
                    .map(|created| {
                        if created {
                            crate::count_enqueued(&handler.name);
                        }
                    })
            }
            _ => store::set_schedule(&shared.db, &handler.name, schedule.spec(), next).await,
        };
        if let Err(err) = result {
            tracing::warn!(schedule = %handler.name, error = %err, "could not fire a schedule");
        }
    }
}
