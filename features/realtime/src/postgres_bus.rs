use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use crate::{Bus, BusError, Delivery, Inbox};

/// Every message travels on this one notification channel, its own channel name first:
/// `LISTEN` names are limited to 63 bytes, and listening to one name means the listener
/// never has to change while it waits.
const NOTIFY_CHANNEL: &str = "orbit_realtime";
/// Postgres refuses notification payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7999;
const RETRY: Duration = Duration::from_secs(1);

/// Postgres `LISTEN`/`NOTIFY` over the app's own database: no extra server. Each instance
/// receives every message and hands on those of channels it has subscribers for, which
/// suits the few instances a Postgres-only deploy runs; NATS or Redis route by channel.
pub struct PostgresBus {
    pool: PgPool,
    listening: Arc<AtomicBool>,
}

impl PostgresBus {
    /// Listens in the background, so the app boots (not ready) while Postgres is down.
    pub fn start(pool: PgPool) -> (Self, Inbox) {
        let listening = Arc::new(AtomicBool::new(false));
        let (deliver, inbox) = mpsc::unbounded_channel();
        tokio::spawn(receive(pool.clone(), listening.clone(), deliver));
        (Self { pool, listening }, inbox)
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, BusError> {
    let mut listener = PgListener::connect_with(pool).await.map_err(error)?;
    listener.listen(NOTIFY_CHANNEL).await.map_err(error)?;
    Ok(listener)
}

/// Listens (trying every second until Postgres answers) and hands each notification to the
/// inbox; when the connection is lost, listens again on a new one. Notifications sent
/// meanwhile are lost.
async fn receive(
    pool: PgPool,
    listening: Arc<AtomicBool>,
    deliver: mpsc::UnboundedSender<Delivery>,
) {
    let Some(mut listener) = listen_again(&pool, &deliver).await else {
        return;
    };
    listening.store(true, Ordering::Relaxed);
    // A loss sqlx reports (and reconnects from) may still end in an error when it tries:
    // one reconnect counted per loss.
    let mut loss_counted = false;
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                loss_counted = false;
                let Some((channel, payload)) = notification.payload().split_once('\n') else {
                    continue;
                };
                if deliver
                    .send((channel.to_owned(), Arc::from(payload)))
                    .is_err()
                {
                    return;
                }
            }
            Ok(None) => {
                crate::count_reconnect("postgres");
                loss_counted = true;
                tracing::warn!("realtime: Postgres listener reconnected; messages lost");
            }
            Err(_) if pool.is_closed() => {
                // Shutting down: the listener's connection must not hold up the pool's closing.
                listening.store(false, Ordering::Relaxed);
                return;
            }
            Err(err) => {
                listening.store(false, Ordering::Relaxed);
                tracing::warn!(error = %err, "realtime: Postgres listener lost");
                tokio::time::sleep(RETRY).await;
                let Some(again) = listen_again(&pool, &deliver).await else {
                    return;
                };
                listener = again;
                listening.store(true, Ordering::Relaxed);
                if !std::mem::take(&mut loss_counted) {
                    crate::count_reconnect("postgres");
                }
                tracing::info!("realtime: Postgres listener back");
            }
        }
    }
}

/// A new listener, trying every second; `None` once nobody receives any more.
async fn listen_again(
    pool: &PgPool,
    deliver: &mpsc::UnboundedSender<Delivery>,
) -> Option<PgListener> {
    loop {
        if deliver.is_closed() || pool.is_closed() {
            return None;
        }
        match listen(pool).await {
            Ok(listener) => return Some(listener),
            Err(_) => tokio::time::sleep(RETRY).await,
        }
    }
}

fn error(err: impl std::fmt::Display) -> BusError {
    BusError {
        backend: "postgres",
        message: err.to_string(),
    }
}

#[async_trait::async_trait]
impl Bus for PostgresBus {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn crosses_instances(&self) -> bool {
        true
    }

    async fn publish(&self, channel: &str, payload: &str) -> Result<(), BusError> {
        let message = format!("{channel}\n{payload}");
        if message.len() > MAX_PAYLOAD {
            return Err(error(format!(
                "a {} byte message exceeds NOTIFY's {MAX_PAYLOAD} bytes",
                message.len()
            )));
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(message)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(error)
    }

    /// Every instance receives every message; the hub keeps those it has subscribers for.
    async fn subscribe(&self, _channel: &str) -> Result<(), BusError> {
        Ok(())
    }

    async fn unsubscribe(&self, _channel: &str) -> Result<(), BusError> {
        Ok(())
    }

    /// The listener is connected (now, or within a second: just booted, or reconnecting)
    /// and the pool answers.
    async fn ping(&self) -> Result<(), BusError> {
        let mut waited = Duration::ZERO;
        while !self.listening.load(Ordering::Relaxed) {
            if waited >= Duration::from_secs(1) {
                return Err(error("the listener is not connected"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(error)
    }
}
