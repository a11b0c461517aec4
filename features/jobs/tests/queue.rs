//! The queue against a real database: SQLite in a temp dir, or Postgres when
//! `TEST_DATABASE_URL` names a server (a fresh database per test, dropped after).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use orbit_jobs::migration::CreateJobTables;
use orbit_jobs::{
    DatabaseQueue, Enqueued, Handler, InlineRunner, JobError, JobFilter, JobState, Jobs,
    JobsSettings, NewJob, Registry, Transition, Worker, WorkerOptions,
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, TransactionTrait};
use sea_orm_migration::{MigrationTrait, SchemaManager};

struct TestDb {
    db: DatabaseConnection,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    async fn create() -> Self {
        let test = match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if admin.starts_with("postgres") => {
                let name = format!("jobs_{}", uuid::Uuid::now_v7().simple());
                let server = Database::connect(&admin).await.unwrap();
                server
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap();
                server.close().await.unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&name);
                TestDb {
                    db: Database::connect(url.as_str()).await.unwrap(),
                    _dir: None,
                    postgres: Some((admin, name)),
                }
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
                TestDb {
                    db: Database::connect(&url).await.unwrap(),
                    _dir: Some(dir),
                    postgres: None,
                }
            }
        };
        CreateJobTables
            .up(&SchemaManager::new(&test.db))
            .await
            .unwrap();
        test
    }

    /// Another pool on the same database: another worker process, as far as the queue knows.
    async fn another_connection(&self) -> DatabaseConnection {
        match &self.postgres {
            Some((admin, name)) => {
                let mut url = url::Url::parse(admin).unwrap();
                url.set_path(name);
                Database::connect(url.as_str()).await.unwrap()
            }
            None => self.db.clone(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let server = Database::connect(&admin).await.unwrap();
                let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let _ = server.execute_unprepared(&drop).await;
            });
        })
        .join()
        .unwrap();
    }
}

fn settings() -> JobsSettings {
    JobsSettings {
        lease: Duration::from_secs(2),
        poll_interval: Duration::from_millis(100),
        ..JobsSettings::default()
    }
}

fn options() -> WorkerOptions {
    WorkerOptions {
        concurrency: 8,
        run_schedules: true,
    }
}

/// A handler that counts its runs.
fn counting(name: &str, runs: Arc<AtomicU32>) -> Handler {
    Handler::new(name, move |_, _| {
        let runs = runs.clone();
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    })
}

async fn enqueue(queue: &dyn Jobs, db: &DatabaseConnection, job: NewJob) -> Enqueued {
    let tx = db.begin().await.unwrap();
    let enqueued = queue.enqueue(&tx, job).await.unwrap();
    tx.commit().await.unwrap();
    enqueued
}

