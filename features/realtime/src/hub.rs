use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{self, error::TrySendError};

use crate::{Bus, BusError, Inbox};

type Subscribers = HashMap<u64, mpsc::Sender<Arc<str>>>;

/// Hands the bus's messages to this instance's subscribers (sockets), each through its own
/// bounded queue. A subscriber whose queue is full is cut off (its queue closes) and counted,
/// so one slow client never holds up the others. The hub is subscribed on the bus to exactly
/// the channels that have local subscribers.
pub struct Hub {
    bus: Arc<dyn Bus>,
    local: Mutex<HashMap<String, Subscribers>>,
    /// The channels this instance is subscribed to on the bus; the lock also makes
    /// subscribing and unsubscribing take turns.
    on_bus: tokio::sync::Mutex<HashSet<String>>,
    next_id: AtomicU64,
    cut_off: AtomicU64,
}

/// A subscriber's queue; dropping it leaves every channel it was attached to.
pub struct Attachment {
    pub messages: mpsc::Receiver<Arc<str>>,
    _detach: Detach,
}

struct Detach {
    hub: Arc<Hub>,
    id: u64,
    channels: Vec<String>,
}

impl Drop for Detach {
    fn drop(&mut self) {
        self.hub.detach(self.id, &self.channels);
    }
}

impl Hub {
    /// A hub over `bus`, dispatching what arrives in `inbox` until the hub is dropped.
    pub fn start(bus: Arc<dyn Bus>, mut inbox: Inbox) -> Arc<Self> {
        let hub = Arc::new(Self {
            bus,
            local: Mutex::default(),
            on_bus: tokio::sync::Mutex::default(),
            next_id: AtomicU64::new(1),
            cut_off: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&hub);
        tokio::spawn(async move {
            while let Some((channel, payload)) = inbox.recv().await {
                let Some(hub) = weak.upgrade() else { break };
                hub.deliver(&channel, payload);
            }
        });
        hub
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// Publishes on the bus: every instance's subscribers of `channel` receive it.
    pub async fn publish(&self, channel: &str, payload: &str) -> Result<(), BusError> {
        self.bus.publish(channel, payload).await
    }

    /// A new subscriber to `channels`, with room for `capacity` undelivered messages.
    pub async fn attach(
        self: &Arc<Self>,
        channels: Vec<String>,
        capacity: usize,
    ) -> Result<Attachment, BusError> {
        let (sender, messages) = mpsc::channel(capacity);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut local = self.local.lock().expect("never poisoned");
            for channel in &channels {
                local
                    .entry(channel.clone())
                    .or_default()
                    .insert(id, sender.clone());
            }
        }
        let attachment = Attachment {
            messages,
            _detach: Detach {
                hub: self.clone(),
                id,
                channels: channels.clone(),
            },
        };
        for channel in &channels {
            self.reconcile(channel).await?;
        }
        Ok(attachment)
    }

    /// How many subscribers were cut off for falling behind, since boot.
    pub fn cut_off(&self) -> u64 {
        self.cut_off.load(Ordering::Relaxed)
    }

    /// How many local subscribers `channel` has.
    pub fn local_subscribers(&self, channel: &str) -> usize {
        let local = self.local.lock().expect("never poisoned");
        local.get(channel).map_or(0, HashMap::len)
    }

    /// Hands `payload` to this instance's subscribers of `channel` only (not through the bus).
    pub fn deliver(&self, channel: &str, payload: Arc<str>) {
        let mut local = self.local.lock().expect("never poisoned");
        let Some(subscribers) = local.get_mut(channel) else {
            return;
        };
        subscribers.retain(|id, queue| match queue.try_send(payload.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.cut_off.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    subscriber = id,
                    channel,
                    "realtime subscriber fell behind: cut off"
                );
                false
            }
            Err(TrySendError::Closed(_)) => false,
        });
    }

    fn detach(self: &Arc<Self>, id: u64, channels: &[String]) {
        let mut emptied = Vec::new();
        {
            let mut local = self.local.lock().expect("never poisoned");
            for channel in channels {
                if let Some(subscribers) = local.get_mut(channel) {
                    subscribers.remove(&id);
                    if subscribers.is_empty() {
                        local.remove(channel);
                        emptied.push(channel.clone());
                    }
                }
            }
        }
        if emptied.is_empty() {
            return;
        }
        let hub = self.clone();
        tokio::spawn(async move {
            for channel in emptied {
                if let Err(err) = hub.reconcile(&channel).await {
                    tracing::warn!(channel, error = %err, "realtime: unsubscribing failed");
                }
            }
        });
    }

    /// Subscribes to `channel` on the bus if it has local subscribers and is not yet, or
    /// unsubscribes if it has none left.
    async fn reconcile(&self, channel: &str) -> Result<(), BusError> {
        let mut on_bus = self.on_bus.lock().await;
        let wanted = self
            .local
            .lock()
            .expect("never poisoned")
            .contains_key(channel);
        match (wanted, on_bus.contains(channel)) {
            (true, false) => {
                self.bus.subscribe(channel).await?;
                on_bus.insert(channel.to_owned());
            }
            (false, true) => {
                self.bus.unsubscribe(channel).await?;
                on_bus.remove(channel);
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::InProcessBus;

    fn hub() -> Arc<Hub> {
        let (bus, inbox) = InProcessBus::new();
        Hub::start(Arc::new(bus), inbox)
    }

    async fn next(attachment: &mut Attachment) -> Option<Arc<str>> {
        tokio::time::timeout(Duration::from_secs(1), attachment.messages.recv())
            .await
            .ok()
            .flatten()
    }

    #[tokio::test]
    async fn messages_reach_the_subscribers_of_their_channel_only() {
        let hub = hub();
        let mut a = hub.attach(vec!["workspace:a".into()], 8).await.unwrap();
        let mut b = hub
            .attach(vec!["workspace:b".into(), "member:1".into()], 8)
            .await
            .unwrap();
        hub.publish("workspace:a", "to a").await.unwrap();
        hub.publish("member:1", "to 1").await.unwrap();
        assert_eq!(next(&mut a).await.as_deref(), Some("to a"));
        assert_eq!(next(&mut b).await.as_deref(), Some("to 1"));
        assert!(a.messages.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_cut_off_and_the_others_still_receive() {
        let hub = hub();
        let mut slow = hub.attach(vec!["c".into()], 2).await.unwrap();
        let mut fast = hub.attach(vec!["c".into()], 64).await.unwrap();
        for i in 0..10 {
            hub.publish("c", &i.to_string()).await.unwrap();
            assert_eq!(
                next(&mut fast).await.as_deref(),
                Some(i.to_string().as_str())
            );
        }
        assert_eq!(hub.cut_off(), 1);
        assert_eq!(next(&mut slow).await.as_deref(), Some("0"));
        assert_eq!(next(&mut slow).await.as_deref(), Some("1"));
        assert_eq!(next(&mut slow).await, None, "its queue is closed");
    }

    #[tokio::test]
    async fn the_last_subscriber_leaving_unsubscribes_the_channel() {
        let hub = hub();
        let first = hub.attach(vec!["c".into()], 8).await.unwrap();
        assert_eq!(hub.local_subscribers("c"), 1);
        drop(first);
        assert_eq!(hub.local_subscribers("c"), 0);
        let mut again = hub.attach(vec!["c".into()], 8).await.unwrap();
        // Let the spawned unsubscribe of the first run; the second keeps the channel.
        tokio::time::sleep(Duration::from_millis(50)).await;
        hub.publish("c", "still here").await.unwrap();
        assert_eq!(next(&mut again).await.as_deref(), Some("still here"));
    }
}
