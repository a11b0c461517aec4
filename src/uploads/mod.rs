//! Uploads: a workspace's files and users' avatars, kept in object storage. The API hands out
//! presigned URLs and checks what arrived; the bytes never pass through this process. Objects
//! are removed by jobs enqueued with the change that orphans them, so a storage outage delays
//! a deletion and never loses it.

pub mod api;
pub mod avatar;
pub mod entity;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orbit_jobs::{Handler, JobError, NewJob};
use orbit_uploads::{ObjectStorage, StorageError};
use poem::http::StatusCode;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Deletes one object (payload [`ObjectKeys`]).
pub const DELETE_JOB: &str = "uploads.delete";
/// Deletes every pending upload a day old, object and row.
pub const PRUNE_JOB: &str = "uploads.prune";

/// How long an upload may stay pending before it is deleted.
const PENDING_LIFETIME: chrono::Duration = chrono::Duration::days(1);
/// Pending uploads deleted per query by the cleanup.
const PRUNE_BATCH: u64 = 200;

/// What a delete job removes: objects by key, and everything under prefixes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectKeys {
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub prefixes: Vec<String>,
}

/// The storage, or 501 `uploads.not_configured` when there is none.
pub fn storage(state: &AppState) -> ApiResult<&Arc<dyn ObjectStorage>> {
    let storage = &state.capabilities.storage;
    match storage.enabled() {
        true => Ok(storage),
        false => Err(storage_error(StorageError::NotConfigured)),
    }
}

/// A storage failure as the client sees it: 501 when uploads are off, 503 when the storage
/// does not answer (retry later), 502 when it refuses.
pub fn storage_error(err: StorageError) -> ApiError {
    match err {
        StorageError::NotConfigured => ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "uploads.not_configured",
            "uploads are not configured on this server (S3_BUCKET and its keys)",
        ),
        StorageError::Unreachable(cause) => {
            tracing::warn!(error = %cause, "object storage unreachable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "uploads.storage_unavailable",
                "file storage is unavailable, try again shortly",
            )
        }
        StorageError::Rejected(cause) => {
            tracing::error!(error = %cause, "object storage refused a request");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "uploads.storage_error",
                "file storage refused the request",
            )
        }
    }
}

/// A name safe in a key and a `Content-Disposition`: letters, digits, `.`, `-` and `_` kept,
/// anything else `_`, at most 100 characters, never starting with a dot.
pub fn sanitize_filename(name: &str) -> String {
    let cleaned: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() || "._-".contains(c) {
            true => c,
            false => '_',
        })
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    // The end holds the extension: keep it.
    let safe = &trimmed[trimmed.len().saturating_sub(100)..];
    match safe.chars().all(|c| c == '_') {
        true => "file".to_owned(),
        false => safe.to_owned(),
    }
}

/// Where a workspace's objects live.
pub fn workspace_prefix(workspace_id: &str) -> String {
    format!("ws/{workspace_id}/")
}

/// Where a user's objects (avatars) live.
pub fn user_prefix(user_id: &str) -> String {
    format!("users/{user_id}/")
}

/// Enqueues the deletion of `objects` in `tx`: done once `tx` commits, retried while the
/// storage is down. Objects under a prefix are deleted again once every URL handed out before
/// now has expired, so a PUT made with one cannot leave an orphan behind.
pub async fn enqueue_delete(
    state: &AppState,
    tx: &DatabaseTransaction,
    objects: ObjectKeys,
) -> ApiResult<()> {
    if !state.capabilities.storage.enabled() {
        return Ok(());
    }
    let mut jobs = vec![NewJob::new(DELETE_JOB, &objects).map_err(ApiError::internal)?];
    if !objects.prefixes.is_empty() {
        let late = ObjectKeys {
            keys: Vec::new(),
            prefixes: objects.prefixes,
        };
        let after_urls = Utc::now() + state.settings.uploads.url_ttl + Duration::from_secs(60);
        jobs.push(
            NewJob::new(DELETE_JOB, &late)
                .map_err(ApiError::internal)?
                .run_at(after_urls),
        );
    }
    for job in jobs {
        crate::jobs::enqueue(state, tx, job).await?;
    }
    Ok(())
}

