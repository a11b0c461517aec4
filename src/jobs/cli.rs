//! `orbit jobs …`: the queue from a shell (a platform's console, an SSH session).

use orbit_jobs::{JobFilter, JobRecord, JobState, Jobs, Transition};

use crate::time::iso;

/// Prints the newest `limit` jobs (only failed ones with `failed`), one line each.
pub async fn list(jobs: &dyn Jobs, failed: bool, limit: u64) -> anyhow::Result<()> {
    let filter = JobFilter {
        state: failed.then_some(JobState::Failed),
        limit,
        after: None,
    };
    let listed = jobs.list(filter).await?;
    println!(
        "{:<36} {:<16} {:<9} {:>8} {:<24} LAST ERROR",
        "ID", "NAME", "STATE", "ATTEMPTS", "RUN AT"
    );
    for job in &listed {
        println!("{}", line(job));
    }
    if listed.is_empty() {
        println!("(no jobs on the {} backend)", jobs.backend());
    }
    Ok(())
}

fn line(job: &JobRecord) -> String {
    let attempts = match job.max_attempts {
        Some(max) => format!("{}/{max}", job.attempts),
        None => job.attempts.to_string(),
    };
    format!(
        "{:<36} {:<16} {:<9} {:>8} {:<24} {}",
        job.id,
        job.name,
        job.state.as_str(),
        attempts,
        iso(job.run_at),
        job.last_error.as_deref().unwrap_or("")
    )
}

/// Makes a failed or canceled job pending again.
pub async fn retry(jobs: &dyn Jobs, id: &str) -> anyhow::Result<()> {
    let retried = jobs.retry(id).await?;
    report(
        "retrying",
        id,
        retried,
        "only failed or canceled jobs can be retried",
    )
}

/// Cancels a pending job.
pub async fn cancel(jobs: &dyn Jobs, id: &str) -> anyhow::Result<()> {
    let canceled = jobs.cancel(id).await?;
    report(
        "canceled",
        id,
        canceled,
        "only pending jobs can be canceled",
    )
}

fn report(done: &str, id: &str, transition: Transition, rule: &str) -> anyhow::Result<()> {
    match transition {
        Transition::Done(job) => {
            println!("{done} {}", line(&job));
            Ok(())
        }
        Transition::NotFound => anyhow::bail!("no job {id}"),
        Transition::Refused(state) => anyhow::bail!("job {id} is {}: {rule}", state.as_str()),
    }
}
