//! Two instances on one database and one bus: the test's own server (A) and the `orbit`
//! binary in a second process (B). On each bus (Postgres LISTEN/NOTIFY, Redis, NATS): a
//! change requested from one instance reaches the sockets of the other, presence combines
//! both, and the hub recovers by itself when the bus comes back after an outage.

use std::process::Child;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::bus_servers::{BusServer, Kind};
use crate::helpers::{TEST_SECRET, TestApp, free_port, json_of, start_orbit};
use crate::realtime::{Socket, closes, connect_to, next_of, within};

const SECOND: Duration = Duration::from_secs(1);

/// Instance A (in this process) and instance B (another process), on one bus.
struct Pair {
    a: TestApp,
    b: Child,
    b_base: String,
    bus: Option<BusServer>,
    _dir: tempfile::TempDir,
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = self.b.kill();
        let _ = self.b.wait();
    }
}

/// Both instances on `backend`, its server started for this test; `None` (skipped) when
/// Postgres or the server's binary is missing.
async fn pair(backend: &str) -> Option<Pair> {
    let bus = match backend {
        "redis" => Some(BusServer::start(Kind::Redis)?),
        "nats" => Some(BusServer::start(Kind::Nats)?),
        _ => None,
    };
    let bus_url = bus.as_ref().map(BusServer::url).unwrap_or_default();
    let mut vars = vec![
        ("REALTIME_BACKEND", backend),
        ("PRESENCE_OFFLINE_GRACE_SECS", "1"),
    ];
    match backend {
        "redis" => vars.push(("REDIS_URL", &bus_url)),
        "nats" => vars.push(("NATS_URL", &bus_url)),
        _ => {}
    }
    let (a, database_url) = TestApp::spawn_on_postgres(&vars).await?;
    let mut b_vars = vec![
        ("APP_ENV", "test"),
        ("DATABASE_URL", database_url.as_str()),
        ("AUTH_SECRET", TEST_SECRET),
        ("RUST_LOG", "error"),
        // Mails are read from A's recording mailer: B leaves the jobs to A.
        ("JOBS_IN_PROCESS", "false"),
    ];
    b_vars.extend_from_slice(&vars);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let b = start_orbit(dir.path(), port, &b_vars);
    Some(Pair {
        a,
        b,
        b_base: format!("http://127.0.0.1:{port}"),
        bus,
        _dir: dir,
    })
}

async fn socket(base: &str, slug: &str, cookie: &str) -> Socket {
    let query = format!("?workspace={slug}");
    connect_to(base, &query, Some(cookie)).await.unwrap()
}

/// The next `presence.update` about `member_id`.
async fn presence_of(socket: &mut Socket, member_id: &str) -> String {
    loop {
        let update = next_of(socket, "presence.update").await;
        if update["workspaceMemberId"] == member_id {
            return update["status"].as_str().unwrap().to_owned();
        }
    }
}

/// The member's next status other than `repeated`, which an instance may send again while it
/// learns of the other instance's sockets.
async fn presence_past(socket: &mut Socket, member_id: &str, repeated: &str) -> String {
    loop {
        let status = presence_of(socket, member_id).await;
        if status != repeated {
            return status;
        }
    }
}

