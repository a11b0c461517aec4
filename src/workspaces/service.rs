//! Opening and deleting workspaces, and what the rest of the app asks about a user's
//! workspaces (the `/v1/me` list, the account-deletion rule).

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, Set,
};
use serde_json::json;

use super::dto::{MemberDto, SystemKey, WorkspaceDto};
use super::entities::{invite, member, role, workspace};
use super::events::{Change, WorkspaceEvent};
use super::invites::{self, Issued};
use crate::audit::{Action, Entry};
use crate::auth::address::EmailAddress;
use crate::auth::entities::user;
use crate::error::{ApiError, ApiResult, unique_or_internal};
use crate::ids::new_id;

/// `^[a-z][a-z0-9-]{1,30}[a-z0-9]$` after normalising: trimmed, lowercased, every run of
/// other characters turned into one dash, dashes trimmed. Else 422 `workspace_slug.invalid`.
pub fn normalize_slug(raw: &str) -> ApiResult<String> {
    let mut slug = String::with_capacity(raw.len());
    let mut replacing = false;
    for c in raw.trim().to_lowercase().chars() {
        match c {
            'a'..='z' | '0'..='9' | '-' => slug.push(c),
            _ if replacing => continue,
            _ => slug.push('-'),
        }
        replacing = !matches!(c, 'a'..='z' | '0'..='9' | '-');
    }
    let slug = slug.trim_matches('-').to_owned();
    let bytes = slug.as_bytes();
    let valid = (3..=32).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-';
    match valid {
        true => Ok(slug),
        false => Err(ApiError::invalid(
            "workspace_slug.invalid",
            "slug must be 3-32 chars, lowercase letters, digits, or dashes",
        )),
    }
}

