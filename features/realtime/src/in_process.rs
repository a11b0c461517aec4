use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::{Bus, BusError, Delivery, Inbox};

/// The bus of a single instance: publishing hands the message straight to this instance's
/// inbox. Events never reach another instance.
pub struct InProcessBus {
    subscribed: Mutex<HashSet<String>>,
    inbox: mpsc::UnboundedSender<Delivery>,
}

impl InProcessBus {
    pub fn new() -> (Self, Inbox) {
        let (inbox, receiver) = mpsc::unbounded_channel();
        let bus = Self {
            subscribed: Mutex::default(),
            inbox,
        };
        (bus, receiver)
    }
}

#[async_trait::async_trait]
impl Bus for InProcessBus {
    fn backend(&self) -> &'static str {
        "in-process"
    }

    fn crosses_instances(&self) -> bool {
        false
    }

    async fn publish(&self, channel: &str, payload: &str) -> Result<(), BusError> {
        let subscribed = self
            .subscribed
            .lock()
            .expect("never poisoned")
            .contains(channel);
        if subscribed {
            // The hub owns the receiver for the life of the process.
            let _ = self.inbox.send((channel.to_owned(), Arc::from(payload)));
        }
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<(), BusError> {
        self.subscribed
            .lock()
            .expect("never poisoned")
            .insert(channel.to_owned());
        Ok(())
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), BusError> {
        self.subscribed
            .lock()
            .expect("never poisoned")
            .remove(channel);
        Ok(())
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}
