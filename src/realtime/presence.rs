//! Who is connected, across instances.
//!
//! Each instance counts its own sockets: there, a member is online while they have a socket
//! (away when every one of them said `presence.away`), and stays so for the offline grace
//! after the last one closed. Instances tell each other what they count on the workspace's
//! `presence:<id>` channel: changes as they happen, a snapshot every 15 s and whenever an
//! instance starts watching the workspace. Each instance then tells its own sockets a
//! member's status whenever the combination changes: online if online anywhere, else away if
//! away anywhere, else offline. An instance not heard from for 40 s (gone without a word)
//! stops counting. Only changes are announced, so a member opening more sockets costs the
//! others nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use orbit_realtime::Hub;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::protocol::{self, Status};
use super::workspace_channel;

/// How often each instance repeats everything it counts (repairing reports a bus outage lost).
const SNAPSHOT_EVERY: Duration = Duration::from_secs(15);
/// An instance silent this long is taken to be gone, and its members with it.
const SILENT_INSTANCE_EXPIRES: Duration = Duration::from_secs(40);
/// Members per snapshot message (Postgres NOTIFY carries under 8000 bytes).
const SNAPSHOT_CHUNK: usize = 100;
/// Reports a workspace's listener may have waiting.
const LISTENER_QUEUE: usize = 4096;

fn presence_channel(workspace_id: &str) -> String {
    format!("presence:{workspace_id}")
}

/// What instances tell each other about a workspace; never sent to a socket.
#[derive(Debug, Serialize, Deserialize)]
struct Report {
    from: String,
    /// Replaces everything `from` reported before (the first part of a snapshot).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    reset: bool,
    /// Asks the other instances for their snapshots.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sync: bool,
    /// Members and their status on `from`; offline means no longer counted there.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    members: HashMap<String, Status>,
}

pub struct Presence {
    /// This instance's name in reports.
    instance: String,
    hub: Arc<Hub>,
    grace: Duration,
    state: Mutex<State>,
    /// Reports waiting to be published, by one task, so they leave in the order made.
    outbox: mpsc::UnboundedSender<(String, String)>,
}

#[derive(Default)]
struct State {
    /// The members with sockets on this instance (or within their grace).
    members: HashMap<String, Local>,
    /// The workspaces those members are in.
    workspaces: HashMap<String, View>,
}

struct Local {
    workspace_id: String,
    /// Each open socket, and whether it said it is away.
    sockets: HashMap<u64, bool>,
    /// What this instance reports: online or away, kept through the grace period.
    status: Status,
    going_offline: Option<JoinHandle<()>>,
}

/// One workspace as this instance sees it.
struct View {
    /// This instance's members in it.
    members: HashSet<String>,
    /// What each other instance reports, and when it was last heard from.
    remote: HashMap<String, Remote>,
    /// What this instance's sockets were last told, per member (absent: offline).
    told: HashMap<String, Status>,
    /// Receives the other instances' reports.
    listener: Option<JoinHandle<()>>,
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}

struct Remote {
    heard: Instant,
    members: HashMap<String, Status>,
}

/// A socket's first presence message, and whether the workspace's sockets (the new one
/// included, through its queue) were told it already.
pub struct Joined {
    pub message: Arc<str>,
    pub announced: bool,
}

