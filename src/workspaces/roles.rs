//! Workspace roles: the three system roles every workspace starts with, custom roles, and
//! the rules on naming, editing and deleting them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use super::access::{Access, is_owner_role};
use super::dto::{RoleDto, SystemKey};
use super::entities::{member, role};
use super::events::{Change, WorkspaceEvent};
use super::permissions::{Permission, Permissions};
use crate::audit::{Action, Entry};
use crate::error::{ApiError, ApiResult, unique_or_internal};
use crate::ids::new_id;

const MAX_NAME: usize = 48;
const MAX_DESCRIPTION: usize = 240;
/// Custom roles sort after the system ones: 100 + the number of roles the workspace has.
const CUSTOM_SORT_BASE: i32 = 100;

struct SystemRole {
    key: SystemKey,
    name: &'static str,
    description: &'static str,
    sort_order: i32,
    permissions: &'static [Permission],
}

const SYSTEM_ROLES: [SystemRole; 3] = [
    SystemRole {
        key: SystemKey::Owner,
        name: "Owner",
        description: "Full control. This role cannot be edited or removed.",
        sort_order: 0,
        permissions: &Permission::ALL,
    },
    SystemRole {
        key: SystemKey::Admin,
        name: "Admin",
        description: "Can manage members, invites, teams, and billing.",
        sort_order: 1,
        permissions: &[
            Permission::SettingsEdit,
            Permission::MembersInvite,
            Permission::MembersRemove,
            Permission::MembersChangeRole,
            Permission::BillingManage,
            Permission::AuditView,
        ],
    },
    SystemRole {
        key: SystemKey::Member,
        name: "Member",
        description: "Default access. Can be granted more via custom roles.",
        sort_order: 2,
        permissions: &[],
    },
];

/// The system roles of a new workspace, in sort order (Owner, Admin, Member).
pub async fn seed(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    now: DateTime<Utc>,
) -> ApiResult<Vec<role::Model>> {
    let mut seeded = Vec::with_capacity(SYSTEM_ROLES.len());
    for system in &SYSTEM_ROLES {
        let row = role::ActiveModel {
            id: Set(new_id("wsrole")),
            workspace_id: Set(workspace_id.to_owned()),
            name: Set(system.name.to_owned()),
            name_key: Set(name_key(system.name)),
            description: Set(Some(system.description.to_owned())),
            system_key: Set(Some(system.key.as_str().to_owned())),
            sort_order: Set(system.sort_order),
            permissions: Set(Permissions::of(system.permissions).to_stored()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        seeded.push(row.insert(db).await.map_err(ApiError::internal)?);
    }
    Ok(seeded)
}

/// The role `role_id` of this workspace; 404 `role.not_found` for any other.
pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    role_id: &str,
) -> ApiResult<role::Model> {
    role::Entity::find_by_id(role_id)
        .filter(role::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("role"))
}

/// The workspace's system role `key`.
pub async fn find_system(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    key: SystemKey,
) -> ApiResult<role::Model> {
    role::Entity::find()
        .filter(role::Column::WorkspaceId.eq(workspace_id))
        .filter(role::Column::SystemKey.eq(key.as_str()))
        .one(db)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal(format!("workspace {workspace_id} has no {key:?} role")))
}

/// Every role of the workspace with its member count, by sort order then age (two queries).
pub async fn list_with_counts(
    db: &impl ConnectionTrait,
    workspace_id: &str,
) -> ApiResult<Vec<RoleDto>> {
    let roles = role::Entity::find()
        .filter(role::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(role::Column::SortOrder)
        .order_by_asc(role::Column::CreatedAt)
        .order_by_asc(role::Column::Id)
        .all(db)
        .await
        .map_err(ApiError::internal)?;
    let counts: HashMap<String, i64> = member::Entity::find()
        .select_only()
        .column(member::Column::RoleId)
        .column_as(member::Column::Id.count(), "members")
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .group_by(member::Column::RoleId)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .collect();
    Ok(roles
        .iter()
        .map(|role| {
            let count = counts.get(&role.id).copied().unwrap_or(0);
            RoleDto::new(role, Some(count.unsigned_abs()))
        })
        .collect())
}

pub async fn count_members(db: &impl ConnectionTrait, role_id: &str) -> ApiResult<u64> {
    member::Entity::find()
        .filter(member::Column::RoleId.eq(role_id))
        .count(db)
        .await
        .map_err(ApiError::internal)
}

/// What a request asks a new role to be.
pub struct NewRole<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub permissions: &'a [String],
}

