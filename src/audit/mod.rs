//! The audit log: one entry per change that matters, written in the change's own transaction
//! (no entry without its change, no change without its entry), naming who did it (and who
//! was impersonating them), to what, from where. `data` says what changed and never holds a
//! secret, token or password.

pub mod api;
mod entity;

use chrono::Utc;
use orbit_jobs::{Handler, JobError};
use poem::Request;
use poem_openapi::Enum;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait};
use sea_orm::{QueryFilter, Set};
use serde_json::Value;

use crate::auth::request_meta::session_origin;
use crate::auth::session::CurrentSession;
use crate::config::Settings;
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;

/// Who makes a change, and from where.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// None: the system (a provider's webhook, a scheduled job).
    user_id: Option<String>,
    impersonator_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl Actor {
    /// The signed-in caller (and the admin impersonating them, if one is).
    pub fn caller(settings: &Settings, req: &Request, caller: &CurrentSession) -> Self {
        Self {
            impersonator_id: caller.session.impersonated_by.clone(),
            ..Self::user(settings, req, &caller.user.id)
        }
    }

    /// `user_id` acting without a session (a password reset by emailed link).
    pub fn user(settings: &Settings, req: &Request, user_id: &str) -> Self {
        let origin = session_origin(settings, req);
        Self {
            user_id: Some(user_id.to_owned()),
            impersonator_id: None,
            ip: origin.ip_address,
            user_agent: origin.user_agent,
        }
    }

    /// The app itself.
    pub fn system() -> Self {
        Self::default()
    }
}

/// Declares the actions once: their API names and what kind of thing each one's target is.
macro_rules! actions {
    ($($variant:ident = $name:tt on $target:tt,)*) => {
        /// What was done.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
        #[oai(rename = "AuditAction")]
        pub enum Action {
            $(#[oai(rename = $name)] $variant,)*
        }

        impl Action {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// What kind of thing the entry's `target.id` names.
            fn target_type(self) -> &'static str {
                match self {
                    $(Action::$variant => $target,)*
                }
            }
        }
    };
}

actions! {
    WorkspaceCreated = "workspace.created" on "workspace",
    WorkspaceUpdated = "workspace.updated" on "workspace",
    WorkspaceDeleted = "workspace.deleted" on "workspace",
    OwnershipTransferred = "workspace.ownership_transferred" on "member",
    MemberJoined = "member.joined" on "member",
    MemberRemoved = "member.removed" on "member",
    MemberRoleChanged = "member.role_changed" on "member",
    MemberLeft = "member.left" on "member",
    RoleCreated = "role.created" on "role",
    RoleUpdated = "role.updated" on "role",
    RoleDeleted = "role.deleted" on "role",
    InviteCreated = "invite.created" on "invite",
    InviteRenewed = "invite.renewed" on "invite",
    InviteRevoked = "invite.revoked" on "invite",
    InviteAccepted = "invite.accepted" on "invite",
    CheckoutStarted = "billing.checkout_started" on "workspace",
    PlanChanged = "billing.plan_changed" on "workspace",
    SubscriptionCanceled = "billing.canceled" on "workspace",
    SubscriptionResumed = "billing.resumed" on "workspace",
    SubscriptionUpdated = "billing.subscription_updated" on "workspace",
    UploadDeleted = "upload.deleted" on "upload",
    UserCreated = "admin.user_created" on "user",
    UserUpdated = "admin.user_updated" on "user",
    UserRoleSet = "admin.role_set" on "user",
    UserBanned = "admin.user_banned" on "user",
    UserUnbanned = "admin.user_unbanned" on "user",
    ImpersonationStarted = "admin.impersonation_started" on "user",
    ImpersonationStopped = "admin.impersonation_stopped" on "user",
    UserRemoved = "admin.user_removed" on "user",
    UserPasswordSet = "admin.password_set" on "user",
    UserSessionsRevoked = "admin.sessions_revoked" on "user",
    UserSessionRevoked = "admin.session_revoked" on "user",
    PasswordChanged = "account.password_changed" on "user",
    PasswordReset = "account.password_reset" on "user",
    EmailChanged = "account.email_changed" on "user",
    SessionsRevoked = "account.sessions_revoked" on "user",
    AccountDeleted = "account.deleted" on "user",
    AccountClaimed = "account.claimed" on "user",
}

/// One entry to write: the action, its target's id, the workspace it happened in (if any),
/// and what changed.
#[derive(Debug)]
pub struct Entry {
    action: Action,
    target_id: String,
    workspace_id: Option<String>,
    data: Value,
}

impl Entry {
    pub fn new(action: Action, target_id: impl Into<String>) -> Self {
        Self {
            action,
            target_id: target_id.into(),
            workspace_id: None,
            data: Value::Object(Default::default()),
        }
    }

    pub fn in_workspace(mut self, workspace_id: impl Into<String>) -> Self {
        self.workspace_id = Some(workspace_id.into());
        self
    }

    /// What changed: a JSON object.
    pub fn with(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

/// Writes `entry` by `actor` on `db`: the transaction of the change it records.
pub async fn record(db: &impl ConnectionTrait, actor: &Actor, entry: Entry) -> ApiResult<()> {
    entity::ActiveModel {
        id: Set(new_id("aud")),
        at: Set(Utc::now()),
        actor_id: Set(actor.user_id.clone()),
        impersonator_id: Set(actor.impersonator_id.clone()),
        workspace_id: Set(entry.workspace_id),
        action: Set(entry.action.as_str().to_owned()),
        target_type: Set(entry.action.target_type().to_owned()),
        target_id: Set(entry.target_id),
        ip: Set(actor.ip.clone()),
        user_agent: Set(actor.user_agent.clone()),
        data: Set(entry.data.to_string()),
    }
    .insert(db)
    .await
    .map_err(ApiError::internal)?;
    Ok(())
}

/// The job that deletes entries older than the retention.
pub const PRUNE_JOB: &str = "audit.prune";

pub fn prune_handler(db: DatabaseConnection, retention: std::time::Duration) -> Handler {
    Handler::new(PRUNE_JOB, move |_, _| {
        let db = db.clone();
        async move {
            let retention = chrono::Duration::from_std(retention).map_err(JobError::permanent)?;
            let deleted = entity::Entity::delete_many()
                .filter(entity::Column::At.lt(Utc::now() - retention))
                .exec(&db)
                .await
                .map_err(JobError::retry)?;
            tracing::info!(deleted = deleted.rows_affected, "old audit entries deleted");
            Ok(())
        }
    })
    .every("@daily".parse().expect("a valid schedule"))
}