impl Presence {
    pub fn start(hub: Arc<Hub>, grace: Duration) -> Arc<Self> {
        let (outbox, mut reports) = mpsc::unbounded_channel::<(String, String)>();
        let presence = Arc::new(Self {
            instance: uuid::Uuid::now_v7().simple().to_string(),
            hub: hub.clone(),
            grace,
            state: Mutex::default(),
            outbox,
        });
        tokio::spawn(async move {
            while let Some((channel, report)) = reports.recv().await {
                if let Err(err) = hub.publish(&channel, &report).await {
                    tracing::warn!(error = %err, "realtime: presence not published");
                }
            }
        });
        let weak = Arc::downgrade(&presence);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SNAPSHOT_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(presence) = weak.upgrade() else {
                    break;
                };
                presence.tick().await;
            }
        });
        presence
    }

    /// A socket of `member_id` opened.
    pub async fn connect(
        self: &Arc<Self>,
        workspace_id: &str,
        member_id: &str,
        socket: u64,
    ) -> Joined {
        let mut listener: Option<JoinHandle<()>> = None;
        loop {
            {
                let mut state = self.lock();
                let viewing = state.workspaces.contains_key(workspace_id);
                if viewing || listener.is_some() {
                    match listener.take() {
                        // Another socket started viewing meanwhile: its listener serves.
                        Some(spare) if viewing => spare.abort(),
                        Some(listener) => self.start_viewing(&mut state, workspace_id, listener),
                        None => {}
                    }
                    return self.join(&mut state, workspace_id, member_id, socket);
                }
            }
            listener = Some(self.listen(workspace_id).await);
        }
    }

    /// A socket said `presence.away` (`away`) or `presence.back`.
    pub fn set_away(&self, member_id: &str, socket: u64, away: bool) {
        let mut state = self.lock();
        let Some(local) = state.members.get_mut(member_id) else {
            return;
        };
        if let Some(state) = local.sockets.get_mut(&socket) {
            *state = away;
        }
        self.local_changed(&mut state, member_id);
    }

    /// A socket closed: after the grace period without another, the member goes offline here.
    pub fn disconnect(self: &Arc<Self>, member_id: &str, socket: u64) {
        let mut state = self.lock();
        let Some(local) = state.members.get_mut(member_id) else {
            return;
        };
        local.sockets.remove(&socket);
        if !local.sockets.is_empty() {
            return;
        }
        let (presence, member_id) = (self.clone(), member_id.to_owned());
        local.going_offline = Some(tokio::spawn(async move {
            tokio::time::sleep(presence.grace).await;
            presence.leave(&member_id);
        }));
    }

    fn join(&self, state: &mut State, workspace_id: &str, member_id: &str, socket: u64) -> Joined {
        let local = state
            .members
            .entry(member_id.to_owned())
            .or_insert_with(|| Local {
                workspace_id: workspace_id.to_owned(),
                sockets: HashMap::new(),
                status: Status::Offline,
                going_offline: None,
            });
        if let Some(timer) = local.going_offline.take() {
            timer.abort();
        }
        local.sockets.insert(socket, false);
        if let Some(view) = state.workspaces.get_mut(workspace_id) {
            view.members.insert(member_id.to_owned());
        }
        match self.local_changed(state, member_id) {
            Some(message) => Joined {
                message,
                announced: true,
            },
            None => {
                let status = state.workspaces[workspace_id]
                    .told
                    .get(member_id)
                    .copied()
                    .unwrap_or(Status::Offline);
                Joined {
                    message: protocol::presence(member_id, status, Utc::now()).into(),
                    announced: false,
                }
            }
        }
    }

    /// The member's grace ran out: unless a socket came back, they leave this instance.
    fn leave(&self, member_id: &str) {
        let mut state = self.lock();
        let Some(local) = state.members.get(member_id) else {
            return;
        };
        if !local.sockets.is_empty() {
            return;
        }
        let workspace_id = local.workspace_id.clone();
        state.members.remove(member_id);
        self.report(
            &workspace_id,
            false,
            [(member_id.to_owned(), Status::Offline)],
        );
        self.refresh(&mut state, &workspace_id, member_id);
        let view = state.workspaces.get_mut(&workspace_id);
        if let Some(view) = view {
            view.members.remove(member_id);
            if view.members.is_empty() {
                state.workspaces.remove(&workspace_id);
            }
        }
    }

    /// Recomputes what this instance reports for the member; on a change, reports it and
    /// tells the local sockets if the combined status changed (the message they were sent).
    fn local_changed(&self, state: &mut State, member_id: &str) -> Option<Arc<str>> {
        let local = state.members.get_mut(member_id)?;
        let status = match local.sockets.values().all(|away| *away) {
            _ if local.sockets.is_empty() => local.status,
            true => Status::Away,
            false => Status::Online,
        };
        if status == local.status {
            return None;
        }
        local.status = status;
        let workspace_id = local.workspace_id.clone();
        self.report(&workspace_id, false, [(member_id.to_owned(), status)]);
        self.refresh(state, &workspace_id, member_id)
    }

    /// Tells this instance's sockets of the workspace the member's combined status, if it
    /// differs from what they were last told; returns the message sent.
    fn refresh(&self, state: &mut State, workspace_id: &str, member_id: &str) -> Option<Arc<str>> {
        let here = state
            .members
            .get(member_id)
            .filter(|local| local.workspace_id == workspace_id)
            .map(|local| local.status);
        let view = state.workspaces.get_mut(workspace_id)?;
        let elsewhere = view
            .remote
            .values()
            .filter_map(|remote| remote.members.get(member_id).copied());
        let status = here
            .into_iter()
            .chain(elsewhere)
            .fold(Status::Offline, combine);
        let told = view.told.get(member_id).copied().unwrap_or(Status::Offline);
        if status == told {
            return None;
        }
        match status {
            Status::Offline => view.told.remove(member_id),
            _ => view.told.insert(member_id.to_owned(), status),
        };
        let message: Arc<str> = protocol::presence(member_id, status, Utc::now()).into();
        self.hub
            .deliver(&workspace_channel(workspace_id), message.clone());
        Some(message)
    }

    /// Another instance's report (or this one's, coming back: ignored).
    fn receive(&self, workspace_id: &str, text: &str) {
        let Ok(report) = serde_json::from_str::<Report>(text) else {
            return;
        };
        if report.from == self.instance {
            return;
        }
        let mut state = self.lock();
        if report.sync {
            self.snapshot(&state, workspace_id);
        }
        let Some(view) = state.workspaces.get_mut(workspace_id) else {
            return;
        };
        let remote = view.remote.entry(report.from).or_insert_with(|| Remote {
            heard: Instant::now(),
            members: HashMap::new(),
        });
        remote.heard = Instant::now();
        let mut touched: Vec<String> = report.members.keys().cloned().collect();
        if report.reset {
            touched.extend(remote.members.drain().map(|(member, _)| member));
        }
        for (member, status) in report.members {
            match status {
                Status::Offline => remote.members.remove(&member),
                _ => remote.members.insert(member, status),
            };
        }
        for member in touched {
            self.refresh(&mut state, workspace_id, &member);
        }
    }

    /// Every 15 s: snapshots out, silent instances dropped, lost listeners replaced.
    async fn tick(self: &Arc<Self>) {
        let deaf = {
            let mut state = self.lock();
            let mut expired = Vec::new();
            let mut deaf = Vec::new();
            for (workspace_id, view) in &mut state.workspaces {
                view.remote.retain(|_, remote| {
                    let alive = remote.heard.elapsed() < SILENT_INSTANCE_EXPIRES;
                    if !alive {
                        let members = remote.members.keys().cloned();
                        expired.extend(members.map(|member| (workspace_id.clone(), member)));
                    }
                    alive
                });
                if view.listener.as_ref().is_none_or(JoinHandle::is_finished) {
                    deaf.push(workspace_id.clone());
                }
            }
            for (workspace_id, member_id) in expired {
                self.refresh(&mut state, &workspace_id, &member_id);
            }
            for workspace_id in state.workspaces.keys() {
                self.snapshot(&state, workspace_id);
            }
            deaf
        };
        for workspace_id in deaf {
            let listener = self.listen(&workspace_id).await;
            match self.lock().workspaces.get_mut(&workspace_id) {
                Some(view) => view.listener = Some(listener),
                None => listener.abort(),
            }
        }
    }

    fn start_viewing(&self, state: &mut State, workspace_id: &str, listener: JoinHandle<()>) {
        let view = View {
            members: HashSet::new(),
            remote: HashMap::new(),
            told: HashMap::new(),
            listener: Some(listener),
        };
        state.workspaces.insert(workspace_id.to_owned(), view);
        let sync = Report {
            from: self.instance.clone(),
            reset: false,
            sync: true,
            members: HashMap::new(),
        };
        self.send(workspace_id, &sync);
    }

    /// Starts receiving the workspace's reports; the task ends if the bus refuses or the
    /// listener falls behind (the next tick starts another).
    async fn listen(self: &Arc<Self>, workspace_id: &str) -> JoinHandle<()> {
        let channel = presence_channel(workspace_id);
        let attached = self.hub.attach(vec![channel], LISTENER_QUEUE).await;
        let (presence, workspace_id) = (Arc::downgrade(self), workspace_id.to_owned());
        tokio::spawn(async move {
            let mut attachment = match attached {
                Ok(attachment) => attachment,
                Err(err) => {
                    tracing::warn!(error = %err, "realtime: presence reports unavailable");
                    return;
                }
            };
            while let Some(text) = attachment.messages.recv().await {
                let Some(presence) = presence.upgrade() else {
                    return;
                };
                presence.receive(&workspace_id, &text);
            }
        })
    }

    /// Publishes everything this instance counts in the workspace, in parts.
    fn snapshot(&self, state: &State, workspace_id: &str) {
        let Some(view) = state.workspaces.get(workspace_id) else {
            return;
        };
        let counted: Vec<(String, Status)> = view
            .members
            .iter()
            .filter_map(|member| Some((member.clone(), state.members.get(member)?.status)))
            .filter(|(_, status)| *status != Status::Offline)
            .collect();
        let mut parts = counted.chunks(SNAPSHOT_CHUNK);
        let first = parts.next().unwrap_or_default();
        self.report(workspace_id, true, first.iter().cloned());
        for part in parts {
            self.report(workspace_id, false, part.iter().cloned());
        }
    }

    fn report(
        &self,
        workspace_id: &str,
        reset: bool,
        members: impl IntoIterator<Item = (String, Status)>,
    ) {
        let report = Report {
            from: self.instance.clone(),
            reset,
            sync: false,
            members: members.into_iter().collect(),
        };
        self.send(workspace_id, &report);
    }

    fn send(&self, workspace_id: &str, report: &Report) {
        let text = serde_json::to_string(report).expect("a report serializes");
        let _ = self.outbox.send((presence_channel(workspace_id), text));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("never poisoned")
    }
}

/// Online anywhere wins over away anywhere, which wins over offline.
fn combine(a: Status, b: Status) -> Status {
    match (a, b) {
        (Status::Online, _) | (_, Status::Online) => Status::Online,
        (Status::Away, _) | (_, Status::Away) => Status::Away,
        _ => Status::Offline,
    }
}
