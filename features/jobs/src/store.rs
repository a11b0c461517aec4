//! The queue's SQL, on Postgres and SQLite. Every time is epoch milliseconds, taken from the
//! caller's clock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement,
    TransactionTrait, Value,
};

use crate::{Enqueued, JobCounts, JobFilter, JobRecord, JobState, NewJob};

/// The notification channel that wakes Postgres workers.
pub(crate) const WAKE_CHANNEL: &str = "orbit_jobs";
/// Serialises claims of jobs in named queues across workers (`pg_advisory_xact_lock`).
const QUEUE_CLAIM_LOCK: i64 = 0x6f72_6269_746a_6f62; // "orbitjob"

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

/// `id` is one of the ids in parameter `$at`, passed as one JSON array: one statement text
/// whatever the count, so it is prepared and planned once per connection.
fn id_in(backend: DbBackend, at: usize) -> String {
    match backend {
        DbBackend::Postgres => {
            format!("id = ANY(ARRAY(SELECT json_array_elements_text(${at}::json)))")
        }
        _ => format!("id IN (SELECT value FROM json_each(${at}))"),
    }
}

fn id_list(ids: &[String]) -> Value {
    serde_json::to_string(ids)
        .expect("strings serialise")
        .into()
}

pub(crate) async fn enqueue(conn: &impl ConnectionTrait, job: NewJob) -> Result<Enqueued, DbErr> {
    let backend = conn.get_database_backend();
    let now = now_ms();
    let run_at = job.run_at.map_or(now, |at| at.timestamp_millis());
    let id = crate::new_job_id();
    let insert = "INSERT INTO jobs (id, name, payload, queue, job_key, priority, state, attempts, \
                  max_attempts, run_at, created_at, updated_at) \
                  VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $9, $9) \
                  ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('pending', 'running') \
                  DO NOTHING";
    let values = vec![
        id.clone().into(),
        job.name.into(),
        job.payload.to_string().into(),
        job.queue.into(),
        job.job_key.into(),
        job.priority.into(),
        job.max_attempts.map(i64::from).into(),
        run_at.into(),
        now.into(),
    ];
    let inserted = match backend {
        // One round trip, and the notification is delivered when the transaction commits.
        DbBackend::Postgres if run_at <= now => {
            let sql = format!(
                "WITH inserted AS ({insert} RETURNING id) \
                 SELECT pg_notify('{WAKE_CHANNEL}', '') FROM inserted"
            );
            conn.query_one_raw(statement(backend, &sql, values))
                .await?
                .is_some()
        }
        _ => {
            let result = conn.execute_raw(statement(backend, insert, values)).await?;
            result.rows_affected() == 1
        }
    };
    Ok(match inserted {
        true => Enqueued::Created(id),
        false => Enqueued::Deduplicated,
    })
}

/// A job a worker has claimed.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub id: String,
    pub name: String,
    pub payload: String,
    pub attempts: u32,
    pub max_attempts: Option<u32>,
}

const CLAIMED_COLUMNS: &str = "id, name, payload, attempts, max_attempts";

fn claimed(row: &QueryResult) -> Result<Claimed, DbErr> {
    Ok(Claimed {
        id: row.try_get("", "id")?,
        name: row.try_get("", "name")?,
        payload: row.try_get("", "payload")?,
        attempts: row.try_get::<i32>("", "attempts")?.max(0) as u32,
        max_attempts: row
            .try_get::<Option<i32>>("", "max_attempts")?
            .map(|max| max.max(0) as u32),
    })
}

