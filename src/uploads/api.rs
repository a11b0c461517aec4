//! A workspace's files (tag `uploads`): any member uploads, lists and downloads; the uploader
//! or a member with `workspace.settings.edit` deletes.

use std::collections::BTreeMap;

use chrono::Utc;
use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;

use super::entity::{self, FILE, PENDING, READY};
use super::{
    ObjectKeys, enqueue_delete, sanitize_filename, storage, storage_error, workspace_prefix,
};
use crate::audit::{Action, Entry};
use crate::auth::session::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::{PageRequest, id_key};
use crate::http::prefixed_id::{IdKind, PrefixedId};
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::time::iso;
use crate::workspaces::access::Access;
use crate::workspaces::api::Done;
use crate::workspaces::events::{Change, WorkspaceEvent};
use crate::workspaces::permissions::Permission;

pub struct UploadKind;
impl IdKind for UploadKind {
    const PREFIX: &'static str = "upl";
    const NAME: &'static str = "upload";
}

pub type UploadId = PrefixedId<UploadKind>;

/// The cursor name of a workspace's files.
const FILES_LIST: &str = "uploads";

#[derive(Default)]
pub struct UploadsApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename = "UploadStatus", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum UploadStatus {
    /// Handed out; the bytes have not been confirmed.
    Pending,
    /// Completed: the bytes are in storage, as declared.
    Ready,
}

#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(rename = "Upload", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct UploadDto {
    pub id: String,
    #[oai(nullable)]
    pub workspace_id: Option<String>,
    /// The name it was uploaded with.
    pub filename: String,
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    pub status: UploadStatus,
    /// Who uploaded it; `null` once their account is deleted.
    #[oai(nullable)]
    pub uploaded_by: Option<String>,
    pub created_at: String,
    #[oai(nullable)]
    pub completed_at: Option<String>,
}

