//! Who may touch a workspace: the caller must be a member (403 `forbidden`), and for most
//! changes hold a permission through their role (403 `permission.denied`). An unknown slug is
//! 404 `workspace.not_found`.

use poem::Request;
use poem::http::StatusCode;
use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationTrait,
};

use super::dto::{MemberDto, SystemKey};
use super::entities::{member, role, workspace};
use super::permissions::{Permission, Permissions};
use crate::auth::session::CurrentSession;
use crate::error::{ApiError, ApiResult};
use crate::http::request_context::RequestContext;

/// A member's standing in a workspace, as one request sees it.
#[derive(Debug, Clone)]
pub struct Access {
    pub workspace: workspace::Model,
    pub me: member::Model,
    pub my_role: role::Model,
    permissions: Permissions,
}

impl Access {
    /// The caller's access to the workspace `slug`, in one query (workspace, membership and
    /// role joined). Records the slug for the request log.
    pub async fn resolve(
        db: &impl ConnectionTrait,
        req: &Request,
        caller: &CurrentSession,
        slug: &str,
    ) -> ApiResult<Self> {
        let user_id = caller.user.id.clone();
        let my_membership =
            workspace::Relation::Member
                .def()
                .on_condition(move |_workspace, member| {
                    Expr::col((member, member::Column::UserId))
                        .eq(user_id.clone())
                        .into_condition()
                });
        let found = workspace::Entity::find()
            .filter(workspace::Column::Slug.eq(slug))
            .join(JoinType::LeftJoin, my_membership)
            .select_also(member::Entity)
            .find_also(member::Entity, role::Entity)
            .one(db)
            .await
            .map_err(ApiError::internal)?;
        let Some((workspace, membership, role)) = found else {
            return Err(ApiError::not_found("workspace"));
        };
        RequestContext::record_workspace(req, &workspace.slug);
        match (membership, role) {
            (Some(me), Some(my_role)) => Ok(Self {
                permissions: Permissions::from_stored(&my_role.permissions),
                workspace,
                me,
                my_role,
            }),
            _ => Err(ApiError::forbidden("forbidden")),
        }
    }

    /// [`Access::resolve`] inside a change, after locking the workspace row (Postgres; SQLite
    /// serialises writers anyway): concurrent changes to one workspace's members and roles
    /// take turns, so rules like "keep one owner" hold.
    pub async fn resolve_locked(
        db: &impl ConnectionTrait,
        req: &Request,
        caller: &CurrentSession,
        slug: &str,
    ) -> ApiResult<Self> {
        lock_workspace(db, workspace::Column::Slug, slug).await?;
        Self::resolve(db, req, caller, slug).await
    }

    /// 403 `permission.denied` unless the caller's role grants `permission`.
    pub fn require(&self, permission: Permission) -> ApiResult<()> {
        match self.permissions.contains(permission) {
            true => Ok(()),
            false => Err(ApiError::forbidden("permission.denied")),
        }
    }

    /// 403 `permission.escalation` unless the caller holds every permission of `granted`
    /// (owners hold all): nobody creates, edits, assigns or invites into a role that can do
    /// more than they can.
    pub fn may_grant(&self, granted: Permissions) -> ApiResult<()> {
        match self.is_owner() || granted.is_subset_of(self.permissions) {
            true => Ok(()),
            false => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "permission.escalation",
                "that role holds permissions you do not have",
            )),
        }
    }

    /// [`Access::may_grant`] for the permissions `role` holds.
    pub fn may_grant_role(&self, role: &role::Model) -> ApiResult<()> {
        self.may_grant(Permissions::from_stored(&role.permissions))
    }

    pub fn is_owner(&self) -> bool {
        is_owner_role(&self.my_role)
    }

    /// The caller as a member DTO.
    pub fn you(&self, caller: &CurrentSession) -> MemberDto {
        MemberDto::new(&self.me, &caller.user, &self.my_role)
    }
}

/// Locks the workspace whose `column` is `value` until the transaction `db` ends (`SELECT …
/// FOR UPDATE` on Postgres, nothing on SQLite, whose writers never overlap).
pub async fn lock_workspace(
    db: &impl ConnectionTrait,
    column: workspace::Column,
    value: &str,
) -> ApiResult<Option<workspace::Model>> {
    workspace::Entity::find()
        .filter(column.eq(value))
        .lock_exclusive()
        .one(db)
        .await
        .map_err(ApiError::internal)
}

pub fn is_owner_role(role: &role::Model) -> bool {
    is_owner_key(role.system_key.as_deref())
}

/// Whether a role's stored system key is the Owner's.
pub fn is_owner_key(system_key: Option<&str>) -> bool {
    SystemKey::from_stored(system_key) == Some(SystemKey::Owner)
}
