use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{InMemoryRateLimiter, Limit, RateLimiter};
use crate::auth::tokens::hash_token;

/// A hit waits this long for Redis before it is counted in memory instead.
const TIMEOUT: Duration = Duration::from_secs(1);
/// After Redis failed to answer, hits are counted in memory this long before Redis is tried
/// again (so an unreachable Redis does not slow every request by the timeout).
const PAUSE_SECS: u64 = 5;

/// Fixed windows counted in Redis (`INCR`, the window's expiry set by the first hit), so
/// every instance spends the same budget. Keys are hashed: addresses and IPs stay out of
/// Redis. When Redis does not answer, hits are counted in this instance's memory meanwhile
/// (limits stay, per instance) rather than letting everything through or refusing everyone.
pub struct RedisRateLimiter {
    connection: ConnectionManager,
    fallback: InMemoryRateLimiter,
    /// Until when (Unix seconds) to count in memory without asking Redis.
    paused_until: AtomicU64,
}

impl RedisRateLimiter {
    /// Connects on first use: until Redis answers, hits are counted in memory.
    pub fn new(url: &str) -> redis::RedisResult<Self> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let connection =
            ConnectionManager::new_lazy_with_config(redis::Client::open(url)?, config)?;
        Ok(Self {
            connection,
            fallback: InMemoryRateLimiter::default(),
            paused_until: AtomicU64::new(0),
        })
    }

    pub async fn ping(&self) -> redis::RedisResult<()> {
        redis::cmd("PING")
            .query_async(&mut self.connection.clone())
            .await
    }

    fn paused(&self) -> bool {
        unix_now() < self.paused_until.load(Ordering::Relaxed)
    }

    fn pause(&self, err: &redis::RedisError) {
        let until = unix_now() + PAUSE_SECS;
        let before = self.paused_until.swap(until, Ordering::Relaxed);
        if unix_now() >= before {
            tracing::warn!(error = %err, "rate limits: Redis unreachable, counting in memory");
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn redis_key(key: &str) -> String {
    format!("orbit:rl:{}", hash_token(key))
}

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimiter {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn hit(&self, key: &str, limit: Limit) -> Result<(), Duration> {
        if self.paused() {
            return self.fallback.hit(key, limit).await;
        }
        let redis_key = redis_key(key);
        let window_ms = u64::try_from(limit.window.as_millis()).unwrap_or(u64::MAX);
        let counted = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&redis_key)
            .arg(0)
            .arg("PX")
            .arg(window_ms)
            .arg("NX")
            .ignore()
            .cmd("INCR")
            .arg(&redis_key)
            .cmd("PTTL")
            .arg(&redis_key)
            .query_async::<(u64, i64)>(&mut self.connection.clone())
            .await;
        match counted {
            Ok((hits, _)) if hits <= u64::from(limit.hits) => Ok(()),
            Ok((_, ttl_ms)) => Err(Duration::from_millis(ttl_ms.max(0) as u64)),
            Err(err) => {
                self.pause(&err);
                self.fallback.hit(key, limit).await
            }
        }
    }
}
