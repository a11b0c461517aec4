//! Realtime: the `/v1/ws` WebSocket per workspace, presence, and the fan-out of committed
//! workspace changes to every socket of the workspace (through the `orbit-realtime` hub).

pub mod presence;
pub mod protocol;
pub mod socket;

use std::sync::Arc;

use orbit_realtime::{Bus, Hub, InProcessBus};

use crate::workspaces::events::DomainEvents;
use presence::Presence;

pub fn workspace_channel(workspace_id: &str) -> String {
    format!("workspace:{workspace_id}")
}

pub fn member_channel(member_id: &str) -> String {
    format!("member:{member_id}")
}

/// The hub sockets attach to, and who is connected.
#[derive(Clone)]
pub struct Realtime {
    pub hub: Arc<Hub>,
    pub presence: Arc<Presence>,
}

impl Realtime {
    /// In-process fan-out (one instance), relaying the committed changes `events` announces.
    pub fn start(events: &DomainEvents) -> Self {
        let (bus, inbox) = InProcessBus::new();
        let bus: Arc<dyn Bus> = Arc::new(bus);
        tracing::info!(
            capability = "realtime",
            backend = bus.backend(),
            "realtime in-process: events reach this instance's sockets only"
        );
        let hub = Hub::start(bus, inbox);
        relay(events, hub.clone());
        Self {
            hub,
            presence: Arc::default(),
        }
    }
}

/// Publishes each committed workspace change on its workspace's channel.
fn relay(events: &DomainEvents, hub: Arc<Hub>) {
    let mut events = events.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    let channel = workspace_channel(event.workspace_id());
                    if let Err(err) = hub.publish(&channel, &protocol::event(&event)).await {
                        tracing::warn!(error = %err, "realtime: event not published");
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "realtime: the relay fell behind; events lost");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}
