//! Realtime fan-out: a [`Bus`] carries messages between instances (publish on a channel,
//! subscribe to channels), and a [`Hub`] hands each message to the local subscribers of its
//! channel through bounded queues, so a slow subscriber never slows the others.
//!
//! This crate knows nothing of HTTP or the app's tables: channels are names, messages are text.

mod hub;
mod in_process;
mod nats_bus;
mod postgres_bus;
mod redis_bus;

pub use hub::{Attachment, Hub};
pub use in_process::InProcessBus;
pub use nats_bus::NatsBus;
pub use postgres_bus::PostgresBus;
pub use redis_bus::RedisBus;

use std::sync::Arc;

use tokio::sync::mpsc;

/// A message as a bus delivers it: its channel and its text.
pub type Delivery = (String, Arc<str>);

/// Where a bus delivers the messages of the channels it is subscribed to.
pub type Inbox = mpsc::UnboundedReceiver<Delivery>;

#[derive(Debug, thiserror::Error)]
#[error("{backend}: {message}")]
pub struct BusError {
    pub backend: &'static str,
    pub message: String,
}

/// Carries messages between the instances of the app.
#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// `in-process`, `postgres`, `redis` or `nats`.
    fn backend(&self) -> &'static str;

    /// Whether other instances receive what this one publishes.
    fn crosses_instances(&self) -> bool;

    /// Sends `payload` to the subscribers of `channel` on every instance (this one included).
    async fn publish(&self, channel: &str, payload: &str) -> Result<(), BusError>;

    /// Starts delivering `channel`'s messages to this instance's inbox.
    async fn subscribe(&self, channel: &str) -> Result<(), BusError>;

    /// Stops delivering `channel`'s messages here.
    async fn unsubscribe(&self, channel: &str) -> Result<(), BusError>;

    /// Whether the bus answers now (for readiness).
    async fn ping(&self) -> Result<(), BusError>;
}

/// Which bus to run on, with what it needs to connect.
pub enum BusConfig {
    InProcess,
    Postgres(sqlx::PgPool),
    Redis(String),
    Nats(String),
}

/// Counts one re-established connection of `backend`'s bus.
fn count_reconnect(backend: &'static str) {
    metrics::counter!("realtime_bus_reconnects_total", "backend" => backend).increment(1);
}

/// Starts a hub on the chosen bus. Buses connect in the background (and reconnect by
/// themselves): only a malformed URL fails here.
pub async fn connect(config: BusConfig) -> Result<Arc<Hub>, BusError> {
    fn started(bus: impl Bus, inbox: Inbox) -> Arc<Hub> {
        Hub::start(Arc::new(bus), inbox)
    }
    Ok(match config {
        BusConfig::InProcess => {
            let (bus, inbox) = InProcessBus::new();
            started(bus, inbox)
        }
        BusConfig::Postgres(pool) => {
            let (bus, inbox) = PostgresBus::start(pool);
            started(bus, inbox)
        }
        BusConfig::Redis(url) => {
            let (bus, inbox) = RedisBus::start(&url)?;
            started(bus, inbox)
        }
        BusConfig::Nats(url) => {
            let (bus, inbox) = NatsBus::connect(&url).await?;
            started(bus, inbox)
        }
    })
}