/// Claims up to `limit` due jobs for `worker`, leased until `lease_until`: jobs outside named
/// queues in priority order, then at most one job of each named queue that has none running.
pub(crate) async fn claim(
    conn: &DatabaseConnection,
    worker: &str,
    limit: u64,
    lease_ms: i64,
) -> Result<Vec<Claimed>, DbErr> {
    let backend = conn.get_database_backend();
    let now = now_ms();
    let set = "SET state = 'running', attempts = attempts + 1, locked_by = $1, \
               locked_until = $2, started_at = $3, updated_at = $3";
    let due = "SELECT id FROM jobs WHERE state = 'pending' AND run_at <= $3 AND queue IS NULL \
               ORDER BY priority, run_at, id LIMIT $4";
    let sql = match backend {
        // By the locked rows' physical addresses: no second lookup through the primary key.
        DbBackend::Postgres => format!(
            "UPDATE jobs {set} WHERE ctid = ANY(ARRAY({due_ctid} FOR UPDATE SKIP LOCKED)) \
             RETURNING {CLAIMED_COLUMNS}",
            due_ctid = due.replacen("SELECT id", "SELECT ctid", 1)
        ),
        // SQLite runs one write at a time: the select and the update cannot interleave.
        _ => format!("UPDATE jobs {set} WHERE id IN ({due}) RETURNING {CLAIMED_COLUMNS}"),
    };
    let values = || -> Vec<Value> {
        vec![
            worker.into(),
            (now + lease_ms).into(),
            now.into(),
            (limit as i64).into(),
        ]
    };
    let rows = match backend {
        DbBackend::Postgres => {
            // Walk the due index in its order. Left to its estimates (none on a new table;
            // after a quiet spell, "pending is rare"), the planner may instead fetch every
            // due job and sort them all, per claim, exactly when a backlog has formed.
            let tx = conn.begin().await?;
            tx.execute_unprepared("SET LOCAL enable_sort = off").await?;
            let rows = tx.query_all_raw(statement(backend, &sql, values())).await?;
            tx.commit().await?;
            rows
        }
        _ => {
            conn.query_all_raw(statement(backend, &sql, values()))
                .await?
        }
    };
    let mut jobs = rows.iter().map(claimed).collect::<Result<Vec<_>, _>>()?;
    if (jobs.len() as u64) < limit {
        jobs.extend(claim_from_queues(conn, values()).await?);
    }
    Ok(jobs)
}

async fn claim_from_queues(
    conn: &DatabaseConnection,
    values: Vec<Value>,
) -> Result<Vec<Claimed>, DbErr> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, \
         locked_until = $2, started_at = $3, updated_at = $3 \
         WHERE id IN (SELECT id FROM ( \
             SELECT id, ROW_NUMBER() OVER (PARTITION BY queue ORDER BY priority, run_at, id) AS nth \
             FROM jobs AS waiting WHERE state = 'pending' AND run_at <= $3 AND queue IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM jobs AS busy \
                             WHERE busy.state = 'running' AND busy.queue = waiting.queue) \
         ) AS firsts WHERE nth = 1 LIMIT $4) \
         RETURNING {CLAIMED_COLUMNS}"
    );
    let tx = conn.begin().await?;
    if backend == DbBackend::Postgres {
        let lock = format!("SELECT pg_advisory_xact_lock({QUEUE_CLAIM_LOCK})");
        tx.execute_unprepared(&lock).await?;
    }
    let rows = tx.query_all_raw(statement(backend, &sql, values)).await?;
    tx.commit().await?;
    rows.iter().map(claimed).collect()
}

/// Marks jobs done; their payload (which may carry a mailed token) is dropped.
pub(crate) async fn succeed(conn: &impl ConnectionTrait, ids: &[String]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let backend = conn.get_database_backend();
    let sql = format!(
        "UPDATE jobs SET state = 'succeeded', payload = 'null', locked_by = NULL, \
         locked_until = NULL, last_error = NULL, finished_at = $1, updated_at = $1 \
         WHERE {}",
        id_in(backend, 2)
    );
    let values = vec![now_ms().into(), id_list(ids)];
    conn.execute_raw(statement(backend, &sql, values)).await?;
    Ok(())
}

/// Records a failed attempt: the job runs again at `retry_at`, or, without one, fails for good.
pub(crate) async fn fail(
    conn: &impl ConnectionTrait,
    id: &str,
    error: &str,
    retry_at: Option<i64>,
) -> Result<(), DbErr> {
    let now = now_ms();
    let (sql, values): (&str, Vec<Value>) = match retry_at {
        Some(at) => (
            "UPDATE jobs SET state = 'pending', run_at = $2, locked_by = NULL, \
             locked_until = NULL, last_error = $3, updated_at = $4 WHERE id = $1",
            vec![id.into(), at.into(), error.into(), now.into()],
        ),
        None => (
            "UPDATE jobs SET state = 'failed', locked_by = NULL, locked_until = NULL, \
             last_error = $2, finished_at = $3, updated_at = $3 WHERE id = $1",
            vec![id.into(), error.into(), now.into()],
        ),
    };
    let backend = conn.get_database_backend();
    conn.execute_raw(statement(backend, sql, values)).await?;
    Ok(())
}

/// Hands jobs this worker claimed but will not finish back to the queue, as if never claimed
/// when they never started.
pub(crate) async fn release(
    conn: &impl ConnectionTrait,
    ids: &[String],
    started: bool,
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let attempts = match started {
        true => "attempts",
        false => "attempts - 1",
    };
    let backend = conn.get_database_backend();
    let sql = format!(
        "UPDATE jobs SET state = 'pending', attempts = {attempts}, locked_by = NULL, \
         locked_until = NULL, updated_at = $1 WHERE state = 'running' AND {}",
        id_in(backend, 2)
    );
    let values = vec![now_ms().into(), id_list(ids)];
    conn.execute_raw(statement(backend, &sql, values)).await?;
    Ok(())
}

