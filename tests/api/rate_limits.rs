//! Rate limits counted in Redis when `REDIS_URL` is set: every instance spends one budget,
//! keys name no one, and when Redis stops answering each instance counts in memory instead.

use crate::bus_servers::{BusServer, Kind};
use crate::helpers::{TestApp, json_of};
use crate::realtime::{connect_to, refused_with};

/// Tries a WebSocket upgrade on `app` without a session: 401 while the per-IP upgrade
/// budget lasts (it is spent before anything else), 429 after.
async fn upgrade_status(app: &TestApp) -> u16 {
    refused_with(connect_to(&app.base, "?workspace=acme", None).await)
}

#[tokio::test]
async fn instances_sharing_redis_spend_one_budget() {
    let Some(mut redis) = BusServer::start(Kind::Redis) else {
        return;
    };
    let url = redis.url();
    let vars = [
        ("REDIS_URL", url.as_str()),
        ("REALTIME_BACKEND", "in-process"),
        ("WS_UPGRADES_PER_MINUTE", "3"),
    ];
    let a = TestApp::spawn_with(&vars).await;
    let b = TestApp::spawn_with(&vars).await;
    let config = json_of(a.get("/v1/config").await).await;
    assert_eq!(config["capabilities"]["ratelimit"]["backend"], "redis");
    assert_eq!(config["capabilities"]["ratelimit"]["enabled"], true);
    assert!(!config.to_string().contains(&url), "{config}");

    assert_eq!(upgrade_status(&a).await, 401);
    assert_eq!(upgrade_status(&b).await, 401);
    assert_eq!(upgrade_status(&a).await, 401);
    assert_eq!(upgrade_status(&b).await, 429, "A's hits count on B");
    assert_eq!(upgrade_status(&a).await, 429);

    let mut redis_client = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis_client)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("orbit:rl:"), "{keys:?}");
    assert!(!keys[0].contains("127.0.0.1"), "keys are hashed: {keys:?}");

    // Redis gone: each instance goes on limiting, in its own memory.
    redis.stop();
    for _ in 0..3 {
        assert_eq!(upgrade_status(&a).await, 401);
    }
    assert_eq!(upgrade_status(&a).await, 429);
}