async fn create_role(pair: &Pair, base: &str, cookie: &str, name: &str) {
    let response = pair
        .a
        .send_to(
            base,
            Method::POST,
            "/v1/workspaces/acme/roles",
            Some(cookie),
            Some(json!({"name": name, "permissions": []})),
        )
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

async fn events_and_presence_cross_instances(backend: &str) {
    let Some(pair) = pair(backend).await else {
        return;
    };
    let (a, b) = (&pair.a, pair.b_base.as_str());
    let workspace = a.open_workspace("ada@example.com", "acme").await;
    let bob = a.join(&workspace, "bob@example.com", None).await;
    let ada_cookie = workspace.owner.cookie.as_str();
    let ada = workspace.owner_member_id.as_str();

    let mut ada_on_b = socket(b, "acme", ada_cookie).await;
    assert_eq!(presence_of(&mut ada_on_b, ada).await, "online");
    next_of(&mut ada_on_b, "hello").await;
    let mut bob_on_a = socket(&a.base, "acme", &bob.session.cookie).await;
    assert_eq!(presence_of(&mut bob_on_a, &bob.member_id).await, "online");
    assert_eq!(
        presence_of(&mut ada_on_b, &bob.member_id).await,
        "online",
        "B's socket hears of a member connecting on A"
    );

    create_role(&pair, &a.base, ada_cookie, "Made on A").await;
    let created = next_of(&mut ada_on_b, "workspace.role.created").await;
    assert_eq!(created["role"]["name"], "Made on A");
    create_role(&pair, b, ada_cookie, "Made on B").await;
    let created = next_of(&mut bob_on_a, "workspace.role.created").await;
    assert_eq!(created["role"]["name"], "Made on A", "A's own sockets too");
    let created = next_of(&mut bob_on_a, "workspace.role.created").await;
    assert_eq!(created["role"]["name"], "Made on B");

    // Presence combines both instances: away on B is away for A's sockets, and a second
    // socket on A (online) outweighs it.
    ada_on_b
        .send(Message::Text(r#"{"type":"presence.away"}"#.into()))
        .await
        .unwrap();
    assert_eq!(
        presence_past(&mut bob_on_a, ada, "online").await,
        "away",
        "away on B reaches A's sockets (after any repeat of online)"
    );
    let ada_on_a = socket(&a.base, "acme", ada_cookie).await;
    assert_eq!(presence_of(&mut bob_on_a, ada).await, "online");
    drop(ada_on_a);
    // The other instance may repeat "online" while it learns of the close; "away" must follow.
    assert_eq!(
        presence_past(&mut bob_on_a, ada, "online").await,
        "away",
        "once A's socket is gone (1 s grace), B's away is all that is left"
    );

    // Removing Bob on B closes his socket on A; B's sockets see him leave, then go offline.
    let path = format!("/v1/workspaces/acme/members/{}", bob.member_id);
    let response = a
        .send_to(b, Method::DELETE, &path, Some(ada_cookie), None)
        .await;
    assert_eq!(response.status(), 204);
    let left = next_of(&mut bob_on_a, "workspace.member.left").await;
    assert_eq!(left["workspaceMemberId"], bob.member_id.as_str());
    assert!(
        closes(&mut bob_on_a).await,
        "the removed member's socket closes"
    );
    let left = next_of(&mut ada_on_b, "workspace.member.left").await;
    assert_eq!(left["workspaceMemberId"], bob.member_id.as_str());
    assert_eq!(presence_of(&mut ada_on_b, &bob.member_id).await, "offline");
}

#[tokio::test]
async fn postgres_bus_carries_events_and_presence_between_instances() {
    events_and_presence_cross_instances("postgres").await;
}

#[tokio::test]
async fn redis_bus_carries_events_and_presence_between_instances() {
    events_and_presence_cross_instances("redis").await;
}

#[tokio::test]
async fn nats_bus_carries_events_and_presence_between_instances() {
    events_and_presence_cross_instances("nats").await;
}

/// `/ready` of the instance at `base`: its status and whether the realtime check passed.
async fn readiness(pair: &Pair, base: &str) -> (u16, Value) {
    let response = pair
        .a
        .client
        .get(format!("{base}/ready"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), json_of(response).await)
}

async fn wait_for_readiness(pair: &Pair, base: &str, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (now, body) = readiness(pair, base).await;
        if now == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{base}/ready stayed {now}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn the_hub_recovers_when_the_bus_comes_back(backend: &str) {
    let Some(mut pair) = pair(backend).await else {
        return;
    };
    let workspace = pair.a.open_workspace("ada@example.com", "acme").await;
    let ada_cookie = workspace.owner.cookie.clone();
    let mut ada_on_b = socket(&pair.b_base, "acme", &ada_cookie).await;
    next_of(&mut ada_on_b, "hello").await;
    let (a_base, b_base) = (pair.a.base.clone(), pair.b_base.clone());
    let ready = wait_for_readiness(&pair, &a_base, 200).await;
    assert_eq!(ready["checks"]["realtime"]["ok"], true, "{ready}");

    pair.bus.as_mut().unwrap().stop();
    let down = wait_for_readiness(&pair, &a_base, 503).await;
    assert_eq!(down["checks"]["realtime"]["ok"], false, "{down}");
    assert_eq!(down["checks"]["database"]["ok"], true, "{down}");
    // A change while the bus is down still commits; its announcement may be lost.
    create_role(&pair, &a_base, &ada_cookie, "During the outage").await;

    pair.bus.as_mut().unwrap().restart();
    wait_for_readiness(&pair, &a_base, 200).await;
    wait_for_readiness(&pair, &b_base, 200).await;
    // Both hubs reconnected and subscribed again, with no restart: a later change arrives.
    let mut arrived = false;
    for attempt in 0..10 {
        let name = format!("After the outage {attempt}");
        create_role(&pair, &a_base, &ada_cookie, &name).await;
        // Skips the announcements of earlier attempts (or of the outage) arriving late.
        while let Some(created) = within(&mut ada_on_b, "workspace.role.created", SECOND).await {
            arrived = created["role"]["name"] == name.as_str();
            if arrived {
                break;
            }
        }
        if arrived {
            break;
        }
    }
    assert!(
        arrived,
        "no event reached B's socket after the bus came back"
    );
}

#[tokio::test]
async fn redis_outage_the_hubs_reconnect_and_later_events_arrive() {
    the_hub_recovers_when_the_bus_comes_back("redis").await;
}

#[tokio::test]
async fn nats_outage_the_hubs_reconnect_and_later_events_arrive() {
    the_hub_recovers_when_the_bus_comes_back("nats").await;
}
