use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::connection::State;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Bus, BusError, Delivery, Inbox};

/// NATS subjects are `orbit.<channel>` (channels hold no dots).
const PREFIX: &str = "orbit.";

/// NATS core pub/sub. The client connects in the background, reconnects by itself and
/// restores its subscriptions.
pub struct NatsBus {
    client: async_nats::Client,
    /// One forwarding task per subscribed channel; aborting it drops the subscription.
    subscriptions: Mutex<HashMap<String, JoinHandle<()>>>,
    deliver: mpsc::UnboundedSender<Delivery>,
}

impl NatsBus {
    pub async fn connect(url: &str) -> Result<(Self, Inbox), BusError> {
        let connected_before = Arc::new(AtomicBool::new(false));
        let client = async_nats::ConnectOptions::new()
            .name("orbit")
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None)
            .event_callback(move |event| {
                let connected_before = connected_before.clone();
                async move {
                    if let async_nats::Event::Connected = event
                        && connected_before.swap(true, Ordering::Relaxed)
                    {
                        crate::count_reconnect("nats");
                    }
                }
            })
            // The app boots (not ready) while NATS is down.
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(error)?;
        let (deliver, inbox) = mpsc::unbounded_channel();
        let bus = Self {
            client,
            subscriptions: Mutex::default(),
            deliver,
        };
        Ok((bus, inbox))
    }
}

fn error(err: impl std::fmt::Display) -> BusError {
    BusError {
        backend: "nats",
        message: err.to_string(),
    }
}

#[async_trait::async_trait]
impl Bus for NatsBus {
    fn backend(&self) -> &'static str {
        "nats"
    }

    fn crosses_instances(&self) -> bool {
        true
    }

    async fn publish(&self, channel: &str, payload: &str) -> Result<(), BusError> {
        self.client
            .publish(format!("{PREFIX}{channel}"), payload.to_owned().into())
            .await
            .map_err(error)
    }

    async fn subscribe(&self, channel: &str) -> Result<(), BusError> {
        let mut subscriber = self
            .client
            .subscribe(format!("{PREFIX}{channel}"))
            .await
            .map_err(error)?;
        let (deliver, name) = (self.deliver.clone(), channel.to_owned());
        let forward = tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                let Ok(text) = std::str::from_utf8(&message.payload) else {
                    continue;
                };
                if deliver.send((name.clone(), Arc::from(text))).is_err() {
                    break;
                }
            }
        });
        let mut subscriptions = self.subscriptions.lock().expect("never poisoned");
        if let Some(previous) = subscriptions.insert(channel.to_owned(), forward) {
            previous.abort();
        }
        Ok(())
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), BusError> {
        let forward = self
            .subscriptions
            .lock()
            .expect("never poisoned")
            .remove(channel);
        if let Some(forward) = forward {
            forward.abort();
        }
        Ok(())
    }

    /// Connected now, or within a second (just booted, or reconnecting).
    async fn ping(&self) -> Result<(), BusError> {
        if self.client.connection_state() == State::Connected {
            return Ok(());
        }
        match tokio::time::timeout(Duration::from_secs(1), self.client.flush()).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(error(format!(
                "not connected ({})",
                self.client.connection_state()
            ))),
        }
    }
}
