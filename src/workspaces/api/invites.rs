use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{Done, InviteId, RoleId};
use crate::auth::address::EmailAddress;
use crate::auth::session::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::{PageRequest, Paged};
use crate::http::request_context::RequestContext;
use crate::http::serde_json_body::SerdeJson;
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::workspaces::access::{Access, is_owner_role};
use crate::workspaces::dto::{InviteDto, MemberDto, WorkspaceDto};
use crate::workspaces::events::Change;
use crate::workspaces::permissions::Permission;
use crate::workspaces::{invites, members, roles};

#[derive(Default)]
pub struct InvitesApi;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct InviteRequest {
    email: EmailAddress,
    /// The role to join with; omitted or `null`: Member. Never the Owner role.
    #[oai(nullable)]
    role_id: Option<RoleId>,
}

#[derive(Debug, Object)]
struct InviteSent {
    invite: InviteDto,
}

#[derive(ApiResponse)]
enum InviteCreated {
    /// The invitation, mailed (a pending one to the same address is renewed).
    #[oai(status = 201)]
    Created(Json<InviteSent>),
}

#[derive(Debug, Object)]
struct Acceptance {
    /// The token from the invitation link.
    token: Text<128, 10>,
}

#[derive(Debug, Object)]
struct Accepted {
    workspace: WorkspaceDto,
    #[oai(nullable)]
    member: Option<MemberDto>,
}

#[OpenApi(tag = "ApiTags::Invites")]
impl InvitesApi {
    /// Invite someone by email (`workspace.members.invite`)
    #[oai(
        path = "/v1/workspaces/:slug/invites",
        method = "post",
        operation_id = "createInvite"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<InviteRequest>,
        caller: Authenticated,
        slug: Path<String>,
    ) -> ApiResult<InviteCreated> {
        let change = Change::by_caller(&state, req, &caller.0).await?;
        let access = Access::resolve_locked(&*change, req, &caller.0, &slug).await?;
        access.require(Permission::MembersInvite)?;
        let workspace_id = &access.workspace.id;
        let role = match &body.role_id {
            Some(role_id) => Some(roles::find(&*change, workspace_id, role_id.as_str()).await?),
            None => None,
        };
        if let Some(role) = &role {
            if is_owner_role(role) {
                return Err(ApiError::forbidden("invite.owner_role_forbidden"));
            }
            access.may_grant_role(role)?;
        }
        if members::has_member_with_email(&*change, workspace_id, body.email.as_str()).await? {
            return Err(ApiError::conflict(
                "invite.already_member",
                "already a member of this workspace",
            ));
        }
        invites::throttle(&state, workspace_id, body.email.as_str()).await?;
        let role_id = role.as_ref().map(|role| role.id.clone());
        let ttl = state.settings.auth.invite_ttl;
        let issued = invites::issue(
            &change,
            workspace_id,
            &access.me.id,
            &body.email,
            role_id,
            ttl,
        )
        .await?;
        invites::send(&state, &change, &access.workspace, &caller.0.user, &issued).await?;
        change.commit(&state).await?;
        Ok(InviteCreated::Created(Json(InviteSent {
            invite: InviteDto::new(&issued.invite, role.as_ref()),
        })))
    }

    /// Pending invitations, newest first (`workspace.members.invite`); `q` searches addresses
    ///
    /// A bare array (as Orbit's client reads it) of at most `limit` invitations (1–200,
    /// default 200); when more follow, the `X-Next-Cursor` header holds the `cursor` of the
    /// next page.
    #[oai(
        path = "/v1/workspaces/:slug/invites",
        method = "get",
        operation_id = "listInvites"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        /// Keeps invitations whose address contains this (any case).
        #[oai(validator(max_length = 160))]
        q: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u64>>,
        #[oai(validator(max_length = 512))] cursor: Query<Option<String>>,
    ) -> ApiResult<Paged<SerdeJson<Vec<InviteDto>>>> {
        let page = PageRequest::whole(limit.0, cursor.0.as_deref())?;
        let access = Access::resolve(&state.db, req, &caller.0, &slug).await?;
        access.require(Permission::MembersInvite)?;
        let (items, next_cursor) =
            invites::pending_page(&state.db, &access.workspace.id, q.0.as_deref(), &page).await?;
        Ok(Paged {
            items: SerdeJson(items),
            next_cursor,
        })
    }

    /// Revoke an invitation (`workspace.members.invite`); revoking twice is fine
    #[oai(
        path = "/v1/workspaces/:slug/invites/:inviteId",
        method = "delete",
        operation_id = "revokeInvite"
    )]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        #[oai(name = "inviteId")] invite_id: Path<InviteId>,
    ) -> ApiResult<Done> {
        let change = Change::by_caller(&state, req, &caller.0).await?;
        let access = Access::resolve(&*change, req, &caller.0, &slug).await?;
        access.require(Permission::MembersInvite)?;
        invites::revoke(&change, &access.workspace.id, invite_id.as_str()).await?;
        change.commit(&state).await?;
        Ok(Done::NoContent)
    }

    /// Accept an invitation sent to your address
    #[oai(
        path = "/v1/invites/accept",
        method = "post",
        operation_id = "acceptInvite"
    )]
    async fn accept(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<Acceptance>,
        caller: Authenticated,
    ) -> ApiResult<Json<Accepted>> {
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let (workspace, member) = invites::accept(&mut change, &caller.0.user, &body.token).await?;
        change.commit(&state).await?;
        RequestContext::record_workspace(req, &workspace.slug);
        Ok(Json(Accepted {
            workspace: WorkspaceDto::from(&workspace),
            member: Some(member),
        }))
    }
}
