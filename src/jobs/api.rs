//! The job queue for admins (role `admin`): what is waiting, running or failed, and retrying
//! or canceling a job. Payloads are never shown: a mail job's carries a sign-in link.

use orbit_jobs::{JobFilter, JobRecord, JobState, Transition};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{Enum, Object, OpenApi, payload::Json};

use crate::auth::permissions::require_admin;
use crate::auth::session::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::{PageRequest, id_key};
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::time::iso;

#[derive(Default)]
pub struct JobsApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "JobState", rename_all = "lowercase")]
enum StateDto {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl From<StateDto> for JobState {
    fn from(state: StateDto) -> Self {
        match state {
            StateDto::Pending => JobState::Pending,
            StateDto::Running => JobState::Running,
            StateDto::Succeeded => JobState::Succeeded,
            StateDto::Failed => JobState::Failed,
            StateDto::Canceled => JobState::Canceled,
        }
    }
}

impl From<JobState> for StateDto {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Pending => StateDto::Pending,
            JobState::Running => StateDto::Running,
            JobState::Succeeded => StateDto::Succeeded,
            JobState::Failed => StateDto::Failed,
            JobState::Canceled => StateDto::Canceled,
        }
    }
}

/// A background job.
#[derive(Debug, Object)]
#[oai(rename = "Job", rename_all = "camelCase", nullable_all)]
struct JobDto {
    id: String,
    /// The handler that runs it (`email.send`, `auth.prune`…).
    name: String,
    state: StateDto,
    /// Jobs of one queue never run at the same time.
    queue: Option<String>,
    /// While a job with this key is pending or running, no other is added.
    key: Option<String>,
    /// Lower runs first.
    priority: i32,
    /// Runs so far, this one included while running.
    attempts: u32,
    /// Null: the handler's default.
    max_attempts: Option<u32>,
    /// Not before (the next retry's time, for a job that failed and waits).
    run_at: String,
    created_at: String,
    updated_at: String,
    finished_at: Option<String>,
    /// Why the last attempt failed.
    last_error: Option<String>,
}

impl From<JobRecord> for JobDto {
    fn from(job: JobRecord) -> Self {
        Self {
            id: job.id,
            name: job.name,
            state: job.state.into(),
            queue: job.queue,
            key: job.job_key,
            priority: job.priority,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            run_at: iso(job.run_at),
            created_at: iso(job.created_at),
            updated_at: iso(job.updated_at),
            finished_at: job.finished_at.map(iso),
            last_error: job.last_error,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename = "JobPage", rename_all = "camelCase", nullable_all)]
struct JobPage {
    /// Newest first.
    items: Vec<JobDto>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
    /// The queue's backend: `postgres`, `sqlite`, or `inline` (which keeps no jobs).
    backend: String,
}

#[derive(Debug, Object)]
#[oai(rename = "JobResult")]
struct JobResult {
    job: JobDto,
}

/// The job as it is now; 404 `job.not_found`; 409 `code` when its state does not allow it.
fn answer(transition: Transition, code: &'static str, rule: &str) -> ApiResult<Json<JobResult>> {
    match transition {
        Transition::Done(job) => Ok(Json(JobResult { job: job.into() })),
        Transition::NotFound => Err(ApiError::not_found("job")),
        Transition::Refused(state) => Err(ApiError::conflict(
            code,
            format!("the job is {}: {rule}", state.as_str()),
        )),
    }
}

/// The cursor name of the jobs list.
const JOBS_LIST: &str = "jobs";

#[OpenApi(tag = "ApiTags::Admin")]
impl JobsApi {
    /// Background jobs, newest first (role `admin`)
    ///
    /// `state` filters (`failed` shows jobs out of attempts, with their last error). Cursor
    /// pagination: `limit` 1–200 (default 50), `cursor` from the previous page's `nextCursor`.
    #[oai(
        path = "/v1/admin/jobs",
        method = "get",
        operation_id = "adminListJobs"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        #[oai(name = "state")] job_state: Query<Option<StateDto>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u64>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
    ) -> ApiResult<Json<JobPage>> {
        require_admin(&caller)?;
        let page = PageRequest::new(limit.0, cursor.0.as_deref())?;
        let filter = JobFilter {
            state: job_state.0.map(JobState::from),
            limit: page.fetch(),
            after: page.after_id(JOBS_LIST)?,
        };
        let jobs = state
            .capabilities
            .jobs
            .list(filter)
            .await
            .map_err(ApiError::internal)?;
        let (jobs, next_cursor) = page.page(jobs, |job| id_key(JOBS_LIST, &job.id));
        Ok(Json(JobPage {
            items: jobs.into_iter().map(JobDto::from).collect(),
            next_cursor,
            backend: state.capabilities.jobs.backend().to_owned(),
        }))
    }

    /// Run a failed or canceled job again, with its attempts reset (role `admin`)
    ///
    /// 404 `job.not_found`; 409 `job.not_retryable` when it is pending, running or done.
    #[oai(
        path = "/v1/admin/jobs/:id/retry",
        method = "post",
        operation_id = "adminRetryJob"
    )]
    async fn retry(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        #[oai(validator(max_length = 64))] id: Path<String>,
    ) -> ApiResult<Json<JobResult>> {
        require_admin(&caller)?;
        let retried = state.capabilities.jobs.retry(&id.0).await;
        let retried = retried.map_err(ApiError::internal)?;
        answer(
            retried,
            "job.not_retryable",
            "only failed or canceled jobs run again",
        )
    }

    /// Cancel a pending job (role `admin`)
    ///
    /// 404 `job.not_found`; 409 `job.not_cancelable` once it runs or is done.
    #[oai(
        path = "/v1/admin/jobs/:id/cancel",
        method = "post",
        operation_id = "adminCancelJob"
    )]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        #[oai(validator(max_length = 64))] id: Path<String>,
    ) -> ApiResult<Json<JobResult>> {
        require_admin(&caller)?;
        let canceled = state.capabilities.jobs.cancel(&id.0).await;
        let canceled = canceled.map_err(ApiError::internal)?;
        answer(
            canceled,
            "job.not_cancelable",
            "only pending jobs can be canceled",
        )
    }
}
