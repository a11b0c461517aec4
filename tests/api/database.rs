//! Readiness follows the database: down at boot, down later, back again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{TestApp, TestDatabase, free_port, postgres_admin_url, skip, test_settings};

/// A TCP forwarder to Postgres that the test can cut and restore, as an outage would.
struct Outage {
    port: u16,
    upstream: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Outage {
    fn new(upstream: String) -> Self {
        Self {
            port: free_port(),
            upstream,
            tasks: Arc::default(),
        }
    }

    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(forward);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

async fn readiness(app: &TestApp) -> (u16, Value) {
    let response = app.get("/ready").await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn wait_for_ready_status(app: &TestApp, expected: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = readiness(app).await;
        if status == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/ready stayed {status} ({body}), expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn boots_with_the_database_down_then_recovers_by_itself() {
    let Some(admin_url) = postgres_admin_url() else {
        return skip("Postgres");
    };
    let (_database, direct_url) = TestDatabase::create_postgres(&admin_url).await;
    let migrator = sea_orm::Database::connect(&direct_url).await.unwrap();
    orbit::db::migrate_up(&migrator).await.unwrap();
    migrator.close().await.unwrap();
    let direct = url::Url::parse(&direct_url).unwrap();
    let upstream = format!(
        "{}:{}",
        direct.host_str().unwrap(),
        direct.port().unwrap_or(5432)
    );
    let outage = Outage::new(upstream);
    let mut via_outage = direct.clone();
    via_outage.set_port(Some(outage.port)).unwrap();

    let settings = test_settings(via_outage.as_str(), &[]);
    let app = TestApp::serve(settings, false).await;

    assert_eq!(
        app.get("/health").await.status(),
        200,
        "alive without a database"
    );
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503);
    assert_eq!(body["ok"], false);
    assert_eq!(body["checks"]["database"]["ok"], false);
    assert!(body["checks"]["database"]["error"].is_string());

    outage.restore().await;
    wait_for_ready_status(&app, 200).await;

    outage.cut();
    wait_for_ready_status(&app, 503).await;
    assert_eq!(app.get("/health").await.status(), 200);

    outage.restore().await;
    wait_for_ready_status(&app, 200).await;
    outage.cut();
    app.stop().await;
}