fn job(name: &str) -> NewJob {
    NewJob::new(name, &serde_json::json!({"n": 1})).unwrap()
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn state_of(queue: &DatabaseQueue, id: &str) -> JobState {
    queue.get(id).await.unwrap().expect("the job exists").state
}

fn id_of(enqueued: Enqueued) -> String {
    match enqueued {
        Enqueued::Created(id) => id,
        Enqueued::Deduplicated => panic!("expected a new job"),
    }
}

async fn stop(worker: Worker) {
    worker.stop(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_enqueued_in_a_rolled_back_transaction_never_runs() {
    let test = TestDb::create().await;
    let queue = DatabaseQueue::new(test.db.clone(), settings());
    let runs = Arc::new(AtomicU32::new(0));
    let registry = Registry::default().with(counting("count", runs.clone()));
    let worker = queue.start(Arc::new(registry), options());

    let tx = test.db.begin().await.unwrap();
    queue.enqueue(&tx, job("count")).await.unwrap();
    tx.rollback().await.unwrap();
    let committed = id_of(enqueue(&queue, &test.db, job("count")).await);

    eventually("the committed job ran", async || {
        state_of(&queue, &committed).await == JobState::Succeeded
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let all = queue
        .list(JobFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "the rolled-back job left no row");
    stop(worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_retried_with_backoff_until_it_succeeds() {
    let test = TestDb::create().await;
    let queue = DatabaseQueue::new(test.db.clone(), settings());
    let runs = Arc::new(AtomicU32::new(0));
    let counted = runs.clone();
    let flaky = Handler::new("flaky", move |context, _| {
        let runs = counted.clone();
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            match context.attempt < 3 {
                true => Err(JobError::retry(format!("outage {}", context.attempt))),
                false => Ok(()),
            }
        }
    })
    .backoff(Duration::from_millis(100));
    let worker = queue.start(Arc::new(Registry::default().with(flaky)), options());
    let started = std::time::Instant::now();
    let id = id_of(enqueue(&queue, &test.db, job("flaky")).await);

    eventually("it succeeded", async || {
        state_of(&queue, &id).await == JobState::Succeeded
    })
    .await;
    let record = queue.get(&id).await.unwrap().unwrap();
    assert_eq!(record.attempts, 3);
    assert_eq!(record.last_error, None);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    // Two backoffs: ~100 ms then ~200 ms, each ±25 %.
    assert!(
        started.elapsed() >= Duration::from_millis(225),
        "{:?}",
        started.elapsed()
    );
    stop(worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_job_is_kept_failed_with_its_error_until_retried() {
    let test = TestDb::create().await;
    let queue = DatabaseQueue::new(test.db.clone(), settings());
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = healthy.clone();
    let handler = Handler::new("provider", move |_, _| {
        let healthy = flag.load(Ordering::SeqCst);
        async move {
            match healthy {
                true => Ok(()),
                false => Err(JobError::retry("the provider answered 503")),
            }
        }
    })
    .max_attempts(2)
    .backoff(Duration::from_millis(20));
    let worker = queue.start(Arc::new(Registry::default().with(handler)), options());
    let id = id_of(enqueue(&queue, &test.db, job("provider")).await);

    eventually("it failed", async || {
        state_of(&queue, &id).await == JobState::Failed
    })
    .await;
    let failed = queue.get(&id).await.unwrap().unwrap();
    assert_eq!(failed.attempts, 2);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("the provider answered 503")
    );
    let listed = queue
        .list(JobFilter {
            state: Some(JobState::Failed),
            limit: 10,
            after: None,
        })
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|job| &job.id).collect::<Vec<_>>(), [&id]);
    assert_eq!(queue.counts().await.unwrap().failed, 1);

    healthy.store(true, Ordering::SeqCst);
    let Transition::Done(retried) = queue.retry(&id).await.unwrap() else {
        panic!("a failed job can be retried");
    };
    assert_eq!((retried.state, retried.attempts), (JobState::Pending, 0));
    eventually("the retry succeeded", async || {
        state_of(&queue, &id).await == JobState::Succeeded
    })
    .await;
    assert_eq!(
        queue.retry(&id).await.unwrap(),
        Transition::Refused(JobState::Succeeded),
        "only failed or canceled jobs retry"
    );
    assert_eq!(
        queue.cancel("job_unknown").await.unwrap(),
        Transition::NotFound
    );
    stop(worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_payload_fails_at_once() {
    let test = TestDb::create().await;
    let queue = DatabaseQueue::new(test.db.clone(), settings());
    let handler = Handler::typed("typed", |_, _payload: Vec<u8>| async { Ok(()) });
    let worker = queue.start(Arc::new(Registry::default().with(handler)), options());
    let id = id_of(enqueue(&queue, &test.db, job("typed")).await);
    eventually("it failed", async || {
        state_of(&queue, &id).await == JobState::Failed
    })
    .await;
    let failed = queue.get(&id).await.unwrap().unwrap();
    assert_eq!(failed.attempts, 1, "a permanent error is not retried");
    assert!(failed.last_error.unwrap().contains("payload"));
    stop(worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_names_one_live_job() {
    let test = TestDb::create().await;
    let queue = DatabaseQueue::new(test.db.clone(), settings());
    let later = Utc::now() + chrono::Duration::hours(1);
    let first = enqueue(
        &queue,
        &test.db,
        job("count").job_key("digest:ws_1").run_at(later),
    )
    .await;
    let first = id_of(first);
    let again = enqueue(&queue, &test.db, job("count").job_key("digest:ws_1")).await;
    assert_eq!(again, Enqueued::Deduplicated);
    let other = enqueue(&queue, &test.db, job("count").job_key("digest:ws_2")).await;
    assert!(matches!(other, Enqueued::Created(_)));

    // Once the keyed job is no longer live, the key is free again.
    let canceled = queue.cancel(&first).await.unwrap();
    assert!(
        matches!(canceled, Transition::Done(_)),
        "a pending job can be canceled"
    );
    assert_eq!(state_of(&queue, &first).await, JobState::Canceled);
    let renewed = enqueue(&queue, &test.db, job("count").job_key("digest:ws_1")).await;
    assert!(matches!(renewed, Enqueued::Created(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_job_waits_for_its_time() {
    let test = TestDb::create().await;
    let queue = DatabaseQueue::new(test.db.clone(), settings());
    let runs = Arc::new(AtomicU32::new(0));
    let registry = Registry::default().with(counting("count", runs.clone()));
    let worker = queue.start(Arc::new(registry), options());
    let at = Utc::now() + chrono::Duration::milliseconds(800);
    let id = id_of(enqueue(&queue, &test.db, job("count").run_at(at)).await);

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 0, "it ran before its time");
    assert_eq!(state_of(&queue, &id).await, JobState::Pending);
    eventually("it ran", async || {
        state_of(&queue, &id).await == JobState::Succeeded
    })
    .await;
    assert!(Utc::now() >= at);
    stop(worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_or_a_timeout_fails_that_attempt_only() {
    let test = TestDb::create().await;
    let queue = DatabaseQueue::new(test.db.clone(), settings());
    let panics = Handler::new("panics", |context, _| async move {
        if context.attempt == 1 {
            panic!("boom");
        }
        Ok(())
    })
    .backoff(Duration::from_millis(10));
    let hangs = Handler::new("hangs", |context, _| async move {
        if context.attempt == 1 {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Ok(())
    })
    .timeout(Duration::from_millis(200))
    .backoff(Duration::from_millis(10));
    let registry = Registry::default().with(panics).with(hangs);
    let worker = queue.start(Arc::new(registry), options());
    let panicked = id_of(enqueue(&queue, &test.db, job("panics")).await);
    let hung = id_of(enqueue(&queue, &test.db, job("hangs")).await);

    for id in [&panicked, &hung] {
        eventually("it succeeded on its second attempt", async || {
            state_of(&queue, id).await == JobState::Succeeded
        })
        .await;
        assert_eq!(queue.get(id).await.unwrap().unwrap().attempts, 2);
    }
    stop(worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_one_queue_never_overlap() {
    let test = TestDb::create().await;
    let queue = DatabaseQueue::new(test.db.clone(), settings());
    let (running, most, done) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (r, m, d) = (running.clone(), most.clone(), done.clone());
    let serial = Handler::new("serial", move |_, _| {
        let (running, most, done) = (r.clone(), m.clone(), d.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(40)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    // Two workers, as two processes would be.
    let registry = Arc::new(Registry::default().with(serial));
    let other = DatabaseQueue::new(test.another_connection().await, settings());
    let workers = [
        queue.start(registry.clone(), options()),
        other.start(registry, options()),
    ];
    for _ in 0..6 {
        enqueue(&queue, &test.db, job("serial").queue("billing:ws_1")).await;
    }
    eventually("all ran", async || done.load(Ordering::SeqCst) == 6).await;
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "two jobs of one queue ran at once"
    );
    for worker in workers {
        stop(worker).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_of_a_worker_that_stopped_renewing_its_lease_runs_elsewhere() {
    let test = TestDb::create().await;
    let queue = DatabaseQueue::new(test.db.clone(), settings());
    let id = id_of(enqueue(&queue, &test.db, job("count")).await);
    // A worker that claimed it and died: running, its lease run out.
    test.db
        .execute_unprepared(&format!(
            "UPDATE jobs SET state = 'running', attempts = 1, locked_by = 'worker_dead', \
             locked_until = {} WHERE id = '{id}'",
            Utc::now().timestamp_millis() - 1
        ))
        .await
        .unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let registry = Registry::default().with(counting("count", runs.clone()));
    let worker = queue.start(Arc::new(registry), options());
    eventually("it ran", async || {
        state_of(&queue, &id).await == JobState::Succeeded
    })
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(queue.get(&id).await.unwrap().unwrap().attempts, 2);
    stop(worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_ticks_once_across_workers() {
    let test = TestDb::create().await;
    let runs = Arc::new(AtomicU32::new(0));
    let tick = counting("tick", runs.clone()).every("@every 1s".parse().unwrap());
    let registry = Arc::new(Registry::default().with(tick));
    let mut workers = Vec::new();
    for _ in 0..3 {
        let queue = DatabaseQueue::new(test.another_connection().await, settings());
        workers.push(queue.start(registry.clone(), options()));
    }
    tokio::time::sleep(Duration::from_millis(4500)).await;
    for worker in workers {
        stop(worker).await;
    }
    let rows = test
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            test.db.get_database_backend(),
            "SELECT run_at, COUNT(*) AS n FROM jobs WHERE name = 'tick' GROUP BY run_at",
        ))
        .await
        .unwrap();
    let per_tick: Vec<i64> = rows
        .iter()
        .map(|row| row.try_get("", "n").unwrap())
        .collect();
    // A loaded machine may skip a tick (missed ticks are not made up), never repeat one.
    assert!(
        (2..=5).contains(&per_tick.len()),
        "{} ticks in 4.5 s",
        per_tick.len()
    );
    assert!(
        per_tick.iter().all(|n| *n == 1),
        "a tick ran more than once: {per_tick:?}"
    );
    let succeeded = test
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            test.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM jobs WHERE name = 'tick' AND state = 'succeeded'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    // The last tick may have been handed back unstarted by the stop.
    assert_eq!(i64::from(runs.load(Ordering::SeqCst)), succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_lets_running_jobs_finish_and_hands_back_the_rest() {
    let test = TestDb::create().await;
    let queue = DatabaseQueue::new(test.db.clone(), settings());
    // Counted when a handler is entered: a claimed job is `running` before its slot starts it.
    let started = Arc::new(AtomicU32::new(0));
    let quick = Handler::new("quick", {
        let started = started.clone();
        move |_, _| {
            started.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(())
            }
        }
    });
    let endless = Handler::new("endless", {
        let started = started.clone();
        move |_, _| {
            started.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(600)).await;
                Ok(())
            }
        }
    })
    .timeout(Duration::from_secs(900));
    let registry = Arc::new(Registry::default().with(quick).with(endless));
    let worker = queue.start(registry, options());
    let quick = id_of(enqueue(&queue, &test.db, job("quick")).await);
    let endless = id_of(enqueue(&queue, &test.db, job("endless")).await);
    eventually("both started", async || started.load(Ordering::SeqCst) == 2).await;
    // Generous next to the quick job's 300 ms: a loaded CI machine must not cut it off.
    worker.stop(Duration::from_secs(3)).await;
    assert_eq!(state_of(&queue, &quick).await, JobState::Succeeded);
    let endless = queue.get(&endless).await.unwrap().unwrap();
    assert_eq!(endless.state, JobState::Pending, "handed back");
    assert_eq!(endless.last_error.as_deref(), Some("cut off by a shutdown"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_runs_each_job_at_once_without_a_queue() {
    let test = TestDb::create().await;
    let runner = InlineRunner::default();
    let runs = Arc::new(AtomicU32::new(0));
    let registry = Registry::default().with(counting("count", runs.clone()));
    let worker = runner.start(Arc::new(registry), options());
    assert!(!runner.durable());
    enqueue(&runner, &test.db, job("count")).await;
    eventually("it ran", async || runs.load(Ordering::SeqCst) == 1).await;
    let unknown = {
        let tx = test.db.begin().await.unwrap();
        runner.enqueue(&tx, job("nobody")).await
    };
    assert!(unknown.is_err(), "an unknown job is refused at once");
    stop(worker).await;
}