/// Creates a custom role in the actor's workspace; 409 `role.name_taken` when the workspace
/// has one by that name (in any case), 403 `permission.escalation` when it would hold a
/// permission the actor lacks.
pub async fn create(
    change: &mut Change,
    actor: &Access,
    new: NewRole<'_>,
) -> ApiResult<role::Model> {
    let workspace_id = actor.workspace.id.as_str();
    let name = normalize_name(new.name)?;
    let description = normalize_description(new.description)?;
    let permissions = Permissions::parse_names(new.permissions)?;
    actor.may_grant(permissions)?;
    ensure_name_free(&**change, workspace_id, &name, None).await?;
    let existing = role::Entity::find()
        .filter(role::Column::WorkspaceId.eq(workspace_id))
        .count(&**change)
        .await
        .map_err(ApiError::internal)?;
    let now = Utc::now();
    let row = role::ActiveModel {
        id: Set(new_id("wsrole")),
        workspace_id: Set(workspace_id.to_owned()),
        name_key: Set(name_key(&name)),
        name: Set(name),
        description: Set(description),
        system_key: Set(None),
        sort_order: Set(
            CUSTOM_SORT_BASE.saturating_add(i32::try_from(existing).unwrap_or(i32::MAX))
        ),
        permissions: Set(permissions.to_stored()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&**change)
    .await
    .map_err(|err| unique_or_internal(err, name_taken))?;
    change
        .audit(role_entry(Action::RoleCreated, &row, None))
        .await?;
    change.record(WorkspaceEvent::RoleCreated {
        workspace_id: workspace_id.to_owned(),
        role: RoleDto::new(&row, Some(0)),
    });
    Ok(row)
}

/// What a request asks to change on a role; `None` leaves a field as it is.
pub struct RolePatch<'a> {
    pub name: Option<&'a str>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<&'a str>>,
    pub permissions: Option<&'a [String]>,
}

/// Applies `patch`. System roles keep their names (409 `role.system_name_locked`); the Owner
/// role cannot change at all (409 `role.owner_locked`); nobody edits a role holding, or gives
/// it, a permission they lack (403 `permission.escalation`). Returns the role with its member
/// count.
pub async fn update(
    change: &mut Change,
    actor: &Access,
    role: role::Model,
    patch: RolePatch<'_>,
) -> ApiResult<RoleDto> {
    if !is_owner_role(&role) {
        actor.may_grant_role(&role)?;
    }
    let mut active: role::ActiveModel = role.clone().into();
    if let Some(raw) = patch.name {
        let name = normalize_name(raw)?;
        ensure_name_free(&**change, &role.workspace_id, &name, Some(&role.id)).await?;
        if role.system_key.is_some() {
            return Err(ApiError::conflict(
                "role.system_name_locked",
                "built-in roles cannot be renamed",
            ));
        }
        if name != role.name {
            active.name_key = Set(name_key(&name));
            active.name = Set(name);
        }
    }
    let owner_locked =
        || ApiError::conflict("role.owner_locked", "the Owner role cannot be edited");
    if let Some(raw) = patch.description {
        let description = normalize_description(raw)?;
        if description != role.description {
            if is_owner_role(&role) {
                return Err(owner_locked());
            }
            active.description = Set(description);
        }
    }
    if let Some(names) = patch.permissions {
        let permissions = Permissions::parse_names(names)?;
        if is_owner_role(&role) {
            return Err(owner_locked());
        }
        actor.may_grant(permissions)?;
        if permissions != Permissions::from_stored(&role.permissions) {
            active.permissions = Set(permissions.to_stored());
        }
    }
    let changed = active.is_changed();
    let previous = role.clone();
    let role = match changed {
        true => {
            active.updated_at = Set(Utc::now());
            active
                .update(&**change)
                .await
                .map_err(|err| unique_or_internal(err, name_taken))?
        }
        false => role,
    };
    let dto = RoleDto::new(&role, Some(count_members(&**change, &role.id).await?));
    if changed {
        let entry = role_entry(Action::RoleUpdated, &role, Some(&previous));
        change.audit(entry).await?;
        change.record(WorkspaceEvent::RoleUpdated {
            workspace_id: role.workspace_id.clone(),
            role: dto.clone(),
        });
    }
    Ok(dto)
}

