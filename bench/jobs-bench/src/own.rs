//! Candidate C: a minimal Postgres queue of our own (baseline, not production code).
//!
//! - enqueue: one multi-row `INSERT … SELECT unnest($1)` plus `pg_notify('jobs_new')` in the
//!   caller's transaction (so the job and the notification appear only at COMMIT);
//! - claim: `UPDATE … SET state='running', locked_until=now()+lease, attempts=attempts+1
//!   WHERE id = ANY(ARRAY(SELECT id … ORDER BY priority, run_at, id LIMIT n FOR UPDATE SKIP LOCKED))`;
//!   up to `fetch` jobs claimed ahead of `concurrency` running handlers;
//! - completion: batched `DELETE … WHERE id = ANY($1)`; failure: back to `pending` with an
//!   exponential backoff on `run_at`, or `failed` after `max_attempts`;
//! - wake-ups: one `LISTEN jobs_new` connection, plus a fallback poll every second;
//! - crash recovery: a reaper returns `running` jobs whose lease expired to `pending`.

use std::{sync::Arc, time::Duration};

use sqlx::{PgPool, Postgres, Transaction, postgres::PgListener};
use tokio::{
    sync::{Notify, Semaphore, mpsc, watch},
    task::JoinHandle,
};

use crate::{BoxError, Noop, probe};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS jobs (
    id           bigserial PRIMARY KEY,
    queue        text,
    name         text        NOT NULL,
    payload      jsonb       NOT NULL,
    priority     int         NOT NULL DEFAULT 0,
    run_at       timestamptz NOT NULL DEFAULT now(),
    attempts     int         NOT NULL DEFAULT 0,
    max_attempts int         NOT NULL DEFAULT 25,
    locked_until timestamptz,
    state        text        NOT NULL DEFAULT 'pending',
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS jobs_pending_idx ON jobs (priority, run_at, id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS jobs_lease_idx ON jobs (locked_until) WHERE state = 'running';
"#;

const ENQUEUE: &str = r#"
WITH ins AS (
    INSERT INTO jobs (queue, name, payload)
    SELECT NULL, 'noop', p FROM unnest($1::jsonb[]) AS p
    RETURNING 1
)
SELECT pg_notify('jobs_new', '')
"#;

const CLAIM: &str = r#"
UPDATE jobs
SET state = 'running', locked_until = now() + make_interval(secs => $2), attempts = attempts + 1
WHERE id = ANY(ARRAY(
    SELECT id FROM jobs
    WHERE state = 'pending' AND run_at <= now()
    ORDER BY priority, run_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED))
RETURNING id, name, payload
"#;

const COMPLETE: &str = "DELETE FROM jobs WHERE id = ANY($1)";

const FAIL: &str = r#"
UPDATE jobs
SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
    run_at = now() + make_interval(secs => least(power(2, attempts), 3600)),
    locked_until = NULL, last_error = $2
WHERE id = $1 AND state = 'running'
"#;

const REAP: &str = r#"
UPDATE jobs
SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END, locked_until = NULL
WHERE state = 'running' AND locked_until < now()
"#;

pub async fn setup(pool: &PgPool) -> Result<(), BoxError> {
    sqlx::raw_sql(SCHEMA).execute(pool).await?;
    Ok(())
}

pub async fn reset(pool: &PgPool) -> Result<(), BoxError> {
    sqlx::query("TRUNCATE jobs").execute(pool).await?;
    Ok(())
}

pub async fn remaining(pool: &PgPool) -> Result<i64, BoxError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(pool).await?)
}

/// Enqueue inside the caller's transaction (one statement for 1 or many jobs).
pub async fn enqueue(tx: &mut Transaction<'_, Postgres>, seqs: &[u64]) -> Result<(), BoxError> {
    let payloads: Vec<serde_json::Value> = seqs
        .iter()
        .map(|&seq| serde_json::to_value(Noop { seq }).unwrap())
        .collect();
    sqlx::query(ENQUEUE).bind(payloads).execute(&mut **tx).await?;
    Ok(())
}

async fn run_handler(name: &str, payload: serde_json::Value) -> Result<(), String> {
    match name {
        "noop" => {
            let job: Noop = serde_json::from_value(payload).map_err(|e| e.to_string())?;
            probe().hit(job.seq);
            Ok(())
        }
        other => Err(format!("no handler for {other}")),
    }
}

pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            if tokio::time::timeout(Duration::from_secs(10), t).await.is_err() {
                eprintln!("own worker task did not stop within 10 s");
            }
        }
    }
}

/// Starts the listener, claimer, completer and lease reaper; returns once LISTEN is active.
pub async fn start(pool: &PgPool, concurrency: usize, fetch: usize, lease_secs: u32) -> Result<Running, BoxError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());

    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen("jobs_new").await?;
    let listen_task = {
        let (wake, mut stop) = (wake.clone(), stop_rx.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    n = listener.recv() => match n {
                        Ok(_) => wake.notify_one(),
                        // recv() reconnects by itself; the 1 s fallback poll covers the gap.
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    },
                    _ = stop.changed() => break,
                }
            }
        })
    };

    let (done_tx, done_rx) = mpsc::unbounded_channel::<i64>();
    let completer = tokio::spawn(completer(pool.clone(), done_rx));
    let claimer = tokio::spawn(claimer(
        pool.clone(),
        concurrency,
        fetch.max(concurrency),
        lease_secs,
        wake,
        stop_rx.clone(),
        done_tx,
    ));
    let reaper = {
        let (pool, mut stop) = (pool.clone(), stop_rx);
        tokio::spawn(async move {
            let period = Duration::from_secs((lease_secs as u64 / 2).max(1));
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(period) => {
                        if let Err(e) = sqlx::query(REAP).execute(&pool).await {
                            eprintln!("own reaper: {e}");
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        })
    };
    Ok(Running { stop: stop_tx, tasks: vec![claimer, completer, listen_task, reaper] })
}

/// Claims up to `max_claimed` jobs ahead (claimed but not finished), runs at most
/// `concurrency` handlers at once. Waits for a NOTIFY (or 1 s) when the queue is empty.
async fn claimer(
    pool: PgPool,
    concurrency: usize,
    max_claimed: usize,
    lease_secs: u32,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    done: mpsc::UnboundedSender<i64>,
) {
    let exec = Arc::new(Semaphore::new(concurrency));
    let slots = Arc::new(Semaphore::new(max_claimed));
    loop {
        if *stop.borrow() {
            break;
        }
        // At least one free slot, then take every free slot (only this task acquires).
        tokio::select! {
            p = slots.acquire() => p.unwrap().forget(),
            _ = stop.changed() => break,
        }
        let extra = slots.available_permits();
        if extra > 0 {
            slots.try_acquire_many(extra as u32).unwrap().forget();
        }
        let want = 1 + extra;
        let rows = sqlx::query_as::<_, (i64, String, serde_json::Value)>(CLAIM)
            .bind(want as i64)
            .bind(lease_secs as f64)
            .fetch_all(&pool)
            .await;
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                eprintln!("own claim: {e}");
                slots.add_permits(want);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let got = rows.len();
        slots.add_permits(want - got);
        for (id, name, payload) in rows {
            let (exec, slots, done, pool) = (exec.clone(), slots.clone(), done.clone(), pool.clone());
            tokio::spawn(async move {
                let permit = exec.acquire_owned().await.unwrap();
                let result = run_handler(&name, payload).await;
                drop(permit);
                match result {
                    Ok(()) => {
                        let _ = done.send(id);
                    }
                    Err(e) => {
                        if let Err(e) = sqlx::query(FAIL).bind(id).bind(e).execute(&pool).await {
                            eprintln!("own fail: {e}");
                        }
                    }
                }
                slots.add_permits(1);
            });
        }
        if got == 0 {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => break,
            }
        }
    }
    // Let the in-flight handlers finish (they hold slots) before the completer closes.
    let _ = tokio::time::timeout(Duration::from_secs(5), slots.acquire_many(max_claimed as u32)).await;
}

/// Deletes completed jobs in batches of up to 1000; ends when every sender is gone.
async fn completer(pool: PgPool, mut rx: mpsc::UnboundedReceiver<i64>) {
    let mut buf = Vec::with_capacity(1000);
    while rx.recv_many(&mut buf, 1000).await > 0 {
        if let Err(e) = sqlx::query(COMPLETE).bind(&buf).execute(&pool).await {
            eprintln!("own complete: {e}");
        }
        buf.clear();
    }
}
