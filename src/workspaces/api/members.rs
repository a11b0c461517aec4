use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::{Done, MemberId, RoleId};
use crate::auth::session::Authenticated;
use crate::error::ApiResult;
use crate::http::pagination::{PageRequest, Paged};
use crate::http::serde_json_body::SerdeJson;
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::workspaces::access::Access;
use crate::workspaces::dto::MemberDto;
use crate::workspaces::events::Change;
use crate::workspaces::members;
use crate::workspaces::permissions::Permission;

#[derive(Default)]
pub struct MembersApi;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct RoleChange {
    role_id: RoleId,
}

#[OpenApi(tag = "ApiTags::Members")]
impl MembersApi {
    /// The workspace's members, oldest first; `q` searches names and emails
    ///
    /// A bare array (as Orbit's client reads it) of at most `limit` members (1–200, default
    /// 200); when more follow, the `X-Next-Cursor` header holds the `cursor` of the next page.
    #[oai(
        path = "/v1/workspaces/:slug/members",
        method = "get",
        operation_id = "listMembers"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        /// Keeps members whose name or email contains this (any case).
        #[oai(validator(max_length = 160))]
        q: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u64>>,
        #[oai(validator(max_length = 512))] cursor: Query<Option<String>>,
    ) -> ApiResult<Paged<SerdeJson<Vec<MemberDto>>>> {
        let page = PageRequest::whole(limit.0, cursor.0.as_deref())?;
        let access = Access::resolve(&state.db, req, &caller.0, &slug).await?;
        let (members, next_cursor) =
            members::page(&state.db, &access.workspace.id, q.0.as_deref(), &page).await?;
        Ok(Paged {
            items: SerdeJson(members),
            next_cursor,
        })
    }

    /// Remove a member (`workspace.members.remove`; only owners remove owners)
    #[oai(
        path = "/v1/workspaces/:slug/members/:memberId",
        method = "delete",
        operation_id = "removeMember"
    )]
    async fn remove(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        #[oai(name = "memberId")] member_id: Path<MemberId>,
    ) -> ApiResult<Done> {
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let access = Access::resolve_locked(&*change, req, &caller.0, &slug).await?;
        access.require(Permission::MembersRemove)?;
        members::remove(&mut change, &access, member_id.as_str()).await?;
        change.commit(&state).await?;
        Ok(Done::NoContent)
    }

    /// Give a member another role (`workspace.members.change_role`; only owners make or
    /// unmake owners)
    #[oai(
        path = "/v1/workspaces/:slug/members/:memberId/role",
        method = "patch",
        operation_id = "changeMemberRole"
    )]
    async fn change_role(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<RoleChange>,
        caller: Authenticated,
        slug: Path<String>,
        #[oai(name = "memberId")] member_id: Path<MemberId>,
    ) -> ApiResult<Done> {
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let access = Access::resolve_locked(&*change, req, &caller.0, &slug).await?;
        access.require(Permission::MembersChangeRole)?;
        members::change_role(
            &mut change,
            &access,
            member_id.as_str(),
            body.role_id.as_str(),
        )
        .await?;
        change.commit(&state).await?;
        Ok(Done::NoContent)
    }
}
