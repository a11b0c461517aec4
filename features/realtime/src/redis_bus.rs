use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use crate::{Bus, BusError, Delivery, Inbox};

/// Redis channel names are `orbit:<channel>`, so the app can share a Redis with others.
const PREFIX: &str = "orbit:";
/// How often the bus pings Redis while idle: a lost connection is noticed, re-established
/// and its subscriptions restored within this long even when nothing is published.
const KEEPALIVE: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_secs(5);

/// Redis pub/sub over one multiplexed RESP3 connection that connects in the background,
/// reconnects by itself and subscribes again to every channel it was subscribed to.
pub struct RedisBus {
    connection: ConnectionManager,
}

impl RedisBus {
    pub fn start(url: &str) -> Result<(Self, Inbox), BusError> {
        let info = url.into_connection_info().map_err(error)?;
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(resp3)).map_err(error)?;
        let (pushes, mut pushed) = mpsc::unbounded_channel::<PushInfo>();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(pushes)
            .set_automatic_resubscription()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_max_delay(KEEPALIVE)
            // One attempt per command: the keepalive below is what keeps trying.
            .set_number_of_retries(1);
        // Connects on first use, so the app boots (not ready) while Redis is down.
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(error)?;

        let (deliver, inbox) = mpsc::unbounded_channel::<Delivery>();
        let keepalive = deliver.clone();
        tokio::spawn(async move {
            while let Some(push) = pushed.recv().await {
                if let Some(delivery) = message(push)
                    && deliver.send(delivery).is_err()
                {
                    break;
                }
            }
        });
        let mut pinger = connection.clone();
        tokio::spawn(async move {
            let mut was_up = true;
            while !keepalive.is_closed() {
                tokio::time::sleep(KEEPALIVE).await;
                let up = redis::cmd("PING")
                    .query_async::<()>(&mut pinger)
                    .await
                    .is_ok();
                if up && !was_up {
                    crate::count_reconnect("redis");
                }
                was_up = up;
            }
        });
        Ok((Self { connection }, inbox))
    }
}

/// The channel and text of a pub/sub message; `None` for other pushes.
fn message(push: PushInfo) -> Option<Delivery> {
    if push.kind != PushKind::Message {
        return None;
    }
    let [Value::BulkString(channel), Value::BulkString(payload)] = push.data.as_slice() else {
        return None;
    };
    let channel = std::str::from_utf8(channel).ok()?.strip_prefix(PREFIX)?;
    let payload = std::str::from_utf8(payload).ok()?;
    Some((channel.to_owned(), Arc::from(payload)))
}

fn error(err: redis::RedisError) -> BusError {
    BusError {
        backend: "redis",
        message: err.to_string(),
    }
}

#[async_trait::async_trait]
impl Bus for RedisBus {
    fn backend(&self) -> &'static str {
        "redis"
    }

    fn crosses_instances(&self) -> bool {
        true
    }

    async fn publish(&self, channel: &str, payload: &str) -> Result<(), BusError> {
        redis::cmd("PUBLISH")
            .arg(format!("{PREFIX}{channel}"))
            .arg(payload)
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(error)
    }

    async fn subscribe(&self, channel: &str) -> Result<(), BusError> {
        let mut connection = self.connection.clone();
        connection
            .subscribe(format!("{PREFIX}{channel}"))
            .await
            .map_err(error)
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), BusError> {
        let mut connection = self.connection.clone();
        connection
            .unsubscribe(format!("{PREFIX}{channel}"))
            .await
            .map_err(error)
    }

    async fn ping(&self) -> Result<(), BusError> {
        redis::cmd("PING")
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(error)
    }
}
