use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{Done, MemberId};
use crate::auth::address::EmailAddress;
use crate::auth::session::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::http::request_context::RequestContext;
use crate::http::serde_json_body::SerdeJson;
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::rate_limit::{Limit, spend};
use crate::state::AppState;
use crate::workspaces::access::Access;
use crate::workspaces::dto::{InviteDto, MemberDto, WorkspaceDto};
use crate::workspaces::events::Change;
use crate::workspaces::permissions::Permission;
use crate::workspaces::service::WorkspacePatch;
use crate::workspaces::{invites, members, service};

/// Workspaces one user may open per hour.
const OPENED_PER_HOUR: Limit = Limit {
    hits: 20,
    window: std::time::Duration::from_secs(60 * 60),
};

#[derive(Default)]
pub struct WorkspacesApi;

#[derive(Debug, Object)]
struct NewWorkspace {
    name: Text<64, 1>,
    /// Normalised (lowercased, other characters made dashes), then 3–32 characters of
    /// `a-z`, `0-9` and `-`, starting with a letter.
    slug: Text<32, 3>,
    /// Addresses to invite as members (at most 50).
    #[oai(nullable, validator(max_items = 50))]
    invites: Option<Vec<EmailAddress>>,
}

#[derive(Debug, Object)]
struct OpenedWorkspace {
    workspace: WorkspaceDto,
    #[oai(nullable)]
    you: Option<MemberDto>,
    invites: Vec<InviteDto>,
}

#[derive(Debug, Object, serde::Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkspaceView {
    workspace: WorkspaceDto,
    #[oai(nullable)]
    you: Option<MemberDto>,
    /// Oldest first; at most `WORKSPACE_MEMBERS_INLINE` (200 by default).
    members: Vec<MemberDto>,
    /// How many members the workspace has.
    members_total: u64,
    /// Whether `members` stops short of `membersTotal`: the rest come from
    /// `GET /v1/workspaces/{slug}/members`.
    members_truncated: bool,
}

#[derive(Debug, Object)]
struct WorkspaceUpdate {
    /// Omitted or `null`: unchanged.
    #[oai(nullable)]
    name: Option<Text<64, 1>>,
    /// Omitted or `null`: unchanged. Normalised and checked as on opening; 409
    /// `workspace.slug_taken` when another workspace has it.
    #[oai(nullable)]
    slug: Option<Text<32, 3>>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct OwnershipTransfer {
    /// The member who becomes the owner.
    member_id: MemberId,
}

#[derive(ApiResponse)]
enum Opened {
    /// The workspace, you as its owner, and the invitations sent.
    #[oai(status = 201)]
    Created(Json<OpenedWorkspace>),
}

#[OpenApi(tag = "ApiTags::Workspaces")]
impl WorkspacesApi {
    /// Open a workspace (you become its owner), optionally inviting people
    #[oai(
        path = "/v1/workspaces",
        method = "post",
        operation_id = "createWorkspace"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<NewWorkspace>,
        caller: Authenticated,
    ) -> ApiResult<Opened> {
        let owner = &caller.0.user;
        let name = service::clean_name(&body.name);
        if name.is_empty() {
            return Err(ApiError::validation("name must not be blank"));
        }
        let slug = service::normalize_slug(&body.slug)?;
        let key = format!("workspace-open:user:{}", owner.id);
        spend(state.rate_limiter.as_ref(), &key, OPENED_PER_HOUR).await?;
        let emails = body.0.invites.unwrap_or_default();
        let ttl = state.settings.auth.invite_ttl;
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let opened = service::open(&mut change, owner, name, slug, &emails, ttl).await?;
        for issued in &opened.invites {
            let workspace = &opened.workspace;
            match invites::throttle(&state, &workspace.id, &issued.invite.email).await {
                Ok(()) => invites::send(&state, &change, workspace, owner, issued).await?,
                Err(err) => {
                    tracing::warn!(invite_id = %issued.invite.id, error = %err, "invitation not mailed");
                }
            }
        }
        change.commit(&state).await?;
        RequestContext::record_workspace(req, &opened.workspace.slug);
        let response = OpenedWorkspace {
            workspace: WorkspaceDto::from(&opened.workspace),
            you: Some(opened.you),
            invites: opened
                .invites
                .iter()
                .map(|issued| InviteDto::new(&issued.invite, None))
                .collect(),
        };
        Ok(Opened::Created(Json(response)))
    }

