//! Avatars: the signed-in user uploads an image straight to storage, then completes it; their
//! `image` becomes a URL any page can show (the bucket's public address, or this API's
//! redirect to a fresh presigned GET), and the previous avatar is deleted.

use chrono::Utc;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};

use super::api::{UploadId, UploadKind, UploadStarted, check_declared, ticket, verify_arrived};
use super::entity::{self, AVATAR, PENDING, READY};
use super::{ObjectKeys, enqueue_delete, storage, storage_error, user_prefix};
use crate::auth::session::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::http::prefixed_id::IdKind;
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;

/// The largest avatar, in bytes (or `UPLOAD_MAX_BYTES` when smaller).
const AVATAR_MAX_BYTES: u64 = 2 << 20;

#[derive(Default)]
pub struct AvatarApi;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct NewAvatar {
    /// An image type among `UPLOAD_ALLOWED_TYPES`.
    content_type: Text<128, 1>,
    /// Exact size in bytes, at most 2 MiB.
    size: u64,
}

#[derive(Debug, Object)]
struct AvatarSet {
    /// The user's new `image`.
    image: String,
}

#[derive(ApiResponse)]
enum AvatarRedirect {
    /// To a short-lived URL of the image.
    #[oai(status = 302)]
    Found(
        #[oai(header = "location")] String,
        #[oai(header = "cache-control")] String,
    ),
}

/// The avatar's address as the web client shows it.
fn image_url(state: &AppState, row: &entity::Model) -> ApiResult<String> {
    let storage = storage(state)?;
    Ok(match storage.public_url(&row.key) {
        Some(url) => url,
        None => format!("{}/v1/avatars/{}", state.settings.origins.api, row.id),
    })
}

#[OpenApi(tag = "ApiTags::Uploads")]
impl AvatarApi {
    /// Start an avatar upload: a presigned PUT of one image (at most 2 MiB)
    #[oai(
        path = "/v1/me/avatar",
        method = "post",
        operation_id = "createAvatarUpload"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        body: Json<NewAvatar>,
    ) -> ApiResult<UploadStarted> {
        storage(&state)?;
        let limits = &state.settings.uploads;
        let images: Vec<String> = limits
            .allowed_types
            .iter()
            .filter(|kind| kind.starts_with("image/"))
            .cloned()
            .collect();
        let max_bytes = limits.max_bytes.min(AVATAR_MAX_BYTES);
        let content_type = check_declared(&images, max_bytes, &body.content_type, body.size)?;
        let user_id = caller.0.user.id.clone();
        let id = crate::ids::new_id(UploadKind::PREFIX);
        let row = entity::ActiveModel {
            key: Set(format!("{}avatar/{id}", user_prefix(&user_id))),
            id: Set(id),
            kind: Set(AVATAR.to_owned()),
            workspace_id: Set(None),
            uploaded_by: Set(Some(user_id)),
            filename: Set("avatar".to_owned()),
            content_type: Set(content_type),
            size: Set(body.size as i64),
            status: Set(PENDING.to_owned()),
            created_at: Set(Utc::now()),
            completed_at: Set(None),
        };
        let row = row.insert(&state.db).await.map_err(ApiError::internal)?;
        Ok(UploadStarted::Created(Json(ticket(&state, &row).await?)))
    }

    /// Complete the newest avatar upload: checks the image, sets it as the user's `image`
    ///
    /// 404 `upload.not_found` without a pending avatar upload; 409 `upload.not_uploaded`, 422
    /// `upload.mismatch` as for files. The previous avatar is deleted.
    #[oai(
        path = "/v1/me/avatar/complete",
        method = "post",
        operation_id = "completeAvatarUpload"
    )]
    async fn complete(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
    ) -> ApiResult<Json<AvatarSet>> {
        storage(&state)?;
        let user = &caller.0.user;
        let row = entity::Entity::find()
            .filter(entity::Column::UploadedBy.eq(&user.id))
            .filter(entity::Column::Kind.eq(AVATAR))
            .filter(entity::Column::Status.eq(PENDING))
            .order_by_desc(entity::Column::Id)
            .one(&state.db)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("upload"))?;
        verify_arrived(&state, &row).await?;
        let image = image_url(&state, &row)?;
        let tx = crate::db::begin_write(&state.db)
            .await
            .map_err(ApiError::internal)?;
        let previous = entity::Entity::find()
            .filter(entity::Column::UploadedBy.eq(&user.id))
            .filter(entity::Column::Kind.eq(AVATAR))
            .filter(entity::Column::Status.eq(READY))
            .all(&tx)
            .await
            .map_err(ApiError::internal)?;
        let mut ready: entity::ActiveModel = row.into();
        ready.status = Set(READY.to_owned());
        ready.completed_at = Set(Some(Utc::now()));
        ready.update(&tx).await.map_err(ApiError::internal)?;
        let mut changes = user.clone().into_active_model();
        changes.image = Set(Some(image.clone()));
        changes.updated_at = Set(Utc::now());
        changes.update(&tx).await.map_err(ApiError::internal)?;
        if !previous.is_empty() {
            let ids: Vec<String> = previous.iter().map(|old| old.id.clone()).collect();
            entity::Entity::delete_many()
                .filter(entity::Column::Id.is_in(ids))
                .exec(&tx)
                .await
                .map_err(ApiError::internal)?;
            let objects = ObjectKeys {
                keys: previous.into_iter().map(|old| old.key).collect(),
                prefixes: Vec::new(),
            };
            enqueue_delete(&state, &tx, objects).await?;
        }
        tx.commit().await.map_err(ApiError::internal)?;
        Ok(Json(AvatarSet { image }))
    }

    /// An avatar (public, as images are): a redirect to a short-lived URL of it
    #[oai(
        path = "/v1/avatars/:uploadId",
        method = "get",
        operation_id = "avatar"
    )]
    async fn show(
        &self,
        state: Data<&AppState>,
        #[oai(name = "uploadId")] upload_id: Path<UploadId>,
    ) -> ApiResult<AvatarRedirect> {
        let row = entity::Entity::find_by_id(upload_id.as_str())
            .filter(entity::Column::Kind.eq(AVATAR))
            .filter(entity::Column::Status.eq(READY))
            .one(&state.db)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("avatar"))?;
        let ttl = state.settings.uploads.url_ttl;
        let url = storage(&state)?
            .presign_get(&row.key, None, ttl)
            .await
            .map_err(storage_error)?;
        // Browsers may reuse the redirect while the URL it names still works.
        let cache = format!("private, max-age={}", ttl.as_secs() / 2);
        Ok(AvatarRedirect::Found(url, cache))
    }
}
