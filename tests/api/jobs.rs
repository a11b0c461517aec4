//! Background jobs through the app: mails that survive a provider outage, the admin routes and
//! CLI over failed jobs, the inline fallback, and — with real `orbit worker` processes on one
//! Postgres — a worker killed mid-job, a schedule shared by three workers, and a drain on
//! SIGTERM.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TEST_SECRET, TestApp, borrowed, eventually, json_of, orbit_command, signal, terminate,
    wait_for_exit,
};

const FROM: &str = "Orbit <no-reply@orbit.test>";

/// A stub of Resend's API: `POST /emails` answers `status` (after `delay`), `times` times
/// (every time when `None`).
async fn resend_answers(server: &MockServer, status: u16, delay: Duration, times: Option<u64>) {
    let body = match status {
        200 => json!({"id": "em_stub"}),
        422 => {
            json!({"statusCode": 422, "name": "validation_error", "message": "Invalid `to` field"})
        }
        _ => json!({"statusCode": status, "name": "internal_server_error", "message": "down"}),
    };
    let mock = Mock::given(method("POST"))
        .and(path("/emails"))
        .respond_with(
            ResponseTemplate::new(status)
                .set_body_json(body)
                .set_delay(delay),
        );
    match times {
        Some(times) => mock.up_to_n_times(times).mount(server).await,
        None => mock.mount(server).await,
    }
}

async fn mails_received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

fn resend_vars(stub: &str) -> Vec<(&'static str, String)> {
    vec![
        ("RESEND_API_KEY", "re_test_key".to_owned()),
        ("RESEND_FROM", FROM.to_owned()),
        ("RESEND_BASE_URL", stub.to_owned()),
    ]
}

async fn request_link(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_as("/v1/auth/sign-in/magic-link", None, json!({"email": email}))
        .await
}

async fn jobs_named(app: &TestApp, name: &str) -> Vec<Value> {
    let sql =
        format!("SELECT id, state, attempts, run_at FROM jobs WHERE name = '{name}' ORDER BY id");
    let rows = app
        .db
        .query_all_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            json!({
                "id": row.try_get::<String>("", "id").unwrap(),
                "state": row.try_get::<String>("", "state").unwrap(),
                "attempts": row.try_get::<i32>("", "attempts").unwrap(),
                "runAt": row.try_get::<i64>("", "run_at").unwrap(),
            })
        })
        .collect()
}

#[tokio::test]
async fn a_mail_outlives_a_provider_outage_and_the_request_never_waits_for_it() {
    let stub = MockServer::start().await;
    resend_answers(&stub, 500, Duration::ZERO, Some(2)).await;
    resend_answers(&stub, 200, Duration::ZERO, None).await;
    let mut vars = resend_vars(&stub.uri());
    vars.push(("JOBS_RETRY_BASE_MS", "50".to_owned()));
    let app = TestApp::spawn_with(&borrowed(&vars)).await;

    let response = request_link(&app, "ada@example.com").await;
    assert_eq!(
        response.status(),
        200,
        "the outage is not the request's problem"
    );
    assert_eq!(json_of(response).await, json!({"status": true}));

    app.jobs_idle().await;
    let requests = stub.received_requests().await.unwrap();
    assert_eq!(
        requests.len(),
        3,
        "two failures, then the one that went through"
    );
    let sent: Vec<Value> = requests.iter().map(|r| r.body_json().unwrap()).collect();
    assert!(
        sent.iter()
            .all(|mail| mail["to"] == json!(["ada@example.com"]))
    );
    assert!(
        sent[2]["text"]
            .as_str()
            .unwrap()
            .contains("/v1/auth/magic-link/verify?token=")
    );
    let jobs = jobs_named(&app, "email.send").await;
    assert_eq!(jobs.len(), 1, "one mail, one job");
    assert_eq!(
        (jobs[0]["state"].as_str(), jobs[0]["attempts"].as_i64()),
        (Some("succeeded"), Some(3))
    );
}

