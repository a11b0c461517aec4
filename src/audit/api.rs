//! Reading the audit log: a workspace's (`workspace.audit.view`) and the whole app's (role
//! `admin`), newest first, by cursor, with the actors' names resolved.

use std::collections::{HashMap, HashSet};

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Action, entity};
use crate::auth::entities::user;
use crate::auth::permissions::require_admin;
use crate::auth::session::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::{PageRequest, id_key};
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::time::iso;
use crate::workspaces::access::Access;
use crate::workspaces::permissions::Permission;

#[derive(Default)]
pub struct AuditApi;

/// Who did it.
#[derive(Debug, Object)]
#[oai(rename = "AuditActor", rename_all = "camelCase", nullable_all)]
struct ActorDto {
    /// Null: the system (a provider's webhook, a scheduled job).
    user_id: Option<String>,
    /// Null when the user has since been deleted.
    name: Option<String>,
    email: Option<String>,
    /// The admin who was impersonating the user, if one was.
    impersonator_id: Option<String>,
    impersonator_name: Option<String>,
}

/// What it was done to.
#[derive(Debug, Object)]
#[oai(rename = "AuditTarget")]
struct TargetDto {
    /// `workspace`, `member`, `role`, `invite`, `upload` or `user`.
    #[oai(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Debug, Object)]
#[oai(rename = "AuditEntry", rename_all = "camelCase", nullable_all)]
struct EntryDto {
    id: String,
    at: String,
    actor: ActorDto,
    workspace_id: Option<String>,
    /// One of `AuditAction`.
    action: String,
    target: TargetDto,
    ip: Option<String>,
    user_agent: Option<String>,
    /// What changed (never a secret).
    data: serde_json::Value,
}

#[derive(Debug, Object)]
#[oai(rename = "AuditPage", rename_all = "camelCase", nullable_all)]
struct AuditPage {
    /// Newest first.
    items: Vec<EntryDto>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// The cursor name of audit lists.
const AUDIT_LIST: &str = "audit";

/// Which entries a list shows.
#[derive(Default)]
struct Filter {
    workspace_id: Option<String>,
    action: Option<Action>,
    actor_id: Option<String>,
}

async fn page(
    db: &impl ConnectionTrait,
    filter: Filter,
    page: PageRequest,
) -> ApiResult<AuditPage> {
    let mut select = entity::Entity::find()
        .order_by_desc(entity::Column::Id)
        .limit(page.fetch());
    if let Some(workspace_id) = filter.workspace_id {
        select = select.filter(entity::Column::WorkspaceId.eq(workspace_id));
    }
    if let Some(action) = filter.action {
        select = select.filter(entity::Column::Action.eq(action.as_str()));
    }
    if let Some(actor_id) = filter.actor_id {
        select = select.filter(entity::Column::ActorId.eq(actor_id));
    }
    if let Some(after) = page.after_id(AUDIT_LIST)? {
        select = select.filter(entity::Column::Id.lt(after));
    }
    let rows = select.all(db).await.map_err(ApiError::internal)?;
    let (rows, next_cursor) = page.page(rows, |row| id_key(AUDIT_LIST, &row.id));
    let names = names(db, &rows).await?;
    let name_of = |id: &Option<String>| id.as_ref().and_then(|id| names.get(id));
    let items = rows
        .into_iter()
        .map(|row| {
            let actor = name_of(&row.actor_id);
            let impersonator = name_of(&row.impersonator_id);
            EntryDto {
                actor: ActorDto {
                    name: actor.map(|(name, _)| name.clone()),
                    email: actor.map(|(_, email)| email.clone()),
                    impersonator_name: impersonator.map(|(name, _)| name.clone()),
                    user_id: row.actor_id,
                    impersonator_id: row.impersonator_id,
                },
                id: row.id,
                at: iso(row.at),
                workspace_id: row.workspace_id,
                action: row.action,
                target: TargetDto {
                    kind: row.target_type,
                    id: row.target_id,
                },
                ip: row.ip,
                user_agent: row.user_agent,
                data: serde_json::from_str(&row.data).unwrap_or_default(),
            }
        })
        .collect();
    Ok(AuditPage { items, next_cursor })
}

/// The name and address of every actor and impersonator on the page, in one query.
async fn names(
    db: &impl ConnectionTrait,
    rows: &[entity::Model],
) -> ApiResult<HashMap<String, (String, String)>> {
    let ids: HashSet<&String> = rows
        .iter()
        .flat_map(|row| [&row.actor_id, &row.impersonator_id])
        .flatten()
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let found = user::Entity::find()
        .select_only()
        .columns([user::Column::Id, user::Column::Name, user::Column::Email])
        .filter(user::Column::Id.is_in(ids))
        .into_tuple::<(String, String, String)>()
        .all(db)
        .await
        .map_err(ApiError::internal)?;
    Ok(found
        .into_iter()
        .map(|(id, name, email)| (id, (name, email)))
        .collect())
}

#[OpenApi]
impl AuditApi {
    /// A workspace's audit log, newest first (`workspace.audit.view`)
    ///
    /// Filters: `action`, `actorId`. Cursor pagination: `limit` 1–200 (default 50), `cursor`
    /// from the previous page's `nextCursor`.
    #[oai(
        path = "/v1/workspaces/:slug/audit",
        method = "get",
        operation_id = "listWorkspaceAudit",
        tag = "ApiTags::Workspaces"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn workspace(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        action: Query<Option<Action>>,
        #[oai(name = "actorId", validator(max_length = 64))] actor_id: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u64>>,
        #[oai(validator(max_length = 512))] cursor: Query<Option<String>>,
    ) -> ApiResult<Json<AuditPage>> {
        let request = PageRequest::new(limit.0, cursor.0.as_deref())?;
        let access = Access::resolve(&state.db, req, &caller.0, &slug).await?;
        access.require(Permission::AuditView)?;
        let filter = Filter {
            workspace_id: Some(access.workspace.id),
            action: action.0,
            actor_id: actor_id.0,
        };
        Ok(Json(page(&state.db, filter, request).await?))
    }

    /// The whole app's audit log, newest first (role `admin`)
    ///
    /// Filters: `action`, `actorId`, `workspaceId`. Cursor pagination: `limit` 1–200 (default
    /// 50), `cursor` from the previous page's `nextCursor`.
    #[oai(
        path = "/v1/admin/audit",
        method = "get",
        operation_id = "adminListAudit",
        tag = "ApiTags::Admin"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn admin(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        action: Query<Option<Action>>,
        #[oai(name = "actorId", validator(max_length = 64))] actor_id: Query<Option<String>>,
        #[oai(name = "workspaceId", validator(max_length = 64))] workspace_id: Query<
            Option<String>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u64>>,
        #[oai(validator(max_length = 512))] cursor: Query<Option<String>>,
    ) -> ApiResult<Json<AuditPage>> {
        require_admin(&caller)?;
        let request = PageRequest::new(limit.0, cursor.0.as_deref())?;
        let filter = Filter {
            workspace_id: workspace_id.0,
            action: action.0,
            actor_id: actor_id.0,
        };
        Ok(Json(page(&state.db, filter, request).await?))
    }
}
