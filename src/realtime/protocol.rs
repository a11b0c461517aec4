//! The WebSocket protocol of the Orbit API (§4): what the server sends and what it reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::time::iso;
use crate::workspaces::events::WorkspaceEvent;

/// A member's presence, as `presence.update` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Online,
    Away,
    Offline,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Away => "away",
            Status::Offline => "offline",
        }
    }
}

pub fn hello(member_id: &str) -> String {
    json!({
        "type": "hello",
        "workspaceMemberId": member_id,
        "serverTime": Utc::now().timestamp_millis(),
    })
    .to_string()
}

pub fn presence(member_id: &str, status: Status, last_seen: DateTime<Utc>) -> String {
    json!({
        "type": "presence.update",
        "workspaceMemberId": member_id,
        "status": status.as_str(),
        "lastSeenAt": iso(last_seen),
    })
    .to_string()
}

/// A domain event as the sockets of its workspace receive it.
pub fn event(event: &WorkspaceEvent) -> String {
    let kind = event.kind();
    let body = match event {
        WorkspaceEvent::MemberJoined { member, .. }
        | WorkspaceEvent::MemberRoleChanged { member, .. } => {
            json!({"type": kind, "member": member})
        }
        WorkspaceEvent::MemberLeft { member_id, .. } => {
            json!({"type": kind, "workspaceMemberId": member_id})
        }
        WorkspaceEvent::RoleCreated { role, .. } | WorkspaceEvent::RoleUpdated { role, .. } => {
            json!({"type": kind, "role": role})
        }
        WorkspaceEvent::RoleDeleted { role_id, .. } => json!({"type": kind, "roleId": role_id}),
        WorkspaceEvent::WorkspaceUpdated { workspace, .. } => {
            json!({"type": kind, "workspace": workspace})
        }
        WorkspaceEvent::WorkspaceDeleted { .. } => json!({"type": kind}),
        WorkspaceEvent::UploadCompleted { upload, .. } => json!({"type": kind, "upload": upload}),
        WorkspaceEvent::UploadDeleted { upload_id, .. } => {
            json!({"type": kind, "uploadId": upload_id})
        }
        WorkspaceEvent::BillingUpdated {
            subscription,
            entitled,
            ..
        } => json!({"type": kind, "subscription": subscription, "entitled": entitled}),
    };
    body.to_string()
}

/// What a socket must do after passing a message on: nothing, or close because its member
/// left (`workspace.member.left` naming it) or its workspace is gone.
pub fn ends_connection(message: &str, member_id: &str) -> bool {
    if !message.contains("workspace.member.left") && !message.contains("workspace.deleted") {
        return false;
    }
    let Ok(value) = serde_json::from_str::<Value>(message) else {
        return false;
    };
    match value["type"].as_str() {
        Some("workspace.deleted") => true,
        Some("workspace.member.left") => value["workspaceMemberId"] == member_id,
        _ => false,
    }
}

/// What a client sends; anything else is ignored.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum ClientEvent {
    #[serde(rename = "ping")]
    Ping,
    #[serde(rename = "presence.away")]
    Away,
    #[serde(rename = "presence.back")]
    Back,
}

pub fn parse_client(text: &str) -> Option<ClientEvent> {
    serde_json::from_str(text).ok()
}