/// Extends the lease of every job `worker` holds.
pub(crate) async fn heartbeat(
    conn: &impl ConnectionTrait,
    worker: &str,
    lease_ms: i64,
) -> Result<(), DbErr> {
    let now = now_ms();
    let sql = "UPDATE jobs SET locked_until = $2 WHERE state = 'running' AND locked_by = $1";
    let backend = conn.get_database_backend();
    let values = vec![worker.into(), (now + lease_ms).into()];
    conn.execute_raw(statement(backend, sql, values)).await?;
    Ok(())
}

/// Returns the jobs of workers that stopped renewing their lease (killed, frozen, cut off) to
/// the queue. How many.
pub(crate) async fn reclaim_expired(conn: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let now = now_ms();
    let sql = "UPDATE jobs SET state = 'pending', locked_by = NULL, locked_until = NULL, \
               last_error = 'the worker running it stopped (lease expired)', updated_at = $1 \
               WHERE state = 'running' AND locked_until < $1";
    let backend = conn.get_database_backend();
    let result = conn
        .execute_raw(statement(backend, sql, vec![now.into()]))
        .await?;
    Ok(result.rows_affected())
}

/// Deletes finished jobs (succeeded, failed, canceled) older than `before`, in batches. How many.
pub(crate) async fn prune(conn: &impl ConnectionTrait, before: i64) -> Result<u64, DbErr> {
    let backend = conn.get_database_backend();
    let sql = "DELETE FROM jobs WHERE id IN \
               (SELECT id FROM jobs WHERE finished_at < $1 LIMIT 5000)";
    let mut deleted = 0;
    loop {
        let result = conn
            .execute_raw(statement(backend, sql, vec![before.into()]))
            .await?;
        deleted += result.rows_affected();
        if result.rows_affected() < 5000 {
            return Ok(deleted);
        }
    }
}

const RECORD_COLUMNS: &str = "id, name, state, queue, job_key, priority, attempts, max_attempts, \
                              run_at, created_at, updated_at, finished_at, last_error";

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn record(row: &QueryResult) -> Result<JobRecord, DbErr> {
    let state: String = row.try_get("", "state")?;
    Ok(JobRecord {
        id: row.try_get("", "id")?,
        name: row.try_get("", "name")?,
        state: JobState::parse(&state)
            .ok_or_else(|| DbErr::Custom(format!("unknown job state {state:?}")))?,
        queue: row.try_get("", "queue")?,
        job_key: row.try_get("", "job_key")?,
        priority: row.try_get("", "priority")?,
        attempts: row.try_get::<i32>("", "attempts")?.max(0) as u32,
        max_attempts: row
            .try_get::<Option<i32>>("", "max_attempts")?
            .map(|max| max.max(0) as u32),
        run_at: time(row.try_get("", "run_at")?),
        created_at: time(row.try_get("", "created_at")?),
        updated_at: time(row.try_get("", "updated_at")?),
        finished_at: row.try_get::<Option<i64>>("", "finished_at")?.map(time),
        last_error: row.try_get("", "last_error")?,
    })
}

pub(crate) async fn list(
    conn: &impl ConnectionTrait,
    filter: &JobFilter,
) -> Result<Vec<JobRecord>, DbErr> {
    let mut conditions = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    if let Some(state) = filter.state {
        values.push(state.as_str().into());
        conditions.push(format!("state = ${}", values.len()));
    }
    if let Some(after) = &filter.after {
        values.push(after.clone().into());
        conditions.push(format!("id < ${}", values.len()));
    }
    values.push((filter.limit as i64).into());
    let condition = match conditions.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", conditions.join(" AND ")),
    };
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM jobs {condition} ORDER BY id DESC LIMIT ${}",
        values.len()
    );
    let backend = conn.get_database_backend();
    let rows = conn.query_all_raw(statement(backend, &sql, values)).await?;
    rows.iter().map(record).collect()
}

pub(crate) async fn get(conn: &impl ConnectionTrait, id: &str) -> Result<Option<JobRecord>, DbErr> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM jobs WHERE id = $1");
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(statement(backend, &sql, vec![id.into()]))
        .await?;
    row.as_ref().map(record).transpose()
}

