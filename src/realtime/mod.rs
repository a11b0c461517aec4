//! Realtime: the `/v1/ws` WebSocket per workspace, presence, and the fan-out of committed
//! workspace changes to every socket of the workspace (through the `orbit-realtime` hub).

pub mod presence;
pub mod protocol;
pub mod socket;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use orbit_realtime::{BusConfig, Hub};
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{BusBackend, Settings};
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
    /// Fan-out over `hub`, relaying the committed changes `events` announces.
    pub fn start(hub: Arc<Hub>, events: &DomainEvents, offline_grace: Duration) -> Self {
        relay(events, hub.clone());
        Self {
            presence: Presence::start(hub.clone(), offline_grace),
            hub,
        }
    }
}

/// The bus the settings choose: `REALTIME_BACKEND` if set, else NATS when `NATS_URL` is
/// set, else Redis when `REDIS_URL` is, else Postgres when the database is, else in-process.
pub async fn connect_hub(settings: &Settings, db: &DatabaseConnection) -> anyhow::Result<Arc<Hub>> {
    let realtime = &settings.realtime;
    let backend = realtime.backend.unwrap_or(match () {
        _ if realtime.nats_url.is_some() => BusBackend::Nats,
        _ if realtime.redis_url.is_some() => BusBackend::Redis,
        _ if settings.database.is_postgres() => BusBackend::Postgres,
        _ => BusBackend::InProcess,
    });
    let url = |url: &Option<SecretString>| {
        url.as_ref()
            .map(|url| url.expose_secret().to_owned())
            .unwrap_or_default()
    };
    let config = match backend {
        BusBackend::InProcess => BusConfig::InProcess,
        BusBackend::Postgres => BusConfig::Postgres(db.get_postgres_connection_pool().clone()),
        BusBackend::Redis => BusConfig::Redis(url(&realtime.redis_url)),
        BusBackend::Nats => BusConfig::Nats(url(&realtime.nats_url)),
    };
    let hub = orbit_realtime::connect(config)
        .await
        .context("realtime bus")?;
    if !hub.bus().crosses_instances() {
        tracing::warn!(
            capability = "realtime",
            "realtime in-process: events reach this instance's sockets only"
        );
    }
    Ok(hub)
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
