//! Domain events: what changed in a workspace, published after the change commits on one
//! in-process channel. The realtime hub fans them out to sockets (and other instances).

use std::ops::Deref;
use std::sync::Arc;

use poem::Request;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use tokio::sync::broadcast;

use super::dto::{MemberDto, RoleDto, WorkspaceDto};
use crate::audit::{self, Actor, Entry};
use crate::auth::session::CurrentSession;
use crate::billing::api::SubscriptionDto;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::uploads::api::UploadDto;

#[derive(Debug, Clone)]
pub enum WorkspaceEvent {
    MemberJoined {
        workspace_id: String,
        member: MemberDto,
    },
    MemberLeft {
        workspace_id: String,
        member_id: String,
        user_id: String,
    },
    MemberRoleChanged {
        workspace_id: String,
        member: MemberDto,
    },
    RoleCreated {
        workspace_id: String,
        role: RoleDto,
    },
    RoleUpdated {
        workspace_id: String,
        role: RoleDto,
    },
    RoleDeleted {
        workspace_id: String,
        role_id: String,
    },
    WorkspaceUpdated {
        workspace_id: String,
        workspace: WorkspaceDto,
    },
    WorkspaceDeleted {
        workspace_id: String,
    },
    UploadCompleted {
        workspace_id: String,
        upload: UploadDto,
    },
    UploadDeleted {
        workspace_id: String,
        upload_id: String,
    },
    BillingUpdated {
        workspace_id: String,
        subscription: Option<SubscriptionDto>,
        entitled: bool,
    },
}

impl WorkspaceEvent {
    pub fn workspace_id(&self) -> &str {
        match self {
            WorkspaceEvent::MemberJoined { workspace_id, .. }
            | WorkspaceEvent::MemberLeft { workspace_id, .. }
            | WorkspaceEvent::MemberRoleChanged { workspace_id, .. }
            | WorkspaceEvent::RoleCreated { workspace_id, .. }
            | WorkspaceEvent::RoleUpdated { workspace_id, .. }
            | WorkspaceEvent::RoleDeleted { workspace_id, .. }
            | WorkspaceEvent::WorkspaceUpdated { workspace_id, .. }
            | WorkspaceEvent::WorkspaceDeleted { workspace_id }
            | WorkspaceEvent::UploadCompleted { workspace_id, .. }
            | WorkspaceEvent::UploadDeleted { workspace_id, .. }
            | WorkspaceEvent::BillingUpdated { workspace_id, .. } => workspace_id,
        }
    }

    /// The name the WebSocket protocol gives the event.
    pub fn kind(&self) -> &'static str {
        match self {
            WorkspaceEvent::MemberJoined { .. } => "workspace.member.joined",
            WorkspaceEvent::MemberLeft { .. } => "workspace.member.left",
            WorkspaceEvent::MemberRoleChanged { .. } => "workspace.member.role_changed",
            WorkspaceEvent::RoleCreated { .. } => "workspace.role.created",
            WorkspaceEvent::RoleUpdated { .. } => "workspace.role.updated",
            WorkspaceEvent::RoleDeleted { .. } => "workspace.role.deleted",
            WorkspaceEvent::WorkspaceUpdated { .. } => "workspace.updated",
            WorkspaceEvent::WorkspaceDeleted { .. } => "workspace.deleted",
            WorkspaceEvent::UploadCompleted { .. } => "upload.completed",
            WorkspaceEvent::UploadDeleted { .. } => "upload.deleted",
            WorkspaceEvent::BillingUpdated { .. } => "billing.subscription.updated",
        }
    }
}

/// How many events a slow subscriber may fall behind before it misses some.
const CAPACITY: usize = 4096;

/// The one channel domain events go out on. Publishing never waits: a subscriber that falls
/// more than [`CAPACITY`] events behind is told how many it missed.
#[derive(Clone)]
pub struct DomainEvents {
    sender: broadcast::Sender<Arc<WorkspaceEvent>>,
}

impl Default for DomainEvents {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl DomainEvents {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WorkspaceEvent>> {
        self.sender.subscribe()
    }

    fn publish(&self, event: WorkspaceEvent) {
        tracing::debug!(
            event = event.kind(),
            workspace_id = event.workspace_id(),
            "domain event"
        );
        // No subscriber is not an error: nothing listens until realtime is on.
        let _ = self.sender.send(Arc::new(event));
    }
}

/// A database transaction made by `actor` that collects the events its changes cause and
/// publishes them only once it commits: a rolled-back change announces nothing. Its audit
/// entries are written in it.
pub struct Change {
    txn: DatabaseTransaction,
    actor: Actor,
    events: Vec<WorkspaceEvent>,
}

impl Change {
    /// Begins the transaction, as a writer ([`crate::db::begin_write`]).
    pub async fn begin(db: &DatabaseConnection, actor: Actor) -> ApiResult<Self> {
        Ok(Self {
            txn: crate::db::begin_write(db)
                .await
                .map_err(ApiError::internal)?,
            actor,
            events: Vec::new(),
        })
    }

    /// Begins a change made by the signed-in caller of `req`.
    pub async fn by_caller(
        state: &AppState,
        req: &Request,
        caller: &CurrentSession,
    ) -> ApiResult<Self> {
        let actor = Actor::caller(&state.settings, req, caller);
        Self::begin(&state.db, actor).await
    }

    pub fn record(&mut self, event: WorkspaceEvent) {
        self.events.push(event);
    }

    /// Writes an audit entry by this change's actor, in its transaction.
    pub async fn audit(&self, entry: Entry) -> ApiResult<()> {
        audit::record(&self.txn, &self.actor, entry).await
    }

    /// Commits, then announces the events. A change of members also enqueues, in the same
    /// transaction, the sync of its workspace's seats with billing.
    pub async fn commit(self, state: &AppState) -> ApiResult<()> {
        let mut seats_changed: Vec<&str> = self
            .events
            .iter()
            .filter(|event| {
                matches!(
                    event,
                    WorkspaceEvent::MemberJoined { .. } | WorkspaceEvent::MemberLeft { .. }
                )
            })
            .map(WorkspaceEvent::workspace_id)
            .collect();
        seats_changed.dedup();
        for workspace_id in seats_changed {
            crate::billing::seats::enqueue(state, &self.txn, workspace_id).await?;
        }
        self.txn.commit().await.map_err(ApiError::internal)?;
        for event in self.events {
            state.events.publish(event);
        }
        Ok(())
    }
}

impl Deref for Change {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}
