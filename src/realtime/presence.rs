//! Who is connected: a member is online while they have a socket (away when every one of
//! their sockets said `presence.away`), and offline 30 s after their last socket closed.
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
    going_offline: Option<JoinHandle<()>>,
}

impl Entry {
    fn status(&self) -> Status {
        match self.sockets.values().all(|away| *away) {
            true => Status::Away,
            false => Status::Online,
        }
    }
}

impl Presence {
    /// A socket of `member_id` opened: announces the member online (or away, if their other
    /// sockets all are).
    pub async fn connect(&self, hub: &Hub, workspace_id: &str, member_id: &str, socket: u64) {
        let status = {
            let mut members = self.members.lock().expect("never poisoned");
            let entry = members
                .entry(member_id.to_owned())
                .or_insert_with(|| Entry {
                    workspace_id: workspace_id.to_owned(),
                    sockets: HashMap::new(),
                    going_offline: None,
                });
            if let Some(timer) = entry.going_offline.take() {
                timer.abort();
            }
            entry.sockets.insert(socket, false);
            entry.status()
        };
        announce(hub, workspace_id, member_id, status).await;
    }

    /// A socket said `presence.away` (`away`) or `presence.back`; announces a change.
    pub async fn set_away(&self, hub: &Hub, member_id: &str, socket: u64, away: bool) {
        let changed = {
            let mut members = self.members.lock().expect("never poisoned");
            members.get_mut(member_id).and_then(|entry| {
                let before = entry.status();
                entry.sockets.insert(socket, away);
                let after = entry.status();
                (before != after).then(|| (entry.workspace_id.clone(), after))
            })
        };
        if let Some((workspace_id, status)) = changed {
            announce(hub, &workspace_id, member_id, status).await;
        }
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
