//! Who is connected: a member is online while they have a socket (away when every one of
//! their sockets said `presence.away`), and offline 30 s after their last socket closed.
//! Only changes are announced, so a member opening more sockets costs the others nothing.
//!
//! Counted on this instance; the cross-instance backends extend it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use orbit_realtime::Hub;
use tokio::task::JoinHandle;

use super::protocol::{self, Status};
use super::workspace_channel;

/// How long a member stays online after their last socket closed (a reload, a flaky network).
pub const OFFLINE_GRACE: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Presence {
    members: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    workspace_id: String,
    /// Each open socket, and whether it said it is away.
    sockets: HashMap<u64, bool>,
    /// What the workspace was last told.
    announced: Status,
    going_offline: Option<JoinHandle<()>>,
}

impl Presence {
    /// A socket of `member_id` opened; true when that changed the member's status (which is
    /// then announced to the workspace).
    pub async fn connect(
        &self,
        hub: &Hub,
        workspace_id: &str,
        member_id: &str,
        socket: u64,
    ) -> bool {
        let change = self.update(member_id, Some(workspace_id), |entry| {
            if let Some(timer) = entry.going_offline.take() {
                timer.abort();
            }
            entry.sockets.insert(socket, false);
        });
        match change {
            Some((workspace_id, status)) => {
                announce(hub, &workspace_id, member_id, status).await;
                true
            }
            None => false,
        }
    }

    /// A socket said `presence.away` (`away`) or `presence.back`; announces a change.
    pub async fn set_away(&self, hub: &Hub, member_id: &str, socket: u64, away: bool) {
        let change = self.update(member_id, None, |entry| {
            if let Some(state) = entry.sockets.get_mut(&socket) {
                *state = away;
            }
        });
        if let Some((workspace_id, status)) = change {
            announce(hub, &workspace_id, member_id, status).await;
        }
    }

    /// The member's status as last announced.
    pub fn status(&self, member_id: &str) -> Status {
        let members = self.members.lock().expect("never poisoned");
        members
            .get(member_id)
            .map_or(Status::Offline, |entry| entry.announced)
    }

    /// A socket closed: after the grace period without another, the member goes offline.
    pub fn disconnect(self: &Arc<Self>, hub: &Arc<Hub>, member_id: &str, socket: u64) {
        let mut members = self.members.lock().expect("never poisoned");
        let Some(entry) = members.get_mut(member_id) else {
            return;
        };
        entry.sockets.remove(&socket);
        if !entry.sockets.is_empty() {
            return;
        }
        let (presence, hub, member_id) = (self.clone(), hub.clone(), member_id.to_owned());
        entry.going_offline = Some(tokio::spawn(async move {
            tokio::time::sleep(OFFLINE_GRACE).await;
            let gone = {
                let mut members = presence.members.lock().expect("never poisoned");
                match members.get(&member_id) {
                    Some(entry) if entry.sockets.is_empty() => members.remove(&member_id),
                    _ => None,
                }
            };
            if let Some(entry) = gone {
                announce(&hub, &entry.workspace_id, &member_id, Status::Offline).await;
            }
        }));
    }

    /// Applies `change` to the member's entry (created in `new_in` when missing, if given)
    /// and returns the status to announce, if it differs from the last one announced.
    fn update(
        &self,
        member_id: &str,
        new_in: Option<&str>,
        change: impl FnOnce(&mut Entry),
    ) -> Option<(String, Status)> {
        let mut members = self.members.lock().expect("never poisoned");
        if !members.contains_key(member_id) {
            let workspace_id = new_in?;
            let entry = Entry {
                workspace_id: workspace_id.to_owned(),
                sockets: HashMap::new(),
                announced: Status::Offline,
                going_offline: None,
            };
            members.insert(member_id.to_owned(), entry);
        }
        let entry = members.get_mut(member_id)?;
        change(entry);
        let status = match entry.sockets.values().all(|away| *away) {
            _ if entry.sockets.is_empty() => return None,
            true => Status::Away,
            false => Status::Online,
        };
        (status != entry.announced).then(|| {
            entry.announced = status;
            (entry.workspace_id.clone(), status)
        })
    }
}

async fn announce(hub: &Hub, workspace_id: &str, member_id: &str, status: Status) {
    let message = protocol::presence(member_id, status, Utc::now());
    if let Err(err) = hub
        .publish(&workspace_channel(workspace_id), &message)
        .await
    {
        tracing::warn!(error = %err, "realtime: presence not published");
    }
}
