//! Workspace members: listing them, joining, leaving and changing roles, with the rules that
//! keep a workspace owned.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    JoinType, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    RelationTrait, Set, TryGetableMany,
};
use serde_json::json;

use super::access::{Access, is_owner_role};
use std::collections::HashMap;

use super::dto::{MemberDto, RoleDto, SystemKey, tone};
use super::entities::{member, role, workspace};
use super::events::{Change, WorkspaceEvent};
use super::{roles, service};
use crate::audit::{Action, Entry};
use crate::auth::entities::user;
use crate::db::{self, escape_like};
use crate::error::{ApiError, ApiResult, unique_or_internal};
use crate::http::pagination::{PageRequest, past, time_key};
use crate::ids::new_id;
use crate::time::iso;

/// The longest member or invite search accepted.
pub const MAX_QUERY: usize = 160;

/// A page of the workspace's members, oldest first, from the paginated members route;
/// `query` keeps those whose name or email contains it (any case).
pub async fn page(
    db: &DatabaseConnection,
    workspace_id: &str,
    query: Option<&str>,
    page: &PageRequest,
) -> ApiResult<(Vec<MemberDto>, Option<String>)> {
    let after = page.after_time(LIST)?;
    let rows = select(db, workspace_id, query, after, page.fetch()).await?;
    let (rows, next) = page.page(rows, |(at, member)| time_key(LIST, at, &member.id));
    Ok((rows.into_iter().map(|(_, member)| member).collect(), next))
}

/// The workspace's first `limit` members, oldest first, and how many it has in all.
pub async fn first(
    db: &DatabaseConnection,
    workspace_id: &str,
    limit: u64,
) -> ApiResult<(Vec<MemberDto>, u64)> {
    let rows = select(db, workspace_id, None, None, limit).await?;
    let total = match (rows.len() as u64) < limit {
        true => rows.len() as u64,
        false => count(db, workspace_id).await?,
    };
    Ok((rows.into_iter().map(|(_, member)| member).collect(), total))
}

/// How many members the workspace has.
pub async fn count(db: &impl ConnectionTrait, workspace_id: &str) -> ApiResult<u64> {
    member::Entity::find()
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .count(db)
        .await
        .map_err(ApiError::internal)
}

/// The cursor name of the members list.
const LIST: &str = "members";

/// Up to `limit` members after `after`, with their exact join times. Two queries whatever
/// the count: the members with the few user columns the DTO needs, and the workspace's
/// roles. A search matches the members' own `search_text`: it walks the workspace's
/// members in list order and never the app's users.
async fn select(
    db: &DatabaseConnection,
    workspace_id: &str,
    query: Option<&str>,
    after: Option<(DateTime<Utc>, String)>,
    limit: u64,
) -> ApiResult<Vec<(DateTime<Utc>, MemberDto)>> {
    let mut select = member::Entity::find()
        .select_only()
        .columns([
            member::Column::Id,
            member::Column::UserId,
            member::Column::RoleId,
            member::Column::CreatedAt,
        ])
        .columns([user::Column::Name, user::Column::Email])
        .join(JoinType::InnerJoin, member::Relation::User.def())
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(member::Column::CreatedAt)
        .order_by_asc(member::Column::Id)
        .limit(limit);
    if let Some((at, id)) = after {
        select = select.filter(past(
            Expr::col((member::Entity, member::Column::CreatedAt)),
            Expr::col((member::Entity, member::Column::Id)),
            at,
            id,
            Order::Asc,
        ));
    }
    let rows = match query.and_then(contains_pattern) {
        Some(pattern) => {
            let select = select.filter(member::Column::SearchText.like(pattern));
            let rows = db::search_rows(db, select.build(db.get_database_backend()))
                .await
                .map_err(ApiError::internal)?;
            rows.iter()
                .map(TryGetableMany::try_get_many_by_index)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| ApiError::internal(DbErr::from(err)))?
        }
        None => select
            .into_tuple::<(String, String, String, DateTime<Utc>, String, String)>()
            .all(db)
            .await
            .map_err(ApiError::internal)?,
    };
    let roles: HashMap<String, RoleDto> = role::Entity::find()
        .filter(role::Column::WorkspaceId.eq(workspace_id))
        .all(db)
        .await
        .map_err(ApiError::internal)?
        .iter()
        .map(|role| (role.id.clone(), RoleDto::new(role, None)))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|(id, user_id, role_id, created_at, name, email)| {
            let member = MemberDto {
                role: roles.get(&role_id)?.clone(),
                tone: tone(&email),
                created_at: iso(created_at),
                workspace_id: workspace_id.to_owned(),
                id,
                user_id,
                name,
                email,
            };
            Some((created_at, member))
        })
        .collect())
}

/// What a member search matches: name and email, lowercased, apart (a query cannot match
/// across them unless it holds a line break).
pub fn search_text(name: &str, email: &str) -> String {
    format!("{}\n{}", name.to_lowercase(), email.to_lowercase())
}

