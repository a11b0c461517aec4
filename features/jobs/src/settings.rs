use std::time::Duration;

use crate::Schedule;

/// Where jobs run (`JOBS_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobsMode {
    /// A durable queue in the app's own database (`database`, the default).
    Database,
    /// Each job runs at once on a spawned task, in this process only, and is lost with it
    /// (`inline`).
    Inline,
}

#[derive(Debug, Clone)]
pub struct JobsSettings {
    pub mode: JobsMode,
    /// Whether the API process works jobs too (`JOBS_IN_PROCESS`, true); `orbit worker` always does.
    pub work_in_process: bool,
    /// Jobs one process runs at once (`JOBS_CONCURRENCY`, 8).
    pub concurrency: usize,
    /// How long a claimed job stays a worker's without a heartbeat before another worker may
    /// take it (`JOBS_LEASE_SECS`, 30).
    pub lease: Duration,
    /// How long finished jobs are kept (`JOBS_RETENTION_DAYS`, 7).
    pub retention: Duration,
    /// How often an idle worker looks for due jobs when nothing wakes it (`JOBS_POLL_MS`, 1000).
    pub poll_interval: Duration,
    /// Schedules that replace a handler's own (`JOBS_SCHEDULES`, `name=spec;name=spec`), e.g.
    /// `sessions.prune=@every 10m`.
    pub schedules: Vec<(String, Schedule)>,
    /// Replaces every handler's first retry delay (`JOBS_RETRY_BASE_MS`): shorter in tests,
    /// longer when a provider asks for patience.
    pub retry_base: Option<Duration>,
}

impl Default for JobsSettings {
    fn default() -> Self {
        Self {
            mode: JobsMode::Database,
            work_in_process: true,
            concurrency: 8,
            lease: Duration::from_secs(30),
            retention: Duration::from_secs(7 * 24 * 60 * 60),
            poll_interval: Duration::from_millis(1000),
            schedules: Vec::new(),
            retry_base: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("JOBS_CONCURRENCY must be 1 to 1024 (got {0})")]
    Concurrency(usize),
    #[error("JOBS_LEASE_SECS must be 2 to 86400 (got {0})")]
    Lease(u64),
    #[error("JOBS_RETENTION_DAYS must be 1 to 3650 (got {0})")]
    Retention(u64),
    #[error("JOBS_POLL_MS must be 10 to 60000 (got {0})")]
    PollInterval(u128),
}

impl JobsSettings {
    /// Every problem, so the boot error names them all.
    pub fn problems(&self) -> Vec<SettingsError> {
        let mut problems = Vec::new();
        if !(1..=1024).contains(&self.concurrency) {
            problems.push(SettingsError::Concurrency(self.concurrency));
        }
        if !(2..=86_400).contains(&self.lease.as_secs()) {
            problems.push(SettingsError::Lease(self.lease.as_secs()));
        }
        let days = self.retention.as_secs() / 86_400;
        if !(1..=3650).contains(&days) {
            problems.push(SettingsError::Retention(days));
        }
        if !(10..=60_000).contains(&self.poll_interval.as_millis()) {
            problems.push(SettingsError::PollInterval(self.poll_interval.as_millis()));
        }
        problems
    }
}

/// `name=spec;name=spec` into schedules, or what is wrong with it.
pub fn parse_schedules(raw: &str) -> Result<Vec<(String, Schedule)>, String> {
    raw.split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (name, spec) = entry.split_once('=').ok_or_else(|| {
                format!("JOBS_SCHEDULES entries are name=schedule (got {entry:?})")
            })?;
            let schedule = spec
                .parse()
                .map_err(|err| format!("JOBS_SCHEDULES {}: {err}", name.trim()))?;
            Ok((name.trim().to_owned(), schedule))
        })
        .collect()
}