/// Deletes objects: a storage that does not answer is retried (10 attempts, from 10 s to
/// about 1.5 h apart); one switched off fails the job, kept for `orbit jobs retry`.
pub fn delete_handler(storage: Arc<dyn ObjectStorage>) -> Handler {
    Handler::typed(DELETE_JOB, move |_, objects: ObjectKeys| {
        let storage = storage.clone();
        async move {
            let fail = |err: StorageError| match err {
                StorageError::NotConfigured => JobError::permanent(err),
                _ => JobError::retry(err),
            };
            for key in &objects.keys {
                storage.delete(key).await.map_err(fail)?;
            }
            for prefix in &objects.prefixes {
                let deleted = storage.delete_prefix(prefix).await.map_err(fail)?;
                tracing::info!(deleted, "objects under a deleted owner's prefix removed");
            }
            Ok(())
        }
    })
    .max_attempts(10)
    .backoff(Duration::from_secs(10))
    .timeout(Duration::from_secs(300))
}

/// Hourly: uploads handed out a day ago and never completed are deleted, object then row;
/// never before their upload URL (valid `url_ttl`) has expired, or a late PUT would leave an
/// object nothing names.
pub fn prune_handler(
    db: DatabaseConnection,
    storage: Arc<dyn ObjectStorage>,
    url_ttl: Duration,
) -> Handler {
    let url_lifetime = chrono::Duration::from_std(url_ttl).unwrap_or(PENDING_LIFETIME);
    let lifetime = PENDING_LIFETIME.max(url_lifetime + chrono::Duration::minutes(5));
    Handler::new(PRUNE_JOB, move |_, _| {
        let (db, storage) = (db.clone(), storage.clone());
        async move {
            if !storage.enabled() {
                return Ok(());
            }
            let cutoff = Utc::now() - lifetime;
            let mut pruned = 0;
            loop {
                let stale = stale_pending(&db, cutoff).await.map_err(JobError::retry)?;
                for upload in &stale {
                    storage.delete(&upload.key).await.map_err(JobError::retry)?;
                    entity::Entity::delete_by_id(&upload.id)
                        .exec(&db)
                        .await
                        .map_err(JobError::retry)?;
                }
                pruned += stale.len();
                if (stale.len() as u64) < PRUNE_BATCH {
                    break;
                }
            }
            tracing::info!(pruned, "abandoned uploads deleted");
            Ok(())
        }
    })
    .every("@hourly".parse().expect("a valid schedule"))
}

async fn stale_pending(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<Vec<entity::Model>, sea_orm::DbErr> {
    entity::Entity::find()
        .filter(entity::Column::Status.eq(entity::PENDING))
        .filter(entity::Column::CreatedAt.lt(cutoff))
        .order_by_asc(entity::Column::CreatedAt)
        .limit(PRUNE_BATCH)
        .all(db)
        .await
}

/// In `tx`, before a workspace is deleted: its objects go once it is.
pub async fn forget_workspace(
    state: &AppState,
    tx: &DatabaseTransaction,
    workspace_id: &str,
) -> ApiResult<()> {
    let objects = ObjectKeys {
        prefixes: vec![workspace_prefix(workspace_id)],
        ..ObjectKeys::default()
    };
    enqueue_delete(state, tx, objects).await
}

/// In `tx`, before a user is deleted: their avatars go (rows now, objects once it commits).
/// The files they uploaded to workspaces stay: those belong to the workspace.
pub async fn forget_user(
    state: &AppState,
    tx: &DatabaseTransaction,
    user_id: &str,
) -> ApiResult<()> {
    entity::Entity::delete_many()
        .filter(entity::Column::UploadedBy.eq(user_id))
        .filter(entity::Column::Kind.eq(entity::AVATAR))
        .exec(tx)
        .await
        .map_err(ApiError::internal)?;
    let objects = ObjectKeys {
        prefixes: vec![user_prefix(user_id)],
        ..ObjectKeys::default()
    };
    enqueue_delete(state, tx, objects).await
}