/// Keeps the memberships' `search_text` of `user` in step with their name and email.
pub async fn refresh_search_text(db: &impl ConnectionTrait, user: &user::Model) -> ApiResult<()> {
    member::Entity::update_many()
        .col_expr(
            member::Column::SearchText,
            Expr::val(search_text(&user.name, &user.email)),
        )
        .filter(member::Column::UserId.eq(&user.id))
        .exec(db)
        .await
        .map_err(ApiError::internal)?;
    Ok(())
}

/// A case-insensitive "contains" pattern for `query` (trimmed, `%` and `_` taken literally);
/// none for a blank query.
pub fn contains_pattern(query: &str) -> Option<LikeExpr> {
    let query = query.trim();
    if query.is_empty() {
        return None;
    }
    let escaped = escape_like(&query.to_lowercase());
    Some(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

/// The member `member_id` of this workspace, with user and role; 404 `member.not_found`.
pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    member_id: &str,
) -> ApiResult<(member::Model, user::Model, role::Model)> {
    let found = member::Entity::find_by_id(member_id)
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .find_also_related(user::Entity)
        .find_also_related(role::Entity)
        .one(db)
        .await
        .map_err(ApiError::internal)?;
    match found {
        Some((member, Some(user), Some(role))) => Ok((member, user, role)),
        _ => Err(ApiError::not_found("member")),
    }
}

/// The user's membership of the workspace, if any.
pub async fn find_by_user(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    user_id: &str,
) -> ApiResult<Option<(member::Model, role::Model)>> {
    let found = member::Entity::find()
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .filter(member::Column::UserId.eq(user_id))
        .find_also_related(role::Entity)
        .one(db)
        .await
        .map_err(ApiError::internal)?;
    Ok(found.and_then(|(member, role)| Some((member, role?))))
}

/// Whether someone with this email address is a member.
pub async fn has_member_with_email(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    email: &str,
) -> ApiResult<bool> {
    let count = member::Entity::find()
        .join(JoinType::InnerJoin, member::Relation::User.def())
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .filter(user::Column::Email.eq(email))
        .count(db)
        .await
        .map_err(ApiError::internal)?;
    Ok(count > 0)
}

async fn count_owners(db: &impl ConnectionTrait, workspace_id: &str) -> ApiResult<u64> {
    member::Entity::find()
        .join(JoinType::InnerJoin, member::Relation::Role.def())
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .filter(role::Column::SystemKey.eq(SystemKey::Owner.as_str()))
        .count(db)
        .await
        .map_err(ApiError::internal)
}

/// Adds `user` to the workspace with `role`.
pub async fn join(
    change: &mut Change,
    workspace_id: &str,
    user: &user::Model,
    role: &role::Model,
    now: DateTime<Utc>,
) -> ApiResult<MemberDto> {
    let member = member::ActiveModel {
        id: Set(new_id("mbr")),
        workspace_id: Set(workspace_id.to_owned()),
        user_id: Set(user.id.clone()),
        role_id: Set(role.id.clone()),
        search_text: Set(search_text(&user.name, &user.email)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&**change)
    .await
    .map_err(|err| {
        unique_or_internal(err, || {
            ApiError::conflict(
                "invite.already_member",
                "already a member of this workspace",
            )
        })
    })?;
    let entry = Entry::new(Action::MemberJoined, &member.id)
        .in_workspace(workspace_id)
        .with(json!({"userId": user.id, "roleId": role.id, "role": role.name}));
    change.audit(entry).await?;
    let dto = MemberDto::new(&member, user, role);
    change.record(WorkspaceEvent::MemberJoined {
        workspace_id: workspace_id.to_owned(),
        member: dto.clone(),
    });
    Ok(dto)
}

/// Removes a member. Nobody removes themselves here (409 `member.cannot_remove_self`); only
/// owners remove owners (403 `role.owner_mint_forbidden`); nobody removes a member whose role
/// holds a permission they lack (403 `permission.escalation`); the last owner stays (409
/// `member.last_owner`).
pub async fn remove(change: &mut Change, actor: &Access, member_id: &str) -> ApiResult<()> {
    let workspace_id = &actor.workspace.id;
    let (target, _, target_role) = find(&**change, workspace_id, member_id).await?;
    if target.id == actor.me.id {
        return Err(ApiError::conflict(
            "member.cannot_remove_self",
            "cannot remove yourself",
        ));
    }
    if is_owner_role(&target_role) {
        if !actor.is_owner() {
            return Err(ApiError::forbidden("role.owner_mint_forbidden"));
        }
        ensure_another_owner(&**change, workspace_id).await?;
    }
    actor.may_grant_role(&target_role)?;
    end_membership(change, actor, target, Action::MemberRemoved).await
}

/// The caller leaves the workspace; the last owner stays (409 `member.last_owner`: transfer
/// ownership or delete the workspace instead).
pub async fn leave(change: &mut Change, actor: &Access) -> ApiResult<()> {
    if actor.is_owner() {
        ensure_another_owner(&**change, &actor.workspace.id).await?;
    }
    end_membership(change, actor, actor.me.clone(), Action::MemberLeft).await
}

/// Deletes a membership of the actor's workspace, records `action` and announces it, and
/// keeps the owner of record an owner.
async fn end_membership(
    change: &mut Change,
    actor: &Access,
    member: member::Model,
    action: Action,
) -> ApiResult<()> {
    member::Entity::delete_by_id(&member.id)
        .exec(&**change)
        .await
        .map_err(ApiError::internal)?;
    let entry = Entry::new(action, &member.id)
        .in_workspace(&member.workspace_id)
        .with(json!({"userId": member.user_id, "roleId": member.role_id}));
    change.audit(entry).await?;
    change.record(WorkspaceEvent::MemberLeft {
        workspace_id: member.workspace_id,
        member_id: member.id,
        user_id: member.user_id.clone(),
    });
    service::settle_owner_of_record(change, &actor.workspace, &member.user_id).await
}

/// Moves a member to `role_id`. Nobody changes their own role (409
/// `member.cannot_change_own_role`); only owners make or unmake owners (403
/// `role.owner_mint_forbidden`); nobody moves a member out of or into a role holding a
/// permission they lack (403 `permission.escalation`); the last owner stays one (409
/// `member.last_owner`).
pub async fn change_role(
    change: &mut Change,
    actor: &Access,
    member_id: &str,
    role_id: &str,
) -> ApiResult<()> {
    let workspace_id = &actor.workspace.id;
    let (target, user, current_role) = find(&**change, workspace_id, member_id).await?;
    if target.id == actor.me.id {
        return Err(ApiError::conflict(
            "member.cannot_change_own_role",
            "cannot change your own role",
        ));
    }
    let next_role = roles::find(&**change, workspace_id, role_id).await?;
    if next_role.id == current_role.id {
        return Ok(());
    }
    let (was_owner, becomes_owner) = (is_owner_role(&current_role), is_owner_role(&next_role));
    if (was_owner || becomes_owner) && !actor.is_owner() {
        return Err(ApiError::forbidden("role.owner_mint_forbidden"));
    }
    actor.may_grant_role(&current_role)?;
    actor.may_grant_role(&next_role)?;
    if was_owner && !becomes_owner {
        ensure_another_owner(&**change, workspace_id).await?;
    }
    let entry = Entry::new(Action::MemberRoleChanged, &target.id)
        .in_workspace(workspace_id)
        .with(json!({
            "userId": user.id,
            "previous": {"roleId": current_role.id, "role": current_role.name},
            "current": {"roleId": next_role.id, "role": next_role.name},
        }));
    change.audit(entry).await?;
    assign(change, target, &user, &next_role).await?;
    service::settle_owner_of_record(change, &actor.workspace, &user.id).await
}

/// Gives `member` the role `role` and announces it.
async fn assign(
    change: &mut Change,
    member: member::Model,
    user: &user::Model,
    role: &role::Model,
) -> ApiResult<()> {
    let workspace_id = member.workspace_id.clone();
    let mut active: member::ActiveModel = member.into();
    active.role_id = Set(role.id.clone());
    active.updated_at = Set(Utc::now());
    let member = active.update(&**change).await.map_err(ApiError::internal)?;
    change.record(WorkspaceEvent::MemberRoleChanged {
        workspace_id,
        member: MemberDto::new(&member, user, role),
    });
    Ok(())
}

/// Hands the workspace to another member (owners only, 403 `role.owner_mint_forbidden`): they
/// become an Owner and its owner of record, the caller an Admin. 409
/// `member.cannot_transfer_to_self`.
pub async fn transfer_ownership(
    change: &mut Change,
    actor: &Access,
    caller: &user::Model,
    member_id: &str,
) -> ApiResult<workspace::Model> {
    if !actor.is_owner() {
        return Err(ApiError::forbidden("role.owner_mint_forbidden"));
    }
    let workspace_id = &actor.workspace.id;
    let (target, user, current_role) = find(&**change, workspace_id, member_id).await?;
    if target.id == actor.me.id {
        return Err(ApiError::conflict(
            "member.cannot_transfer_to_self",
            "you own this workspace already",
        ));
    }
    let target_member_id = target.id.clone();
    if !is_owner_role(&current_role) {
        let owner = roles::find_system(&**change, workspace_id, SystemKey::Owner).await?;
        assign(change, target, &user, &owner).await?;
    }
    let entry = Entry::new(Action::OwnershipTransferred, &target_member_id)
        .in_workspace(workspace_id)
        .with(json!({"userId": user.id, "previousOwnerId": caller.id}));
    change.audit(entry).await?;
    let admin = roles::find_system(&**change, workspace_id, SystemKey::Admin).await?;
    assign(change, actor.me.clone(), caller, &admin).await?;
    service::set_owner_of_record(change, actor.workspace.clone(), &user.id).await
}

async fn ensure_another_owner(db: &impl ConnectionTrait, workspace_id: &str) -> ApiResult<()> {
    match count_owners(db, workspace_id).await? {
        0 | 1 => Err(ApiError::conflict(
            "member.last_owner",
            "a workspace keeps at least one owner",
        )),
        _ => Ok(()),
    }
}
