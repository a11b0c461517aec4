//! The jobs section: `JOBS_*` into [`JobsSettings`], validated by the jobs crate.

use std::time::Duration;

use orbit_jobs::{JobsMode, JobsSettings};

use super::{AppEnv, Vars};

impl Vars {
    pub(super) fn jobs(&mut self, env: AppEnv) -> JobsSettings {
        let mode = match self.get("JOBS_BACKEND") {
            None | Some("database") | Some("auto") => JobsMode::Database,
            Some("inline") => JobsMode::Inline,
            Some(other) => {
                let problem = format!("JOBS_BACKEND must be database or inline (got {other:?})");
                self.problems.push(problem);
                JobsMode::Database
            }
        };
        let work_in_process = self.parse("JOBS_IN_PROCESS", true, "true or false");
        let concurrency = self.parse("JOBS_CONCURRENCY", 8usize, "a number of jobs");
        let lease_secs = self.parse("JOBS_LEASE_SECS", 30u64, "a number of seconds");
        let retention_days = self.parse("JOBS_RETENTION_DAYS", 7u64, "a number of days");
        let poll_ms = self.parse("JOBS_POLL_MS", 1000u64, "a number of milliseconds");
        let schedules =
            match orbit_jobs::parse_schedules(self.get("JOBS_SCHEDULES").unwrap_or_default()) {
                Ok(schedules) => schedules,
                Err(problem) => {
                    self.problems.push(problem);
                    Vec::new()
                }
            };
        let retry_base = self
            .get("JOBS_RETRY_BASE_MS")
            .is_some()
            .then(|| self.parse("JOBS_RETRY_BASE_MS", 0u64, "a number of milliseconds"))
            .map(Duration::from_millis);
        let jobs = JobsSettings {
            mode,
            work_in_process,
            concurrency,
            lease: Duration::from_secs(lease_secs),
            retention: Duration::from_secs(retention_days.saturating_mul(24 * 60 * 60)),
            poll_interval: Duration::from_millis(poll_ms),
            schedules,
            retry_base,
        };
        if env.is_production() && mode == JobsMode::Inline {
            self.warnings.push(
                "JOBS_BACKEND=inline in production: a job (a mail) is lost when the process \
                 stops before it ran"
                    .into(),
            );
        }
        for problem in jobs.problems() {
            self.problems.push(problem.to_string());
        }
        jobs
    }
}
