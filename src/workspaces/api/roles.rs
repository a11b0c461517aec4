use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{Done, RoleId};
use crate::auth::session::Authenticated;
use crate::error::ApiResult;
use crate::http::serde_json_body::SerdeJson;
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::workspaces::access::Access;
use crate::workspaces::dto::RoleDto;
use crate::workspaces::events::Change;
use crate::workspaces::permissions::Permission;
use crate::workspaces::roles::{self, NewRole, RolePatch};

type PermissionName = Text<64, 1>;

#[derive(Default)]
pub struct RolesApi;

#[derive(Debug, Object)]
struct RoleRequest {
    name: Text<48, 1>,
    #[oai(nullable)]
    description: Option<Text<240>>,
    /// Permission names (`workspace.members.invite`…); unknown ones are 422
    /// `role.unknown_permission`.
    #[oai(validator(max_items = 32))]
    permissions: Vec<PermissionName>,
}

#[derive(Debug, Object)]
struct RoleUpdate {
    /// Omitted or `null`: unchanged.
    #[oai(nullable)]
    name: Option<Text<48, 1>>,
    /// Omit to keep, `null` to clear.
    #[oai(nullable)]
    description: MaybeUndefined<Text<240>>,
    /// Omitted or `null`: unchanged.
    #[oai(nullable, validator(max_items = 32))]
    permissions: Option<Vec<PermissionName>>,
}

#[derive(ApiResponse)]
enum RoleCreated {
    /// The new role (`memberCount` 0).
    #[oai(status = 201)]
    Created(Json<RoleDto>),
}

fn names(permissions: &[PermissionName]) -> Vec<String> {
    permissions
        .iter()
        .map(|name| name.as_str().to_owned())
        .collect()
}

#[OpenApi(tag = "ApiTags::Roles")]
impl RolesApi {
    /// The workspace's roles with their member counts, by sort order
    #[oai(
        path = "/v1/workspaces/:slug/roles",
        method = "get",
        operation_id = "listRoles"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
    ) -> ApiResult<SerdeJson<Vec<RoleDto>>> {
        let access = Access::resolve(&state.db, req, &caller.0, &slug).await?;
        Ok(SerdeJson(
            roles::list_with_counts(&state.db, &access.workspace.id).await?,
        ))
    }

    /// Create a custom role (`workspace.roles.manage`)
    #[oai(
        path = "/v1/workspaces/:slug/roles",
        method = "post",
        operation_id = "createRole"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<RoleRequest>,
        caller: Authenticated,
        slug: Path<String>,
    ) -> ApiResult<RoleCreated> {
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let access = Access::resolve_locked(&*change, req, &caller.0, &slug).await?;
        access.require(Permission::RolesManage)?;
        let permissions = names(&body.permissions);
        let new = NewRole {
            name: &body.name,
            description: body.description.as_deref(),
            permissions: &permissions,
        };
        let role = roles::create(&mut change, &access, new).await?;
        change.commit(&state).await?;
        Ok(RoleCreated::Created(Json(RoleDto::new(&role, Some(0)))))
    }

    /// Rename a custom role, or change a role's description or permissions
    /// (`workspace.roles.manage`; the Owner role cannot change)
    #[oai(
        path = "/v1/workspaces/:slug/roles/:roleId",
        method = "patch",
        operation_id = "updateRole"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<RoleUpdate>,
        caller: Authenticated,
        slug: Path<String>,
        #[oai(name = "roleId")] role_id: Path<RoleId>,
    ) -> ApiResult<Json<RoleDto>> {
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let access = Access::resolve_locked(&*change, req, &caller.0, &slug).await?;
        access.require(Permission::RolesManage)?;
        let role = roles::find(&*change, &access.workspace.id, role_id.as_str()).await?;
        let permissions = body.permissions.as_deref().map(names);
        let patch = RolePatch {
            name: body.name.as_deref(),
            description: match &body.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(text) => Some(Some(text.as_str())),
            },
            permissions: permissions.as_deref(),
        };
        let role = roles::update(&mut change, &access, role, patch).await?;
        change.commit(&state).await?;
        Ok(Json(role))
    }

    /// Delete a custom role nobody holds (`workspace.roles.manage`)
    #[oai(
        path = "/v1/workspaces/:slug/roles/:roleId",
        method = "delete",
        operation_id = "deleteRole"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        #[oai(name = "roleId")] role_id: Path<RoleId>,
    ) -> ApiResult<Done> {
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let access = Access::resolve_locked(&*change, req, &caller.0, &slug).await?;
        access.require(Permission::RolesManage)?;
        let role = roles::find(&*change, &access.workspace.id, role_id.as_str()).await?;
        roles::delete(&mut change, &access, role).await?;
        change.commit(&state).await?;
        Ok(Done::NoContent)
    }
}