/// A display name: trimmed, control characters (a newline in a mail subject) made spaces.
pub fn clean_name(raw: &str) -> String {
    raw.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// What a new workspace holds.
pub struct Opened {
    pub workspace: workspace::Model,
    pub you: MemberDto,
    pub invites: Vec<Issued>,
}

/// Opens a workspace: the row, its three system roles, `owner` as its Owner, and an
/// invitation (as Member) to each address. 409 `workspace.slug_taken` when the slug is used.
pub async fn open(
    change: &mut Change,
    owner: &user::Model,
    name: String,
    slug: String,
    invite_emails: &[EmailAddress],
    invite_ttl: std::time::Duration,
) -> ApiResult<Opened> {
    let now = Utc::now();
    let workspace = workspace::ActiveModel {
        id: Set(new_id("ws")),
        slug: Set(slug.clone()),
        name: Set(name),
        owner_id: Set(owner.id.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&**change)
    .await
    .map_err(|err| {
        unique_or_internal(err, || {
            ApiError::conflict("workspace.slug_taken", format!("slug '{slug}' is taken"))
        })
    })?;
    let entry = Entry::new(Action::WorkspaceCreated, &workspace.id)
        .in_workspace(&workspace.id)
        .with(json!({"name": workspace.name, "slug": workspace.slug}));
    change.audit(entry).await?;
    let seeded = super::roles::seed(&**change, &workspace.id, now).await?;
    let owner_role = seeded
        .iter()
        .find(|role| super::access::is_owner_role(role))
        .ok_or_else(|| ApiError::internal("the Owner role was not seeded"))?;
    let you = super::members::join(change, &workspace.id, owner, owner_role, now).await?;
    let mut issued = Vec::with_capacity(invite_emails.len());
    for email in invite_emails {
        if email.as_str() == owner.email
            || issued
                .iter()
                .any(|i: &Issued| i.invite.email == email.as_str())
        {
            continue;
        }
        issued.push(invites::issue(change, &workspace.id, &you.id, email, None, invite_ttl).await?);
    }
    Ok(Opened {
        workspace,
        you,
        invites: issued,
    })
}

/// Deletes the workspace and everything in it.
pub async fn delete(change: &mut Change, workspace: &workspace::Model) -> ApiResult<()> {
    let id = workspace.id.as_str();
    invite::Entity::delete_many()
        .filter(invite::Column::WorkspaceId.eq(id))
        .exec(&**change)
        .await
        .map_err(ApiError::internal)?;
    member::Entity::delete_many()
        .filter(member::Column::WorkspaceId.eq(id))
        .exec(&**change)
        .await
        .map_err(ApiError::internal)?;
    role::Entity::delete_many()
        .filter(role::Column::WorkspaceId.eq(id))
        .exec(&**change)
        .await
        .map_err(ApiError::internal)?;
    workspace::Entity::delete_by_id(id)
        .exec(&**change)
        .await
        .map_err(ApiError::internal)?;
    let entry = Entry::new(Action::WorkspaceDeleted, id)
        .in_workspace(id)
        .with(json!({"name": workspace.name, "slug": workspace.slug}));
    change.audit(entry).await?;
    change.record(WorkspaceEvent::WorkspaceDeleted {
        workspace_id: id.to_owned(),
    });
    Ok(())
}

/// One of the user's workspaces and their place in it: what `/v1/me` lists and the
/// account-deletion rule reads, no more (the app's most frequent query: its roles'
/// permissions and members' search text stay in the database).
#[derive(Debug, FromQueryResult)]
pub struct Membership {
    pub workspace_id: String,
    pub slug: String,
    pub name: String,
    pub member_id: String,
    pub role_name: String,
    pub role_system_key: Option<String>,
}

/// The workspaces `user_id` belongs to, oldest membership first (one query).
pub async fn memberships(db: &impl ConnectionTrait, user_id: &str) -> ApiResult<Vec<Membership>> {
    member::Entity::find()
        .select_only()
        .column_as(workspace::Column::Id, "workspace_id")
        .column(workspace::Column::Slug)
        .column(workspace::Column::Name)
        .column_as(member::Column::Id, "member_id")
        .column_as(role::Column::Name, "role_name")
        .column_as(role::Column::SystemKey, "role_system_key")
        .join(JoinType::InnerJoin, member::Relation::Workspace.def())
        .join(JoinType::InnerJoin, member::Relation::Role.def())
        .filter(member::Column::UserId.eq(user_id))
        .order_by_asc(member::Column::CreatedAt)
        .order_by_asc(member::Column::Id)
        .into_model::<Membership>()
        .all(db)
        .await
        .map_err(ApiError::internal)
}

/// The workspaces whose only owner is `user_id`: deleting the account would leave them
/// without one.
pub async fn solely_owned(db: &impl ConnectionTrait, user_id: &str) -> ApiResult<Vec<Membership>> {
    let owned: Vec<Membership> = memberships(db, user_id)
        .await?
        .into_iter()
        .filter(|membership| super::access::is_owner_key(membership.role_system_key.as_deref()))
        .collect();
    if owned.is_empty() {
        return Ok(owned);
    }
    let owners: HashMap<String, i64> = member::Entity::find()
        .select_only()
        .column(member::Column::WorkspaceId)
        .column_as(member::Column::Id.count(), "owners")
        .join(JoinType::InnerJoin, member::Relation::Role.def())
        .filter(member::Column::WorkspaceId.is_in(owned.iter().map(|m| m.workspace_id.clone())))
        .filter(role::Column::SystemKey.eq(SystemKey::Owner.as_str()))
        .group_by(member::Column::WorkspaceId)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .collect();
    Ok(owned
        .into_iter()
        .filter(|membership| owners.get(&membership.workspace_id).copied().unwrap_or(0) <= 1)
        .collect())
}

/// What a request asks to change on a workspace; `None` leaves a field as it is.
pub struct WorkspacePatch {
    pub name: Option<String>,
    /// Normalised as on opening.
    pub slug: Option<String>,
}

/// Renames the workspace or moves it to another slug (422 `workspace_slug.invalid`, 409
/// `workspace.slug_taken`); announces `workspace.updated` when anything changed.
pub async fn update(
    change: &mut Change,
    workspace: workspace::Model,
    patch: WorkspacePatch,
) -> ApiResult<workspace::Model> {
    let mut active: workspace::ActiveModel = workspace.clone().into();
    if let Some(raw) = patch.name {
        let name = clean_name(&raw);
        if name.is_empty() {
            return Err(ApiError::validation("name must not be blank"));
        }
        if name != workspace.name {
            active.name = Set(name);
        }
    }
    if let Some(raw) = patch.slug {
        let slug = normalize_slug(&raw)?;
        if slug != workspace.slug {
            active.slug = Set(slug);
        }
    }
    let previous = json!({"name": workspace.name, "slug": workspace.slug});
    let updated = save(change, workspace, active).await?;
    let current = json!({"name": updated.name, "slug": updated.slug});
    if current != previous {
        let entry = Entry::new(Action::WorkspaceUpdated, &updated.id).in_workspace(&updated.id);
        let data = json!({"previous": previous, "current": current});
        change.audit(entry.with(data)).await?;
    }
    Ok(updated)
}

/// Writes a changed workspace row and announces it (`workspace.updated`).
async fn save(
    change: &mut Change,
    unchanged: workspace::Model,
    mut active: workspace::ActiveModel,
) -> ApiResult<workspace::Model> {
    if !active.is_changed() {
        return Ok(unchanged);
    }
    active.updated_at = Set(Utc::now());
    let slug_taken = || ApiError::conflict("workspace.slug_taken", "that slug is taken");
    let workspace = active
        .update(&**change)
        .await
        .map_err(|err| unique_or_internal(err, slug_taken))?;
    change.record(WorkspaceEvent::WorkspaceUpdated {
        workspace_id: workspace.id.clone(),
        workspace: WorkspaceDto::from(&workspace),
    });
    Ok(workspace)
}

/// The longest-standing Owner member of the workspace other than `except_user`.
async fn oldest_owner(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    except_user: Option<&str>,
) -> ApiResult<Option<member::Model>> {
    let mut query = member::Entity::find()
        .join(JoinType::InnerJoin, member::Relation::Role.def())
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .filter(role::Column::SystemKey.eq(SystemKey::Owner.as_str()));
    if let Some(user_id) = except_user {
        query = query.filter(member::Column::UserId.ne(user_id));
    }
    query
        .order_by_asc(member::Column::CreatedAt)
        .order_by_asc(member::Column::Id)
        .one(db)
        .await
        .map_err(ApiError::internal)
}

/// Names `user_id` as the workspace's owner of record (`ownerId`).
pub async fn set_owner_of_record(
    change: &mut Change,
    workspace: workspace::Model,
    user_id: &str,
) -> ApiResult<workspace::Model> {
    let mut active: workspace::ActiveModel = workspace.clone().into();
    if workspace.owner_id != user_id {
        active.owner_id = Set(user_id.to_owned());
    }
    save(change, workspace, active).await
}

/// Keeps `ownerId` naming an owner: once `former_owner` stopped being one (removed, demoted,
/// left) and the workspace names them, it names the longest-standing remaining owner.
pub async fn settle_owner_of_record(
    change: &mut Change,
    workspace: &workspace::Model,
    former_owner: &str,
) -> ApiResult<()> {
    if workspace.owner_id != former_owner {
        return Ok(());
    }
    if let Some(heir) = oldest_owner(&**change, &workspace.id, None).await? {
        set_owner_of_record(change, workspace.clone(), &heir.user_id).await?;
    }
    Ok(())
}

/// Before `user_id` is deleted: each workspace they are the owner of record of names another
/// owner (the sole-owner rule guarantees there is one).
pub async fn hand_over(change: &mut Change, user_id: &str) -> ApiResult<()> {
    let recorded = workspace::Entity::find()
        .filter(workspace::Column::OwnerId.eq(user_id))
        .all(&**change)
        .await
        .map_err(ApiError::internal)?;
    for workspace in recorded {
        if let Some(heir) = oldest_owner(&**change, &workspace.id, Some(user_id)).await? {
            set_owner_of_record(change, workspace, &heir.user_id).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::normalize_slug;

    #[test]
    fn slugs_are_normalised_as_the_orbit_api_does() {
        for (raw, slug) in [
            ("  Acme Inc. ", "acme-inc"),
            ("a- b", "a--b"),
            ("--abc--", "abc"),
            ("Été 2026", "t-2026"),
            ("ab1-", "ab1"),
        ] {
            assert_eq!(normalize_slug(raw).as_deref().ok(), Some(slug), "{raw}");
        }
        for raw in ["ab", "1abc", "a!", &"a".repeat(33), "---"] {
            assert_eq!(
                normalize_slug(raw).unwrap_err().code(),
                "workspace_slug.invalid",
                "{raw}"
            );
        }
    }
}
