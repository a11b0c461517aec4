//! Request rate limits, behind a trait: counted in memory (per instance), or in Redis when
//! `REDIS_URL` is set, so that every instance spends the same budget.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{ApiError, ApiResult};

mod redis;

pub use redis::RedisRateLimiter;

/// A fixed budget of hits per key per window.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub hits: u32,
    pub window: Duration,
}

#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// `memory` or `redis`.
    fn backend(&self) -> &'static str;

    /// Counts a hit on `key`; `Err(retry_after)` when the budget is spent.
    async fn hit(&self, key: &str, limit: Limit) -> Result<(), Duration>;
}

/// Counts a hit on `key`; 429 with `Retry-After` once `limit` is spent.
pub async fn spend(limiter: &dyn RateLimiter, key: &str, limit: Limit) -> ApiResult<()> {
    limiter.hit(key, limit).await.map_err(|retry_after| {
        // The budget is the key's first part (`invite`, `auth-mail`…), never the caller.
        let budget = key.split(':').next().unwrap_or_default().to_owned();
        metrics::counter!("rate_limit_refusals_total", "budget" => budget).increment(1);
        ApiError::too_many_requests(retry_after.as_secs())
    })
}

/// Counts in this process only: limits are per instance.
#[derive(Default)]
pub struct InMemoryRateLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

struct Window {
    started: Instant,
    length: Duration,
    hits: u32,
}

/// Past this many keys, expired windows are swept on the next hit.
const SWEEP_ABOVE: usize = 10_000;

#[async_trait::async_trait]
impl RateLimiter for InMemoryRateLimiter {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn hit(&self, key: &str, limit: Limit) -> Result<(), Duration> {
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("never poisoned");
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, window| now.duration_since(window.started) < window.length);
        }
        let window = windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            length: limit.window,
            hits: 0,
        });
        if now.duration_since(window.started) >= window.length {
            *window = Window {
                started: now,
                length: limit.window,
                hits: 0,
            };
        }
        if window.hits >= limit.hits {
            return Err(window.length - now.duration_since(window.started));
        }
        window.hits += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_past_the_budget_until_the_window_ends() {
        let limiter = InMemoryRateLimiter::default();
        let limit = Limit {
            hits: 2,
            window: Duration::from_millis(200),
        };
        assert!(limiter.hit("a", limit).await.is_ok());
        assert!(limiter.hit("a", limit).await.is_ok());
        let retry_after = limiter.hit("a", limit).await.unwrap_err();
        assert!(retry_after <= Duration::from_millis(200));
        assert!(
            limiter.hit("b", limit).await.is_ok(),
            "keys are independent"
        );
        tokio::time::sleep(Duration::from_millis(210)).await;
        assert!(limiter.hit("a", limit).await.is_ok());
    }
}