impl From<&entity::Model> for UploadDto {
    fn from(row: &entity::Model) -> Self {
        Self {
            id: row.id.clone(),
            workspace_id: row.workspace_id.clone(),
            filename: row.filename.clone(),
            content_type: row.content_type.clone(),
            size: row.size.max(0) as u64,
            status: match row.status.as_str() {
                READY => UploadStatus::Ready,
                _ => UploadStatus::Pending,
            },
            uploaded_by: row.uploaded_by.clone(),
            created_at: iso(row.created_at),
            completed_at: row.completed_at.map(iso),
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct NewUpload {
    /// The file's name (kept for display and downloads; never part of where it is stored
    /// beyond a sanitised copy).
    filename: Text<255, 1>,
    /// One of `UPLOAD_ALLOWED_TYPES`.
    content_type: Text<128, 1>,
    /// Exact size in bytes, at most `UPLOAD_MAX_BYTES`.
    size: u64,
}

/// Where and how to send the bytes.
#[derive(Debug, Object)]
#[oai(rename = "UploadTicket", rename_all = "camelCase")]
pub struct UploadTicket {
    pub upload: UploadDto,
    /// Send the file's bytes here, with `method` and `headers` exactly (the body must be
    /// `size` bytes: the signature covers its length).
    pub upload_url: String,
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub expires_at: String,
}

#[derive(ApiResponse)]
pub enum UploadStarted {
    /// The upload, pending until completed.
    #[oai(status = 201)]
    Created(Json<UploadTicket>),
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct UploadPage {
    /// Newest first.
    items: Vec<UploadDto>,
    /// The `cursor` of the next page; `null` on the last.
    #[oai(nullable)]
    next_cursor: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct UploadDownload {
    upload: UploadDto,
    /// A GET of the bytes, as an attachment with the file's (sanitised) name.
    download_url: String,
    expires_at: String,
}

/// Checks a declared file against the limits: 422 `upload.type_not_allowed`, 413
/// `upload.too_large`, 422 `validation` for an empty one.
pub fn check_declared(
    allowed_types: &[String],
    max_bytes: u64,
    content_type: &str,
    size: u64,
) -> ApiResult<String> {
    let content_type = content_type.trim().to_ascii_lowercase();
    if !allowed_types.contains(&content_type) {
        return Err(ApiError::invalid(
            "upload.type_not_allowed",
            format!(
                "content type not allowed; allowed: {}",
                allowed_types.join(", ")
            ),
        ));
    }
    if size == 0 {
        return Err(ApiError::unprocessable("size must be at least 1 byte"));
    }
    if size > max_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "upload.too_large",
            format!("the file is larger than the limit of {max_bytes} bytes"),
        ));
    }
    Ok(content_type)
}

/// A presigned PUT for `row`, as the client receives it.
pub async fn ticket(state: &AppState, row: &entity::Model) -> ApiResult<UploadTicket> {
    let ttl = state.settings.uploads.url_ttl;
    let expires_at = Utc::now() + ttl;
    let size = row.size.max(0) as u64;
    let request = storage(state)?
        .presign_put(&row.key, &row.content_type, size, ttl)
        .await
        .map_err(storage_error)?;
    Ok(UploadTicket {
        upload: UploadDto::from(row),
        upload_url: request.url,
        method: request.method,
        headers: request.headers,
        expires_at: iso(expires_at),
    })
}

/// Checks what arrived under `row`'s key against what was declared: 409
/// `upload.not_uploaded` when nothing did; 422 `upload.mismatch` (and the object deleted)
/// when its size or type differ.
pub async fn verify_arrived(state: &AppState, row: &entity::Model) -> ApiResult<()> {
    let storage = storage(state)?;
    let Some(head) = storage.head(&row.key).await.map_err(storage_error)? else {
        return Err(ApiError::conflict(
            "upload.not_uploaded",
            "nothing has been uploaded yet: PUT the file to the upload URL first",
        ));
    };
    let arrived_type = head
        .content_type
        .as_deref()
        .map(|kind| kind.trim().to_ascii_lowercase());
    if head.size != row.size.max(0) as u64 || arrived_type.as_deref() != Some(&row.content_type) {
        storage.delete(&row.key).await.map_err(storage_error)?;
        return Err(ApiError::invalid(
            "upload.mismatch",
            format!(
                "the stored file ({} bytes, {}) is not what was declared ({} bytes, {}); it was deleted",
                head.size,
                arrived_type.as_deref().unwrap_or("no type"),
                row.size,
                row.content_type
            ),
        ));
    }
    Ok(())
}

/// The caller's access to the workspace, and its upload by id (another workspace's is not
/// found).
async fn locate(
    state: &AppState,
    req: &Request,
    caller: &Authenticated,
    slug: &str,
    id: &UploadId,
) -> ApiResult<(Access, entity::Model)> {
    let access = Access::resolve(&state.db, req, &caller.0, slug).await?;
    let row = entity::Entity::find_by_id(id.as_str())
        .filter(entity::Column::WorkspaceId.eq(&access.workspace.id))
        .filter(entity::Column::Kind.eq(FILE))
        .one(&state.db)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    Ok((access, row))
}

/// The folder of one upload's object: `ws/<workspace>/<upload>/`.
fn upload_prefix(row: &entity::Model) -> String {
    let workspace_id = row.workspace_id.as_deref().unwrap_or_default();
    format!("{}{}/", workspace_prefix(workspace_id), row.id)
}

/// Bytes the workspace holds or has been promised (pending uploads count).
async fn used_bytes(db: &impl ConnectionTrait, workspace_id: &str) -> ApiResult<u64> {
    // Postgres sums a bigint as numeric: cast back.
    let used: Option<i64> = entity::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(COALESCE(SUM(size), 0) AS BIGINT)"), "used")
        .filter(entity::Column::WorkspaceId.eq(workspace_id))
        .into_tuple::<i64>()
        .one(db)
        .await
        .map_err(ApiError::internal)?;
    Ok(used.unwrap_or(0).max(0) as u64)
}

#[OpenApi(tag = "ApiTags::Uploads")]
impl UploadsApi {
    /// Start an upload (any member): a presigned PUT straight to storage
    ///
    /// The URL accepts exactly the declared type and size until `expiresAt`; then
    /// `POST …/uploads/{id}/complete`. 501 `uploads.not_configured` without storage.
    #[oai(
        path = "/v1/workspaces/:slug/uploads",
        method = "post",
        operation_id = "createUpload"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        body: Json<NewUpload>,
    ) -> ApiResult<UploadStarted> {
        storage(&state)?;
        let limits = &state.settings.uploads;
        let content_type = check_declared(
            &limits.allowed_types,
            limits.max_bytes,
            &body.content_type,
            body.size,
        )?;
        let change = Change::by_caller(&state, req, &caller.0).await?;
        // Locked: two uploads at once cannot both fit in the last of the quota.
        let access = Access::resolve_locked(&*change, req, &caller.0, &slug).await?;
        let workspace_id = access.workspace.id.clone();
        if let Some(quota) = limits.workspace_quota {
            let used = used_bytes(&*change, &workspace_id).await?;
            if used.saturating_add(body.size) > quota {
                return Err(ApiError::conflict(
                    "upload.quota_exceeded",
                    format!("the workspace's storage quota ({quota} bytes) would be exceeded"),
                ));
            }
        }
        let id = crate::ids::new_id(UploadKind::PREFIX);
        let key = format!(
            "{}{id}/{}",
            workspace_prefix(&workspace_id),
            sanitize_filename(&body.filename)
        );
        let row = entity::ActiveModel {
            id: Set(id),
            kind: Set(FILE.to_owned()),
            workspace_id: Set(Some(workspace_id)),
            uploaded_by: Set(Some(caller.0.user.id.clone())),
            key: Set(key),
            filename: Set(body.filename.as_str().to_owned()),
            content_type: Set(content_type),
            size: Set(body.size as i64),
            status: Set(PENDING.to_owned()),
            created_at: Set(Utc::now()),
            completed_at: Set(None),
        };
        let row = row.insert(&*change).await.map_err(ApiError::internal)?;
        let ticket = ticket(&state, &row).await?;
        change.commit(&state).await?;
        Ok(UploadStarted::Created(Json(ticket)))
    }

    /// Complete an upload (its uploader): checks the stored bytes against the declaration
    ///
    /// 409 `upload.not_uploaded` when nothing arrived; 422 `upload.mismatch` (the object is
    /// deleted) when its size or type differ. Completing twice answers the same upload.
    #[oai(
        path = "/v1/workspaces/:slug/uploads/:uploadId/complete",
        method = "post",
        operation_id = "completeUpload"
    )]
    async fn complete(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        #[oai(name = "uploadId")] upload_id: Path<UploadId>,
    ) -> ApiResult<Json<UploadDto>> {
        storage(&state)?;
        let (access, row) = locate(&state, req, &caller, &slug, &upload_id).await?;
        if row.uploaded_by.as_deref() != Some(&caller.0.user.id) {
            return Err(ApiError::forbidden("upload.not_yours"));
        }
        if row.status == READY {
            return Ok(Json(UploadDto::from(&row)));
        }
        verify_arrived(&state, &row).await?;
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let mut ready: entity::ActiveModel = row.into();
        ready.status = Set(READY.to_owned());
        ready.completed_at = Set(Some(Utc::now()));
        let row = ready.update(&*change).await.map_err(ApiError::internal)?;
        let upload = UploadDto::from(&row);
        change.record(WorkspaceEvent::UploadCompleted {
            workspace_id: access.workspace.id.clone(),
            upload: upload.clone(),
        });
        change.commit(&state).await?;
        Ok(Json(upload))
    }

    /// A workspace's files (any member), newest first
    ///
    /// Completed uploads only; at most `limit` (1–200, default 50), then `nextCursor`.
    #[oai(
        path = "/v1/workspaces/:slug/uploads",
        method = "get",
        operation_id = "listUploads"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u64>>,
        #[oai(validator(max_length = 512))] cursor: Query<Option<String>>,
    ) -> ApiResult<Json<UploadPage>> {
        storage(&state)?;
        let page = PageRequest::new(limit.0, cursor.0.as_deref())?;
        let access = Access::resolve(&state.db, req, &caller.0, &slug).await?;
        let mut select = entity::Entity::find()
            .filter(entity::Column::WorkspaceId.eq(&access.workspace.id))
            .filter(entity::Column::Status.eq(READY))
            .order_by_desc(entity::Column::Id)
            .limit(page.fetch());
        if let Some(after) = page.after_id(FILES_LIST)? {
            select = select.filter(entity::Column::Id.lt(after));
        }
        let rows = select.all(&state.db).await.map_err(ApiError::internal)?;
        let (rows, next_cursor) = page.page(rows, |row| id_key(FILES_LIST, &row.id));
        Ok(Json(UploadPage {
            items: rows.iter().map(UploadDto::from).collect(),
            next_cursor,
        }))
    }

    /// One file (any member), with a short-lived download URL
    #[oai(
        path = "/v1/workspaces/:slug/uploads/:uploadId",
        method = "get",
        operation_id = "getUpload"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        #[oai(name = "uploadId")] upload_id: Path<UploadId>,
    ) -> ApiResult<Json<UploadDownload>> {
        let storage = storage(&state)?;
        let (_, row) = locate(&state, req, &caller, &slug, &upload_id).await?;
        if row.status != READY {
            return Err(ApiError::not_found("upload"));
        }
        let ttl = state.settings.uploads.url_ttl;
        let name = sanitize_filename(&row.filename);
        let download_url = storage
            .presign_get(&row.key, Some(&name), ttl)
            .await
            .map_err(storage_error)?;
        Ok(Json(UploadDownload {
            upload: UploadDto::from(&row),
            download_url,
            expires_at: iso(Utc::now() + ttl),
        }))
    }

    /// Delete a file (its uploader, or `workspace.settings.edit`): the object, then the row
    #[oai(
        path = "/v1/workspaces/:slug/uploads/:uploadId",
        method = "delete",
        operation_id = "deleteUpload"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        #[oai(name = "uploadId")] upload_id: Path<UploadId>,
    ) -> ApiResult<Done> {
        let storage = storage(&state)?;
        let (access, row) = locate(&state, req, &caller, &slug, &upload_id).await?;
        if row.uploaded_by.as_deref() != Some(&caller.0.user.id) {
            access.require(Permission::SettingsEdit)?;
        }
        storage.delete(&row.key).await.map_err(storage_error)?;
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        entity::Entity::delete_by_id(&row.id)
            .exec(&*change)
            .await
            .map_err(ApiError::internal)?;
        let entry = Entry::new(Action::UploadDeleted, &row.id)
            .in_workspace(&access.workspace.id)
            .with(json!({"filename": row.filename, "contentType": row.content_type, "size": row.size}));
        change.audit(entry).await?;
        // Its upload URL may still work: whatever it puts there later goes too.
        let leftovers = ObjectKeys {
            prefixes: vec![upload_prefix(&row)],
            ..ObjectKeys::default()
        };
        enqueue_delete(&state, &change, leftovers).await?;
        change.record(WorkspaceEvent::UploadDeleted {
            workspace_id: access.workspace.id.clone(),
            upload_id: row.id.clone(),
        });
        change.commit(&state).await?;
        Ok(Done::NoContent)
    }
}
