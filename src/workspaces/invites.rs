//! Invitations: a random token mailed to an address, stored hashed, accepted once by the user
//! signed in with that address, revocable until then, expiring after `INVITE_TTL_DAYS`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use orbit_jobs::{Handler, JobError};
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use super::access::lock_workspace;
use super::dto::{InviteDto, MemberDto, SystemKey};
use super::entities::{invite, role, workspace};
use super::events::Change;
use super::{members, roles};
use crate::audit::{Action, Entry};
use crate::auth::address::EmailAddress;
use crate::auth::emails::{self, with_button};
use crate::auth::entities::user;
use crate::auth::links::encode_uri_component;
use crate::auth::tokens::hash_token;
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::{PageRequest, past, time_key};
use crate::ids::new_id;
use crate::rate_limit::{Limit, spend};
use crate::state::AppState;

/// Invitation mails one workspace may send per hour.
const PER_WORKSPACE: Limit = Limit {
    hits: 100,
    window: std::time::Duration::from_secs(60 * 60),
};
/// Invitation mails one address may receive per 10 minutes, from all workspaces.
const PER_ADDRESS: Limit = Limit {
    hits: 5,
    window: std::time::Duration::from_secs(10 * 60),
};

/// An invitation and the token that accepts it (known only until it is mailed).
pub struct Issued {
    pub invite: invite::Model,
    pub token: String,
}

/// 24 random bytes, base64url: what the Orbit API mails.
fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Invites `email` with `role_id` (none: Member). A pending invitation to the same address is
/// renewed (new token, new expiry, this role) rather than duplicated.
pub async fn issue(
    change: &Change,
    workspace_id: &str,
    invited_by: &str,
    email: &EmailAddress,
    role_id: Option<String>,
    ttl: std::time::Duration,
) -> ApiResult<Issued> {
    let now = Utc::now();
    let token = new_token();
    let expires_at = now + chrono::Duration::from_std(ttl).expect("the TTL is at most a year");
    let pending = invite::Entity::find()
        .filter(invite::Column::WorkspaceId.eq(workspace_id))
        .filter(invite::Column::Email.eq(email.as_str()))
        .filter(invite::Column::AcceptedAt.is_null())
        .filter(invite::Column::RevokedAt.is_null())
        .one(&**change)
        .await
        .map_err(ApiError::internal)?;
    let renewing = pending.is_some();
    let mut row = match pending {
        Some(pending) => pending.into(),
        None => invite::ActiveModel {
            id: Set(new_id("inv")),
            workspace_id: Set(workspace_id.to_owned()),
            email: Set(email.as_str().to_owned()),
            accepted_at: Set(None),
            revoked_at: Set(None),
            ..Default::default()
        },
    };
    row.role_id = Set(role_id);
    row.invited_by_id = Set(invited_by.to_owned());
    row.token_hash = Set(hash_token(&token));
    row.expires_at = Set(expires_at);
    row.created_at = Set(now);
    let (invite, action) = match renewing {
        true => (row.update(&**change).await, Action::InviteRenewed),
        false => (row.insert(&**change).await, Action::InviteCreated),
    };
    let invite = invite.map_err(ApiError::internal)?;
    let data = json!({"email": invite.email, "roleId": invite.role_id});
    let entry = Entry::new(action, &invite.id).in_workspace(workspace_id);
    change.audit(entry.with(data)).await?;
    Ok(Issued { invite, token })
}

/// Counts one invitation mail against the workspace's and the address's budgets (429).
pub async fn throttle(state: &AppState, workspace_id: &str, email: &str) -> ApiResult<()> {
    for (key, limit) in [
        (format!("invite:workspace:{workspace_id}"), PER_WORKSPACE),
        (format!("invite:email:{email}"), PER_ADDRESS),
    ] {
        spend(state.rate_limiter.as_ref(), &key, limit).await?;
    }
    Ok(())
}

/// Enqueues the invitation mail in `tx`: a link to `${WEB_ORIGIN}/invites/accept?token=…`.
pub async fn send(
    state: &AppState,
    tx: &DatabaseTransaction,
    workspace: &workspace::Model,
    inviter: &user::Model,
    issued: &Issued,
) -> ApiResult<()> {
    let link = format!(
        "{}/invites/accept?token={}",
        state.settings.origins.web,
        encode_uri_component(&issued.token)
    );
    let inviter = match inviter.name.trim() {
        "" => inviter.email.as_str(),
        name => name,
    };
    let days = state.settings.auth.invite_ttl.as_secs() / (24 * 60 * 60);
    let mail = with_button(
        &issued.invite.email,
        &format!("Join {} on Orbit", workspace.name),
        &format!(
            "{inviter} invited you to the workspace {}. The invitation expires in {days} days.",
            workspace.name
        ),
        "Accept invitation",
        &link,
    );
    emails::enqueue(state, tx, &mail).await
}

