//! The `orbit` binary as a deploy runs it: config errors, migrations, doctor, logs, SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Output;
use std::time::{Duration, Instant};

use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{
    PRODUCTION_REQUIRED, TEST_SECRET, TestDatabase, free_port, install_crypto, orbit_command,
    postgres_admin_url, skip, start_orbit, terminate, wait_for_exit,
};

fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    orbit_command(dir.path(), args, vars).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn production_without_its_variables_exits_with_one_message_naming_them_all() {
    let output = run(&[], &[("APP_ENV", "production")]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    for name in PRODUCTION_REQUIRED {
        assert!(stderr.contains(name), "{name} not named in: {stderr}");
    }
    assert_eq!(
        stderr.matches("invalid configuration").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn an_invalid_port_is_a_boot_error_naming_it() {
    let output = run(&[], &[("PORT", "abc")]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("PORT must be a port number"));
}

#[test]
fn openapi_prints_the_document_and_nothing_else() {
    let output = run(&["openapi"], &[]);
    assert!(output.status.success());
    let spec: Value = serde_json::from_slice(&output.stdout).expect("stdout is only JSON");
    assert_eq!(spec["openapi"], "3.0.0");
}

#[tokio::test]
async fn migrate_up_status_down_on_sqlite() {
    let (_database, url) = TestDatabase::create_sqlite();
    let vars = [("DATABASE_URL", url.as_str())];
    let users_exist = || async {
        let db = Database::connect(&url).await.unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'users'",
            ))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        db.close().await.unwrap();
        n == 1
    };

    let up = run(&["migrate", "up"], &vars);
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert!(users_exist().await);

    let again = run(&["migrate", "up"], &vars);
    assert!(again.status.success(), "a second up is a no-op");

    let status = run(&["migrate", "status"], &vars);
    assert!(status.status.success());
    let listing = text(&status.stdout) + &text(&status.stderr);
    assert!(
        listing.contains("m20261123_000001_create_users"),
        "{listing}"
    );

    let all = migration::Migrator::migrations().len().to_string();
    let down = run(&["migrate", "down", "--num", &all], &vars);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert!(!users_exist().await);
}

#[tokio::test]
async fn concurrent_migrate_ups_on_one_fresh_postgres_database_all_succeed_once() {
    let Some(admin_url) = postgres_admin_url() else {
        return skip("Postgres");
    };
    let (_database, url) = TestDatabase::create_postgres(&admin_url).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let children: Vec<_> = dirs
        .iter()
        .map(|dir| {
            orbit_command(dir.path(), &["migrate", "up"], &[("DATABASE_URL", &url)])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    let db = Database::connect(&url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS n, count(DISTINCT version) AS distinct_n FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap();
    let (applied, distinct): (i64, i64) = (
        row.try_get("", "n").unwrap(),
        row.try_get("", "distinct_n").unwrap(),
    );
    assert_eq!(applied, distinct, "each migration applied once");
    let migrations = migration::Migrator::migrations().len();
    assert_eq!(applied, i64::try_from(migrations).unwrap());
    db.close().await.unwrap();
}

#[test]
fn doctor_reports_the_fallbacks_and_passes() {
    let (_database, url) = TestDatabase::create_sqlite();
    let migrated = run(&["migrate", "up"], &[("DATABASE_URL", &url)]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let output = run(&["doctor"], &[("DATABASE_URL", &url)]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.contains("database") && stdout.contains("reachable"),
        "{stdout}"
    );
    assert!(
        stdout.contains("email") && stdout.contains("console"),
        "{stdout}"
    );
    assert!(stdout.contains("RESEND_API_KEY"), "{stdout}");
    assert!(
        stdout.contains("realtime") && stdout.contains("in-process"),
        "{stdout}"
    );
}

#[test]
fn doctor_names_the_bus_and_limiter_it_cannot_reach_and_never_their_password() {
    let (_database, url) = TestDatabase::create_sqlite();
    let closed = format!("redis://:hunter2-secret@127.0.0.1:{}", free_port());
    let output = run(
        &["doctor"],
        &[("DATABASE_URL", &url), ("REDIS_URL", &closed)],
    );
    let all = text(&output.stdout) + &text(&output.stderr);
    assert!(!output.status.success(), "{all}");
    for row in ["realtime", "ratelimit"] {
        let line = all
            .lines()
            .find(|line| line.starts_with(row))
            .unwrap_or_default();
        assert!(
            line.contains("redis") && line.contains("UNREACHABLE"),
            "{row}: {all}"
        );
    }
    assert!(!all.contains("hunter2-secret"), "{all}");
}

#[tokio::test]
async fn doctor_fails_when_a_configured_backend_is_unreachable_and_never_prints_its_key() {
    let (_database, url) = TestDatabase::create_sqlite();
    let migrated = run(&["migrate", "up"], &[("DATABASE_URL", &url)]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let closed = format!("http://127.0.0.1:{}", free_port());
    let vars = [
        ("DATABASE_URL", url.as_str()),
        ("RESEND_API_KEY", "re_do_not_print_me"),
        ("RESEND_FROM", "Orbit <no-reply@orbit.test>"),
        ("RESEND_BASE_URL", closed.as_str()),
    ];
    let output = run(&["doctor"], &vars);
    let all = text(&output.stdout) + &text(&output.stderr);
    assert!(!output.status.success(), "{all}");
    assert!(all.contains("UNREACHABLE"), "{all}");
    assert!(!all.contains("re_do_not_print_me"), "{all}");

    let resend = wiremock::MockServer::start().await;
    let reachable = resend.uri();
    let vars = [
        ("DATABASE_URL", url.as_str()),
        ("RESEND_API_KEY", "re_do_not_print_me"),
        ("RESEND_FROM", "Orbit <no-reply@orbit.test>"),
        ("RESEND_BASE_URL", reachable.as_str()),
    ];
    let output = run(&["doctor"], &vars);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("resend"), "{stdout}");
}

/// Sends the head of a POST now and its body later, to keep a request in flight.
fn start_slow_request(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"POST /v1/config HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab")
        .unwrap();
    stream
}

#[tokio::test]
async fn shutdown_never_overruns_its_timeout_on_postgres() {
    let Some(admin_url) = postgres_admin_url() else {
        return skip("Postgres");
    };
    let (_database, url) = TestDatabase::create_postgres(&admin_url).await;
    let migrated = run(&["migrate", "up"], &[("DATABASE_URL", &url)]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let vars = [
        ("DATABASE_URL", url.as_str()),
        ("AUTH_SECRET", TEST_SECRET),
        ("SHUTDOWN_TIMEOUT_SECS", "2"),
    ];
    let mut child = start_orbit(dir.path(), port, &vars);
    // Ready: the realtime bus holds a pooled connection in LISTEN from now on.
    let ready = format!("http://127.0.0.1:{port}/ready");
    let deadline = Instant::now() + Duration::from_secs(10);
    install_crypto();
    while !reqwest::get(&ready)
        .await
        .is_ok_and(|response| response.status() == 200)
    {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A request waiting on a row lock holds a pooled connection until the lock goes.
    let base = format!("http://127.0.0.1:{port}");
    let cookie = dev_sign_in(&base, "ada@example.com").await;
    let client = reqwest::Client::new();
    let opened = client
        .post(format!("{base}/v1/workspaces"))
        .header("cookie", &cookie)
        .header("origin", "http://localhost:4001")
        .json(&json!({"name": "Acme", "slug": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 201);
    let db = Database::connect(&url).await.unwrap();
    let lock = db.begin().await.unwrap();
    lock.execute_unprepared("SELECT id FROM workspaces WHERE slug = 'acme' FOR UPDATE")
        .await
        .unwrap();
    let blocked = tokio::spawn(
        client
            .delete(format!("{base}/v1/workspaces/acme"))
            .header("cookie", &cookie)
            .header("origin", "http://localhost:4001")
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    terminate(&child);
    let status = wait_for_exit(&mut child, Duration::from_secs(10));
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(
        took < Duration::from_millis(3500),
        "took {took:?} for a 2 s timeout"
    );
    blocked.abort();
    lock.rollback().await.unwrap();
}

/// Signs `email` in through the development routes of the server at `base`; the cookie.
async fn dev_sign_in(base: &str, email: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let requested = client
        .post(format!("{base}/v1/auth/sign-in/magic-link"))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(requested.status(), 200);
    let last: Value = client
        .get(format!("{base}/v1/dev/last-magic-link?email={email}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = last["link"]
        .as_str()
        .unwrap()
        .replace("http://localhost:4002", base);
    let landed = client.get(link).send().await.unwrap();
    let cookie = landed.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero_and_every_request_is_one_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}?mode=rwc", dir.path().join("o.db").display());
    let port = free_port();
    let vars = [
        ("DATABASE_URL", db_url.as_str()),
        ("AUTH_SECRET", TEST_SECRET),
        ("LOG_FORMAT", "json"),
    ];
    let mut child = start_orbit(dir.path(), port, &vars);

    install_crypto();
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let config = client
        .get(format!("{base}/v1/config"))
        .header("x-request-id", "trace-me-1")
        .send()
        .unwrap();
    assert_eq!(config.status(), 200);
    assert_eq!(
        client
            .get(format!("{base}/health"))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client.get(format!("{base}/nope")).send().unwrap().status(),
        404
    );
    let templated = client
        .get(format!(
            "{base}/v1/auth/reset-password/some-token?callbackURL=/reset"
        ))
        .send()
        .unwrap();
    assert_eq!(templated.status(), 302);
    let providers: Value = client
        .get(format!("{base}/v1/dev/active-providers"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        providers,
        json!({"nodeEnv": "development", "mailer": "ConsoleMailer", "social": []}),
        "named as the Node API names it"
    );

    let mut in_flight = start_slow_request(port);
    std::thread::sleep(Duration::from_millis(100));
    terminate(&child);
    std::thread::sleep(Duration::from_millis(300));
    in_flight.write_all(b"cdef").unwrap();
    let mut response = String::new();
    let _ = in_flight.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.1 405"),
        "in-flight request got: {response:?}"
    );

    let status = wait_for_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");

    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|line| line["target"] == "orbit::request")
        .collect();
    let traced = requests
        .iter()
        .find(|line| line["request_id"] == "trace-me-1")
        .expect("the /v1/config request is logged with its request id");
    assert_eq!(traced["method"], "GET");
    assert_eq!(traced["route"], "/v1/config");
    assert_eq!(traced["status"], 200);
    assert!(traced["latency_ms"].is_number());
    assert!(requests.iter().any(|line| line["status"] == 404));
    assert!(
        requests
            .iter()
            .any(|line| line["route"] == "/v1/auth/reset-password/{token}"),
        "routes are logged as the document names them"
    );
    assert!(
        requests.iter().all(|line| line["route"] != "/health"),
        "/health is not logged"
    );
    assert!(!stdout.contains(TEST_SECRET));
}

/// The minimal production environment, on the database at `url`.
fn production_vars(url: &str) -> [(&str, &str); 6] {
    [
        ("APP_ENV", "production"),
        ("DATABASE_URL", url),
        ("AUTH_SECRET", TEST_SECRET),
        ("API_ORIGIN", "https://api.orbit.test"),
        ("WEB_ORIGIN", "https://app.orbit.test"),
        ("WWW_ORIGIN", "https://orbit.test"),
    ]
}

#[tokio::test]
async fn production_on_postgres_boots_without_migrating_and_writes_nothing_to_disk() {
    let Some(admin_url) = postgres_admin_url() else {
        return skip("Postgres");
    };
    let (_database, url) = TestDatabase::create_postgres(&admin_url).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start_orbit(dir.path(), port, &production_vars(&url));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Alive, but not ready to take traffic until the release step has migrated: the
    // database answers, the job queue's tables are missing.
    let ready = client.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"]["database"]["ok"], true, "{ready}");
    assert_eq!(ready["checks"]["jobs"]["ok"], false, "{ready}");

    let db = Database::connect(&url).await.unwrap();
    let migrated = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT to_regclass('public.seaql_migrations') IS NOT NULL AS present",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<bool>("", "present")
        .unwrap();
    db.close().await.unwrap();
    assert!(!migrated, "serve must not migrate a Postgres database");

    terminate(&child);
    assert!(wait_for_exit(&mut child, Duration::from_secs(10)).success());
    let written: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(written.is_empty(), "production wrote {written:?}");
}

#[tokio::test]
async fn production_logs_carry_no_password_token_or_mailed_link() {
    let Some(admin_url) = postgres_admin_url() else {
        return skip("Postgres");
    };
    let (_database, url) = TestDatabase::create_postgres(&admin_url).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut vars = production_vars(&url).to_vec();
    vars.push(("RUST_LOG", "info,orbit=debug,orbit_email=debug"));
    let migrated = orbit_command(dir.path(), &["migrate", "up"], &vars)
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let mut child = start_orbit(dir.path(), port, &vars);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value, cookie: Option<&str>| {
        let mut request = client
            .post(format!("{base}{path}"))
            .header("origin", "https://app.orbit.test")
            .json(&body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    let password = "a-password-nobody-may-log";
    let sign_up = json!({"name": "Quinn", "email": "quinn@example.com", "password": password});
    let signed_up: Value = post("/v1/auth/sign-up/email", sign_up, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credentials = json!({"email": "quinn@example.com", "password": password});
    let response = post("/v1/auth/sign-in/email", credentials, None)
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let signed_in: Value = response.json().await.unwrap();
    for (path, body) in [
        (
            "/v1/auth/request-password-reset",
            json!({"email": "quinn@example.com"}),
        ),
        (
            "/v1/auth/sign-in/magic-link",
            json!({"email": "quinn@example.com"}),
        ),
        ("/v1/auth/verify-password", json!({"password": password})),
    ] {
        let response = post(path, body, Some(&cookie)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let workspace = json!({"name": "Quinn Co", "slug": "quinn-co", "invites": ["rae@example.com"]});
    let opened = post("/v1/workspaces", workspace, Some(&cookie))
        .await
        .unwrap();
    assert_eq!(opened.status(), 201);
    let viewed = client
        .get(format!("{base}/v1/workspaces/quinn-co"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(viewed.status(), 200);
    // The reset and invitation mails go out after their responses.
    tokio::time::sleep(Duration::from_millis(300)).await;

    terminate(&child);
    assert!(wait_for_exit(&mut child, Duration::from_secs(10)).success());
    let mut logs = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(logs.contains("q***@example.com"), "the mails were logged");
    assert!(
        logs.contains("r***@example.com"),
        "the invitation was mailed"
    );
    let workspace_line = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["route"] == "/v1/workspaces/{slug}")
        .expect("the workspace request was logged");
    assert_eq!(workspace_line["workspace"], "quinn-co");
    assert_eq!(workspace_line["user_id"], signed_in["user"]["id"]);
    for secret in [
        password,
        signed_up["token"].as_str().unwrap(),
        signed_in["token"].as_str().unwrap(),
        TEST_SECRET,
        "token=",
        "/reset-password/",
        "quinn@example.com",
        "rae@example.com",
    ] {
        assert!(!logs.contains(secret), "the logs contain {secret}");
    }
}