#[tokio::test]
async fn admins_see_failed_jobs_and_retry_them_over_http_and_from_the_cli() {
    let stub = MockServer::start().await;
    resend_answers(&stub, 422, Duration::ZERO, Some(2)).await;
    resend_answers(&stub, 200, Duration::ZERO, None).await;
    let app = TestApp::spawn_with(&borrowed(&resend_vars(&stub.uri()))).await;
    // Signing up mails a verification link: Resend refuses both (422), and a refusal is not
    // retried.
    let admin = app
        .sign_up("root@example.com", "a long enough password")
        .await;
    let made_admin = app
        .post_as("/v1/dev/make-admin", Some(&admin.cookie), json!({}))
        .await;
    assert_eq!(made_admin.status(), 200);
    let member = app
        .sign_up("mia@example.com", "a long enough password")
        .await;
    app.jobs_idle().await;
    let failed_list = app
        .get_as("/v1/admin/jobs?state=failed", &admin.cookie)
        .await;
    assert_eq!(failed_list.status(), 200);
    let failed = json_of(failed_list).await;
    assert_eq!(failed["backend"], app.jobs.backend());
    let items = failed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{failed}");
    for job in items {
        assert_eq!(job["name"], "email.send");
        assert_eq!(job["state"], "failed");
        assert_eq!(job["attempts"], 1);
        assert!(
            job["lastError"]
                .as_str()
                .unwrap()
                .contains("Invalid `to` field"),
            "{job}"
        );
        assert!(
            job.get("payload").is_none(),
            "payloads carry links and are never shown"
        );
    }

    // Pages of one.
    let first = json_of(
        app.get_as("/v1/admin/jobs?state=failed&limit=1", &admin.cookie)
            .await,
    )
    .await;
    assert_eq!(first["items"][0]["id"], items[0]["id"], "newest first");
    let cursor = first["nextCursor"].as_str().unwrap();
    let path = format!("/v1/admin/jobs?state=failed&limit=1&cursor={cursor}");
    let second = json_of(app.get_as(&path, &admin.cookie).await).await;
    assert_eq!(second["items"][0]["id"], items[1]["id"]);
    assert_eq!(second["nextCursor"], Value::Null);

    // Not for members; bad input is a 400.
    let refused = app.get_as("/v1/admin/jobs", &member.cookie).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(json_of(refused).await["error"]["code"], "admin.required");
    for bad in ["?cursor=***", "?limit=0", "?limit=201", "?state=lost"] {
        let response = app
            .get_as(&format!("/v1/admin/jobs{bad}"), &admin.cookie)
            .await;
        assert_eq!(response.status(), 400, "{bad}");
    }

    // Over HTTP…
    let id = items[0]["id"].as_str().unwrap();
    let retry = |id: String| {
        let (app, cookie) = (&app, admin.cookie.clone());
        async move {
            let path = format!("/v1/admin/jobs/{id}/retry");
            app.send_as(Method::POST, &path, Some(&cookie), None).await
        }
    };
    let retried = retry(id.to_owned()).await;
    assert_eq!(retried.status(), 200);
    let retried = json_of(retried).await;
    assert_eq!(
        (
            retried["job"]["state"].as_str(),
            retried["job"]["attempts"].as_i64()
        ),
        (Some("pending"), Some(0))
    );
    app.jobs_idle().await;
    let again = retry(id.to_owned()).await;
    assert_eq!(again.status(), 409);
    assert_eq!(json_of(again).await["error"]["code"], "job.not_retryable");
    // A foreign Origin with the admin's cookie, and a NUL in the id, change nothing.
    let path = format!("/v1/admin/jobs/{}/retry", items[1]["id"].as_str().unwrap());
    let foreign = app
        .client
        .post(app.url(&path))
        .header(reqwest::header::COOKIE, &admin.cookie)
        .header(reqwest::header::ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let nul = retry("job%00x".to_owned()).await;
    assert_eq!(nul.status(), 400);
    let unknown = retry("job_unknown".to_owned()).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(json_of(unknown).await["error"]["code"], "job.not_found");

    // …and from a shell.
    let other = items[1]["id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vars = [("DATABASE_URL", app.database_url.as_str())];
    let listed = orbit_command(dir.path(), &["jobs", "list", "--failed"], &vars)
        .output()
        .unwrap();
    let listed_text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success() && listed_text.contains(other),
        "{listed_text}"
    );
    assert!(
        !listed_text.contains(id),
        "the retried job is no longer failed: {listed_text}"
    );
    let cli_retry = orbit_command(dir.path(), &["jobs", "retry", other], &vars)
        .output()
        .unwrap();
    assert!(
        cli_retry.status.success(),
        "{}",
        String::from_utf8_lossy(&cli_retry.stderr)
    );
    let missing = orbit_command(dir.path(), &["jobs", "cancel", "job_unknown"], &vars)
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no job job_unknown"));

    eventually(
        "both retried mails went out",
        Duration::from_secs(10),
        async || mails_received(&stub).await == 4,
    )
    .await;
    app.jobs_idle().await;
    let states: Vec<_> = jobs_named(&app, "email.send")
        .await
        .iter()
        .map(|job| job["state"].clone())
        .collect();
    assert_eq!(states, [json!("succeeded"), json!("succeeded")]);
}

#[tokio::test]
async fn inline_jobs_run_in_the_process_and_keep_nothing() {
    let app = TestApp::spawn_with(&[("JOBS_BACKEND", "inline")]).await;
    let response = request_link(&app, "ida@example.com").await;
    assert_eq!(response.status(), 200);
    app.wait_for_mail_to("ida@example.com").await;
    let config = json_of(app.get("/v1/config").await).await;
    assert_eq!(
        config["capabilities"]["jobs"],
        json!({"enabled": false, "backend": "inline"})
    );
    let ready = json_of(app.get("/ready").await).await;
    assert!(ready["checks"].get("jobs").is_none(), "{ready}");
    let admin = app.sign_in_admin("root@example.com").await;
    let listed = json_of(app.get_as("/v1/admin/jobs", &admin.cookie).await).await;
    assert_eq!(
        listed,
        json!({"items": [], "nextCursor": null, "backend": "inline"})
    );
    assert!(jobs_named(&app, "email.send").await.is_empty());
}

/// `orbit worker` on `vars`, logging to a file; waits until it says it is ready.
fn start_worker(dir: &Path, vars: &[(&str, &str)]) -> (Child, std::path::PathBuf) {
    let log = dir.join(format!("worker-{}.log", uuid::Uuid::now_v7().simple()));
    let mut child = orbit_command(dir, &["worker"], vars)
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("worker ready")
    {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "orbit worker exited early ({status}): {}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        assert!(Instant::now() < deadline, "orbit worker did not get ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, log)
}

/// An API in this process that only enqueues, on a fresh Postgres database, and the
/// environment of workers on that database; `None` (skipped) without Postgres.
async fn api_and_workers(
    extra: &[(&'static str, String)],
) -> Option<(TestApp, Vec<(&'static str, String)>)> {
    let (app, url) = TestApp::spawn_on_postgres(&[("JOBS_IN_PROCESS", "false")]).await?;
    let mut vars = vec![
        ("APP_ENV", "test".to_owned()),
        ("DATABASE_URL", url),
        ("AUTH_SECRET", TEST_SECRET.to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    vars.extend_from_slice(extra);
    Some((app, vars))
}

#[tokio::test]
async fn a_job_whose_worker_is_killed_runs_again_on_another() {
    let stub = MockServer::start().await;
    resend_answers(&stub, 200, Duration::from_secs(2), None).await;
    let mut extra = resend_vars(&stub.uri());
    extra.push(("JOBS_LEASE_SECS", "2".to_owned()));
    let Some((app, vars)) = api_and_workers(&extra).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut doomed, _) = start_worker(dir.path(), &borrowed(&vars));
    assert_eq!(request_link(&app, "kim@example.com").await.status(), 200);
    eventually(
        "the first worker is mid-send",
        Duration::from_secs(10),
        async || mails_received(&stub).await == 1,
    )
    .await;
    signal(&doomed, "-KILL");
    doomed.wait().unwrap();
    assert_eq!(jobs_named(&app, "email.send").await[0]["state"], "running");

    let (mut survivor, _) = start_worker(dir.path(), &borrowed(&vars));
    eventually(
        "the job succeeded elsewhere",
        Duration::from_secs(20),
        async || jobs_named(&app, "email.send").await[0]["state"] == "succeeded",
    )
    .await;
    let job = &jobs_named(&app, "email.send").await[0];
    assert_eq!(job["attempts"], 2, "the killed run counted as an attempt");
    assert_eq!(mails_received(&stub).await, 2);
    terminate(&survivor);
    assert!(wait_for_exit(&mut survivor, Duration::from_secs(15)).success());
}

#[tokio::test]
async fn three_workers_run_each_tick_of_a_schedule_once() {
    let extra = [("JOBS_SCHEDULES", "auth.prune=@every 1s".to_owned())];
    let Some((app, vars)) = api_and_workers(&extra).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut workers: Vec<Child> = (0..3)
        .map(|_| start_worker(dir.path(), &borrowed(&vars)).0)
        .collect();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    for worker in &workers {
        terminate(worker);
    }
    for worker in &mut workers {
        assert!(wait_for_exit(worker, Duration::from_secs(15)).success());
    }
    let ticks = jobs_named(&app, "auth.prune").await;
    let mut run_at: Vec<i64> = ticks
        .iter()
        .map(|tick| tick["runAt"].as_i64().unwrap())
        .collect();
    // A loaded machine may skip a tick (missed ticks are not made up), never repeat one.
    assert!(
        (2..=6).contains(&run_at.len()),
        "{} runs in 4.5 s: {ticks:?}",
        run_at.len()
    );
    run_at.dedup();
    assert_eq!(run_at.len(), ticks.len(), "a tick ran twice: {ticks:?}");
    // The last tick may have been handed back unstarted by the stop.
    let done = ticks.iter().filter(|tick| tick["state"] == "succeeded");
    assert!(done.count() >= ticks.len() - 1, "{ticks:?}");
    assert!(
        ticks
            .iter()
            .all(|tick| tick["state"] == "succeeded" || tick["state"] == "pending"),
        "{ticks:?}"
    );
}

#[tokio::test]
async fn a_worker_finishes_its_running_job_on_sigterm_then_exits() {
    let stub = MockServer::start().await;
    resend_answers(&stub, 200, Duration::from_millis(1500), None).await;
    let Some((app, vars)) = api_and_workers(&resend_vars(&stub.uri())).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, log) = start_worker(dir.path(), &borrowed(&vars));
    assert_eq!(request_link(&app, "lea@example.com").await.status(), 200);
    eventually(
        "the mail is being sent",
        Duration::from_secs(10),
        async || mails_received(&stub).await == 1,
    )
    .await;
    terminate(&worker);
    assert!(wait_for_exit(&mut worker, Duration::from_secs(15)).success());
    assert_eq!(
        jobs_named(&app, "email.send").await[0]["state"],
        "succeeded",
        "drained, not cut"
    );
    let log = std::fs::read_to_string(log).unwrap();
    let runs: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "job run")
        .collect();
    assert_eq!(runs.len(), 1, "{log}");
    let run = &runs[0];
    assert_eq!(
        (
            run["job"].as_str(),
            run["outcome"].as_str(),
            run["attempt"].as_i64()
        ),
        (Some("email.send"), Some("succeeded"), Some(1))
    );
    assert!(run["ms"].as_f64().unwrap() >= 1000.0);
    assert!(
        !log.contains("lea@example.com") && !log.contains("token="),
        "no address or link in the log"
    );
    assert_eq!(mails_received(&stub).await, 1, "sent once");
}