/// A page of pending invitations (not accepted, revoked or expired), newest first, with
/// their roles; `query` keeps those whose address contains it.
pub async fn pending_page(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    query: Option<&str>,
    page: &PageRequest,
) -> ApiResult<(Vec<InviteDto>, Option<String>)> {
    let mut select = invite::Entity::find()
        .filter(invite::Column::WorkspaceId.eq(workspace_id))
        .filter(invite::Column::AcceptedAt.is_null())
        .filter(invite::Column::RevokedAt.is_null())
        .filter(invite::Column::ExpiresAt.gt(Utc::now()))
        .find_also_related(role::Entity)
        .order_by_desc(invite::Column::CreatedAt)
        .order_by_desc(invite::Column::Id)
        .limit(page.fetch());
    if let Some((at, id)) = page.after_time(PENDING_LIST)? {
        select = select.filter(past(
            Expr::col((invite::Entity, invite::Column::CreatedAt)),
            Expr::col((invite::Entity, invite::Column::Id)),
            at,
            id,
            Order::Desc,
        ));
    }
    if let Some(pattern) = query.and_then(members::contains_pattern) {
        select = select.filter(Expr::col((invite::Entity, invite::Column::Email)).like(pattern));
    }
    let rows = select.all(db).await.map_err(ApiError::internal)?;
    let (rows, next) = page.page(rows, |(invite, _)| {
        time_key(PENDING_LIST, &invite.created_at, &invite.id)
    });
    let invites = rows
        .iter()
        .map(|(invite, role)| InviteDto::new(invite, role.as_ref()))
        .collect();
    Ok((invites, next))
}

/// The cursor name of the pending invitations list.
const PENDING_LIST: &str = "invites";

/// Revokes a pending invitation; revoking twice is fine, an accepted one is 409
/// `invite.accepted`.
pub async fn revoke(change: &Change, workspace_id: &str, invite_id: &str) -> ApiResult<()> {
    let invite = invite::Entity::find_by_id(invite_id)
        .filter(invite::Column::WorkspaceId.eq(workspace_id))
        .one(&**change)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("invite"))?;
    if invite.accepted_at.is_some() {
        return Err(ApiError::conflict(
            "invite.accepted",
            "cannot revoke an accepted invite",
        ));
    }
    if invite.revoked_at.is_none() {
        let entry = Entry::new(Action::InviteRevoked, &invite.id)
            .in_workspace(workspace_id)
            .with(json!({"email": invite.email}));
        let mut active: invite::ActiveModel = invite.into();
        active.revoked_at = Set(Some(Utc::now()));
        active.update(&**change).await.map_err(ApiError::internal)?;
        change.audit(entry).await?;
    }
    Ok(())
}

/// Accepts the invitation `token` for `user`: 401 `unauthorized` when it is unknown, used,
/// revoked or expired; 409 `invite.email_mismatch` when it was sent to another address. A
/// user who is already a member keeps their membership (and the invitation is used up).
pub async fn accept(
    change: &mut Change,
    user: &user::Model,
    token: &str,
) -> ApiResult<(workspace::Model, MemberDto)> {
    let now = Utc::now();
    let invite = invite::Entity::find()
        .filter(invite::Column::TokenHash.eq(hash_token(token)))
        .one(&**change)
        .await
        .map_err(ApiError::internal)?
        .filter(|invite| invite.is_pending(now))
        .ok_or_else(ApiError::unauthorized)?;
    if invite.email != user.email {
        return Err(ApiError::conflict(
            "invite.email_mismatch",
            "invite was sent to a different email",
        ));
    }
    let workspace = lock_workspace(&**change, workspace::Column::Id, &invite.workspace_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    use_up(&**change, &invite, now).await?;
    let entry = Entry::new(Action::InviteAccepted, &invite.id)
        .in_workspace(&workspace.id)
        .with(json!({"email": invite.email}));
    change.audit(entry).await?;
    if let Some((member, role)) = members::find_by_user(&**change, &workspace.id, &user.id).await? {
        return Ok((workspace, MemberDto::new(&member, user, &role)));
    }
    let role = match &invite.role_id {
        Some(role_id) => roles::find(&**change, &workspace.id, role_id).await?,
        None => roles::find_system(&**change, &workspace.id, SystemKey::Member).await?,
    };
    let member = members::join(change, &workspace.id, user, &role, now).await?;
    Ok((workspace, member))
}

/// Marks the invitation accepted, unless a concurrent request got there first (401).
async fn use_up(
    db: &impl ConnectionTrait,
    invite: &invite::Model,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let used = invite::Entity::update_many()
        .col_expr(invite::Column::AcceptedAt, Expr::value(now))
        .filter(invite::Column::Id.eq(&invite.id))
        .filter(invite::Column::AcceptedAt.is_null())
        .filter(invite::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(ApiError::internal)?;
    match used.rows_affected {
        1 => Ok(()),
        _ => Err(ApiError::unauthorized()),
    }
}

/// The job that deletes invitations accepted, revoked or expired longer ago than the retention.
pub const PRUNE_JOB: &str = "invites.prune";

pub fn prune_handler(db: DatabaseConnection, retention: std::time::Duration) -> Handler {
    Handler::new(PRUNE_JOB, move |_, _| {
        let db = db.clone();
        async move {
            let retention = chrono::Duration::from_std(retention).map_err(JobError::permanent)?;
            let before = Utc::now() - retention;
            let deleted = invite::Entity::delete_many()
                .filter(
                    Condition::any()
                        .add(invite::Column::AcceptedAt.lt(before))
                        .add(invite::Column::RevokedAt.lt(before))
                        .add(invite::Column::ExpiresAt.lt(before)),
                )
                .exec(&db)
                .await
                .map_err(JobError::retry)?;
            tracing::info!(
                deleted = deleted.rows_affected,
                "finished invitations deleted"
            );
            Ok(())
        }
    })
    .every("@daily".parse().expect("a valid schedule"))
}
