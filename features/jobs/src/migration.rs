//! The queue's tables. The app's migration crate runs [`CreateJobTables`] in its list.
//!
//! Times are epoch milliseconds (`BIGINT`): one representation that compares and indexes the
//! same on Postgres and SQLite.

use sea_orm_migration::prelude::*;

pub struct CreateJobTables;

impl MigrationName for CreateJobTables {
    fn name(&self) -> &str {
        "m20261205_000005_create_job_tables"
    }
}

const STATEMENTS: &[&str] = &[
    "CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        payload TEXT NOT NULL,
        queue TEXT,
        job_key TEXT,
        priority INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER,
        run_at BIGINT NOT NULL,
        locked_by TEXT,
        locked_until BIGINT,
        last_error TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT
    )",
    // What a worker claims next: in claim order, apart from jobs of serial queues.
    "CREATE INDEX idx_jobs_due ON jobs (priority, run_at, id) \
     WHERE state = 'pending' AND queue IS NULL",
    "CREATE INDEX idx_jobs_due_queued ON jobs (queue, priority, run_at, id) \
     WHERE state = 'pending' AND queue IS NOT NULL",
    // One live job per key. Each partial index leaves out the rows it never needs (most jobs
    // have no key and no queue): fewer index entries written per claim and completion.
    "CREATE UNIQUE INDEX idx_jobs_live_key ON jobs (job_key) \
     WHERE job_key IS NOT NULL AND state IN ('pending', 'running')",
    // Expired leases, and the running job of each serial queue.
    "CREATE INDEX idx_jobs_running ON jobs (locked_until) WHERE state = 'running'",
    "CREATE INDEX idx_jobs_running_queue ON jobs (queue) \
     WHERE queue IS NOT NULL AND state = 'running'",
    // The admin lists, newest first, by state.
    "CREATE INDEX idx_jobs_state_id ON jobs (state, id)",
    // Retention.
    "CREATE INDEX idx_jobs_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL",
    "CREATE TABLE job_schedules (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        next_run_at BIGINT NOT NULL
    )",
];

#[async_trait::async_trait]
impl MigrationTrait for CreateJobTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in STATEMENTS {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE job_schedules").await?;
        db.execute_unprepared("DROP TABLE jobs").await?;
        Ok(())
    }
}
