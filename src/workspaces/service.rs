//! Opening and deleting workspaces, and what the rest of the app asks about a user's
//! workspaces (the `/v1/me` list, the account-deletion rule).

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait, Set,
};

use super::dto::{MemberDto, SystemKey};
use super::entities::{invite, member, role, workspace};
use super::events::{Change, WorkspaceEvent};
use super::invites::{self, Issued};
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
    let seeded = super::roles::seed(&**change, &workspace.id, now).await?;
    let owner_role = seeded
        .iter()
        .find(|role| SystemKey::from_stored(role.system_key.as_deref()) == Some(SystemKey::Owner))
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
        issued.push(
            invites::issue(&**change, &workspace.id, &you.id, email, None, invite_ttl).await?,
        );
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
    change.record(WorkspaceEvent::WorkspaceDeleted {
        workspace_id: id.to_owned(),
    });
    Ok(())
}

/// One of the user's workspaces, with their membership in it.
pub struct Membership {
    pub workspace: workspace::Model,
    pub member: member::Model,
    pub role: role::Model,
}

/// The workspaces `user_id` belongs to, oldest membership first (one query).
pub async fn memberships(db: &impl ConnectionTrait, user_id: &str) -> ApiResult<Vec<Membership>> {
    let rows = member::Entity::find()
        .filter(member::Column::UserId.eq(user_id))
        .find_also_related(workspace::Entity)
        .find_also_related(role::Entity)
        .order_by_asc(member::Column::CreatedAt)
        .order_by_asc(member::Column::Id)
        .all(db)
        .await
        .map_err(ApiError::internal)?;
    Ok(rows
        .into_iter()
        .filter_map(|(member, workspace, role)| {
            Some(Membership {
                workspace: workspace?,
                role: role?,
                member,
            })
        })
        .collect())
}

/// The workspaces whose only owner is `user_id`: deleting the account would leave them
/// without one.
pub async fn solely_owned(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> ApiResult<Vec<workspace::Model>> {
    let owned: Vec<workspace::Model> = memberships(db, user_id)
        .await?
        .into_iter()
        .filter(|membership| super::access::is_owner_role(&membership.role))
        .map(|membership| membership.workspace)
        .collect();
    if owned.is_empty() {
        return Ok(owned);
    }
    let owners: HashMap<String, i64> = member::Entity::find()
        .select_only()
        .column(member::Column::WorkspaceId)
        .column_as(member::Column::Id.count(), "owners")
        .join(JoinType::InnerJoin, member::Relation::Role.def())
        .filter(member::Column::WorkspaceId.is_in(owned.iter().map(|w| w.id.clone())))
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
        .filter(|workspace| owners.get(&workspace.id).copied().unwrap_or(0) <= 1)
        .collect())
}

/// Before `user_id` is deleted: each workspace they created names another owner as its
/// creator (the sole-owner rule guarantees there is one).
pub async fn hand_over(db: &impl ConnectionTrait, user_id: &str) -> ApiResult<()> {
    let created = workspace::Entity::find()
        .filter(workspace::Column::OwnerId.eq(user_id))
        .all(db)
        .await
        .map_err(ApiError::internal)?;
    for workspace in created {
        let heir = member::Entity::find()
            .join(JoinType::InnerJoin, member::Relation::Role.def())
            .filter(member::Column::WorkspaceId.eq(&workspace.id))
            .filter(member::Column::UserId.ne(user_id))
            .filter(role::Column::SystemKey.eq(SystemKey::Owner.as_str()))
            .order_by_asc(member::Column::CreatedAt)
            .one(db)
            .await
            .map_err(ApiError::internal)?;
        if let Some(heir) = heir {
            let mut active: workspace::ActiveModel = workspace.into();
            active.owner_id = Set(heir.user_id);
            active.updated_at = Set(Utc::now());
            active.update(db).await.map_err(ApiError::internal)?;
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
