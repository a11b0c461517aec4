//! `orbit jobs …`: the queue from a shell (a platform's console, an SSH session).

use orbit_jobs::{JobFilter, JobRecord, JobState, Jobs};

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
    match jobs.retry(id).await? {
        Some(job) => {
            println!("retrying {}", line(&job));
            Ok(())
        }
        None => Err(refusal(jobs, id, "only failed or canceled jobs can be retried").await),
    }
}

/// Cancels a pending job.
pub async fn cancel(jobs: &dyn Jobs, id: &str) -> anyhow::Result<()> {
    match jobs.cancel(id).await? {
        Some(job) => {
            println!("canceled {}", line(&job));
            Ok(())
        }
        None => Err(refusal(jobs, id, "only pending jobs can be canceled").await),
    }
}

async fn refusal(jobs: &dyn Jobs, id: &str, rule: &str) -> anyhow::Error {
    match jobs.get(id).await {
        Ok(Some(job)) => anyhow::anyhow!("job {id} is {}: {rule}", job.state.as_str()),
        Ok(None) => anyhow::anyhow!("no job {id}"),
        Err(err) => err.into(),
    }
}