/// Deletes a custom role nobody holds: 409 `role.system_undeletable` for a system role,
/// `role.in_use` while members hold it, 403 `permission.escalation` when it holds a
/// permission the actor lacks. Pending invitations with it fall back to Member.
pub async fn delete(change: &mut Change, actor: &Access, role: role::Model) -> ApiResult<()> {
    if role.system_key.is_some() {
        return Err(ApiError::conflict(
            "role.system_undeletable",
            "built-in roles cannot be deleted",
        ));
    }
    actor.may_grant_role(&role)?;
    if count_members(&**change, &role.id).await? > 0 {
        return Err(ApiError::conflict(
            "role.in_use",
            "reassign all members holding this role before deleting it",
        ));
    }
    role::Entity::delete_by_id(&role.id)
        .exec(&**change)
        .await
        .map_err(ApiError::internal)?;
    change
        .audit(role_entry(Action::RoleDeleted, &role, None))
        .await?;
    change.record(WorkspaceEvent::RoleDeleted {
        workspace_id: role.workspace_id,
        role_id: role.id,
    });
    Ok(())
}

/// The audit entry of a change to `role` (what it was before, for an edit).
fn role_entry(action: Action, role: &role::Model, previous: Option<&role::Model>) -> Entry {
    let shown = |role: &role::Model| {
        json!({
            "name": role.name,
            "description": role.description,
            "permissions": Permissions::from_stored(&role.permissions).list(),
        })
    };
    let data = match previous {
        Some(previous) => json!({"previous": shown(previous), "current": shown(role)}),
        None => shown(role),
    };
    Entry::new(action, &role.id)
        .in_workspace(&role.workspace_id)
        .with(data)
}

async fn ensure_name_free(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    name: &str,
    except_role: Option<&str>,
) -> ApiResult<()> {
    let mut query = role::Entity::find()
        .filter(role::Column::WorkspaceId.eq(workspace_id))
        .filter(role::Column::NameKey.eq(name_key(name)));
    if let Some(id) = except_role {
        query = query.filter(role::Column::Id.ne(id));
    }
    match query.count(db).await.map_err(ApiError::internal)? {
        0 => Ok(()),
        _ => Err(name_taken()),
    }
}

fn name_taken() -> ApiError {
    ApiError::conflict("role.name_taken", "a role with that name already exists")
}

fn name_key(name: &str) -> String {
    name.to_lowercase()
}

fn normalize_name(raw: &str) -> ApiResult<String> {
    match raw.trim() {
        "" => Err(ApiError::invalid(
            "role.name_required",
            "role name is required",
        )),
        name if name.chars().count() > MAX_NAME => Err(ApiError::invalid(
            "role.name_too_long",
            "role name is too long",
        )),
        name => Ok(name.to_owned()),
    }
}

/// Trimmed; blank is no description.
fn normalize_description(raw: Option<&str>) -> ApiResult<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > MAX_DESCRIPTION => Err(ApiError::invalid(
            "role.description_too_long",
            "role description is too long",
        )),
        Some(text) => Ok(Some(text.to_owned())),
    }
}
