//! Enqueues `jobs.noop` jobs into an Orbit database through the app's own queue crate, each
//! batch in its own sea-orm transaction, for bench/jobs.sh:
//!
//!   jobs-load enqueue SECONDS TASKS PER_TX   enqueue for SECONDS, TASKS at once; prints jobs/s
//!   jobs-load fill COUNT                     COUNT jobs, 1,000 per transaction
//!   jobs-load trickle COUNT GAP_MS           one job every GAP_MS (latency runs)
//!
//! DATABASE_URL names the (migrated) database.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orbit_jobs::{DatabaseQueue, Jobs, JobsSettings, NewJob};
use sea_orm::{Database, DatabaseConnection, TransactionTrait};

const NOOP: &str = "jobs.noop";

async fn enqueue_batch(queue: &DatabaseQueue, db: &DatabaseConnection, count: u64) {
    let tx = db.begin().await.expect("begin");
    for _ in 0..count {
        let job = NewJob::new(NOOP, &serde_json::Value::Null).expect("a payload");
        queue.enqueue(&tx, job).await.expect("enqueue");
    }
    tx.commit().await.expect("commit");
}

fn arg(args: &[String], at: usize, name: &str) -> u64 {
    args.get(at)
        .and_then(|raw| raw.parse().ok())
        .unwrap_or_else(|| {
            panic!("missing or bad {name}; see the header of bench/jobs-load/src/main.rs")
        })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let mut options = sea_orm::ConnectOptions::new(url);
    options.max_connections(32).sqlx_logging(false);
    let db = Database::connect(options).await.expect("connect");
    let queue = Arc::new(DatabaseQueue::new(db.clone(), JobsSettings::default()));
    match args.get(1).map(String::as_str) {
        Some("enqueue") => {
            let (seconds, tasks, per_tx) = (
                arg(&args, 2, "SECONDS"),
                arg(&args, 3, "TASKS"),
                arg(&args, 4, "PER_TX"),
            );
            let done = Arc::new(AtomicU64::new(0));
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let started = Instant::now();
            let workers: Vec<_> = (0..tasks)
                .map(|_| {
                    let (queue, db, done) = (queue.clone(), db.clone(), done.clone());
                    tokio::spawn(async move {
                        while Instant::now() < deadline {
                            enqueue_batch(&queue, &db, per_tx).await;
                            done.fetch_add(per_tx, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.await.expect("an enqueueing task");
            }
            let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
            println!("RESULT enqueue tasks={tasks} per_tx={per_tx} rate={rate:.0}");
        }
        Some("fill") => {
            let mut left = arg(&args, 2, "COUNT");
            while left > 0 {
                let batch = left.min(1000);
                enqueue_batch(&queue, &db, batch).await;
                left -= batch;
            }
        }
        Some("trickle") => {
            let (count, gap) = (arg(&args, 2, "COUNT"), arg(&args, 3, "GAP_MS"));
            for _ in 0..count {
                enqueue_batch(&queue, &db, 1).await;
                tokio::time::sleep(Duration::from_millis(gap)).await;
            }
        }
        _ => panic!("usage: see the header of bench/jobs-load/src/main.rs"),
    }
    db.close().await.expect("close");
}