    /// A workspace, you in it, and its first members
    #[oai(
        path = "/v1/workspaces/:slug",
        method = "get",
        operation_id = "getWorkspace"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
    ) -> ApiResult<SerdeJson<WorkspaceView>> {
        let access = Access::resolve(&state.db, req, &caller.0, &slug).await?;
        let inline = state.settings.lists.workspace_members_inline;
        let (members, total) = members::first(&state.db, &access.workspace.id, inline).await?;
        Ok(SerdeJson(WorkspaceView {
            workspace: WorkspaceDto::from(&access.workspace),
            you: Some(access.you(&caller.0)),
            members_truncated: total > members.len() as u64,
            members_total: total,
            members,
        }))
    }

    /// Rename a workspace or change its slug (`workspace.settings.edit`)
    #[oai(
        path = "/v1/workspaces/:slug",
        method = "patch",
        operation_id = "updateWorkspace"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<WorkspaceUpdate>,
        caller: Authenticated,
        slug: Path<String>,
    ) -> ApiResult<Json<WorkspaceDto>> {
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let access = Access::resolve_locked(&*change, req, &caller.0, &slug).await?;
        access.require(Permission::SettingsEdit)?;
        let body = body.0;
        let patch = WorkspacePatch {
            name: body.name.map(Text::into_string),
            slug: body.slug.map(Text::into_string),
        };
        let workspace = service::update(&mut change, access.workspace, patch).await?;
        change.commit(&state).await?;
        Ok(Json(WorkspaceDto::from(&workspace)))
    }

    /// Leave a workspace (the last owner cannot: 409 `member.last_owner`)
    #[oai(
        path = "/v1/workspaces/:slug/leave",
        method = "post",
        operation_id = "leaveWorkspace"
    )]
    async fn leave(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
    ) -> ApiResult<Done> {
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let access = Access::resolve_locked(&*change, req, &caller.0, &slug).await?;
        members::leave(&mut change, &access).await?;
        change.commit(&state).await?;
        Ok(Done::NoContent)
    }

    /// Hand the workspace to another member (owners only): they become an Owner and its
    /// `ownerId`, you an Admin
    #[oai(
        path = "/v1/workspaces/:slug/transfer-ownership",
        method = "post",
        operation_id = "transferWorkspaceOwnership"
    )]
    async fn transfer_ownership(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<OwnershipTransfer>,
        caller: Authenticated,
        slug: Path<String>,
    ) -> ApiResult<Json<WorkspaceDto>> {
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let access = Access::resolve_locked(&*change, req, &caller.0, &slug).await?;
        let target = body.member_id.as_str();
        let workspace =
            members::transfer_ownership(&mut change, &access, &caller.0.user, target).await?;
        change.commit(&state).await?;
        Ok(Json(WorkspaceDto::from(&workspace)))
    }

    /// Delete a workspace with its members, roles and invitations (`workspace.delete`)
    #[oai(
        path = "/v1/workspaces/:slug",
        method = "delete",
        operation_id = "deleteWorkspace"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
    ) -> ApiResult<Done> {
        // The provider is told first, outside the transaction (no lock held over the network).
        let access = Access::resolve(&state.db, req, &caller.0, &slug).await?;
        access.require(Permission::Delete)?;
        crate::billing::end_subscription(&state, &access.workspace.id).await?;
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let access = Access::resolve_locked(&*change, req, &caller.0, &slug).await?;
        access.require(Permission::Delete)?;
        crate::uploads::forget_workspace(&state, &change, &access.workspace.id).await?;
        service::delete(&mut change, &access.workspace).await?;
        change.commit(&state).await?;
        Ok(Done::NoContent)
    }
}