/// Makes a failed or canceled job pending again (`to` pending), or cancels a pending one: the
/// job as it is after, or `None` when no job `id` is in a state that allows it.
pub(crate) async fn transition(
    conn: &impl ConnectionTrait,
    id: &str,
    to: JobState,
) -> Result<Option<JobRecord>, DbErr> {
    let now = now_ms();
    let change = match to {
        JobState::Pending => {
            "SET state = 'pending', attempts = 0, run_at = $2, finished_at = NULL, \
             updated_at = $2 WHERE id = $1 AND state IN ('failed', 'canceled')"
        }
        _ => {
            "SET state = 'canceled', finished_at = $2, updated_at = $2 \
             WHERE id = $1 AND state = 'pending'"
        }
    };
    let sql = format!("UPDATE jobs {change} RETURNING {RECORD_COLUMNS}");
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(statement(backend, &sql, vec![id.into(), now.into()]))
        .await?;
    if row.is_some() && to == JobState::Pending && backend == DbBackend::Postgres {
        let wake = format!("SELECT pg_notify('{WAKE_CHANNEL}', '')");
        conn.execute_unprepared(&wake).await?;
    }
    row.as_ref().map(record).transpose()
}

pub(crate) async fn counts(conn: &impl ConnectionTrait) -> Result<JobCounts, DbErr> {
    let sql = "SELECT state, COUNT(*) AS n FROM jobs \
               WHERE state IN ('pending', 'running', 'failed') GROUP BY state";
    let backend = conn.get_database_backend();
    let rows = conn.query_all_raw(statement(backend, sql, vec![])).await?;
    let mut counts = JobCounts::default();
    for row in rows {
        let state: String = row.try_get("", "state")?;
        let n = row.try_get::<i64>("", "n")?.max(0) as u64;
        match state.as_str() {
            "pending" => counts.pending = n,
            "running" => counts.running = n,
            _ => counts.failed = n,
        }
    }
    Ok(counts)
}

/// Each schedule's spec and next tick.
pub(crate) async fn schedules(
    conn: &impl ConnectionTrait,
) -> Result<HashMap<String, (String, i64)>, DbErr> {
    let backend = conn.get_database_backend();
    let sql = "SELECT name, spec, next_run_at FROM job_schedules";
    let rows = conn.query_all_raw(statement(backend, sql, vec![])).await?;
    rows.iter()
        .map(|row| {
            let name = row.try_get("", "name")?;
            Ok((
                name,
                (row.try_get("", "spec")?, row.try_get("", "next_run_at")?),
            ))
        })
        .collect()
}

/// Starts a new schedule, or one whose spec changed, at its next tick.
pub(crate) async fn set_schedule(
    conn: &impl ConnectionTrait,
    name: &str,
    spec: &str,
    next: i64,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let upsert = "INSERT INTO job_schedules (name, spec, next_run_at) VALUES ($1, $2, $3) \
                  ON CONFLICT (name) DO UPDATE SET spec = $2, next_run_at = $3 \
                  WHERE job_schedules.spec <> $2";
    let values = vec![name.into(), spec.into(), next.into()];
    conn.execute_raw(statement(backend, upsert, values)).await?;
    Ok(())
}

/// Takes tick `tick` of schedule `name`, moving it on to `next`, for exactly one caller however
/// many workers race for it; the tick's job is enqueued in the same transaction. True when a job
/// was added (not when the last tick's still holds the schedule's key).
pub(crate) async fn take_tick(
    conn: &DatabaseConnection,
    name: &str,
    tick: i64,
    next: i64,
    job: NewJob,
) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    let tx = conn.begin().await?;
    let take = "UPDATE job_schedules SET next_run_at = $2 WHERE name = $1 AND next_run_at = $3";
    let values = vec![name.into(), next.into(), tick.into()];
    let taken = tx.execute_raw(statement(backend, take, values)).await?;
    if taken.rows_affected() != 1 {
        return Ok(false);
    }
    let created = matches!(enqueue(&tx, job).await?, Enqueued::Created(_));
    tx.commit().await?;
    Ok(created)
}

/// Hands back every job `worker` still holds, as started (the attempt counts). How many.
pub(crate) async fn release_held(conn: &impl ConnectionTrait, worker: &str) -> Result<u64, DbErr> {
    let sql = "UPDATE jobs SET state = 'pending', locked_by = NULL, locked_until = NULL, \
               last_error = 'cut off by a shutdown', updated_at = $2 \
               WHERE state = 'running' AND locked_by = $1";
    let backend = conn.get_database_backend();
    let values = vec![worker.into(), now_ms().into()];
    Ok(conn
        .execute_raw(statement(backend, sql, values))
        .await?
        .rows_affected())
}
