use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orbit::capabilities::{Capabilities, http_client};
use orbit::config::Settings;
use orbit::state::AppState;
use orbit::workspaces::events::DomainEvents;
use orbit::{db, server};
use orbit_email::{Email, MailError, Mailer};
use orbit_jobs::{JobFilter, JobState, Jobs};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use secrecy::ExposeSecret;
use tokio::sync::oneshot;

pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123";
/// What production refuses to boot without.
pub const PRODUCTION_REQUIRED: [&str; 5] = [
    "DATABASE_URL",
    "AUTH_SECRET",
    "API_ORIGIN",
    "WEB_ORIGIN",
    "WWW_ORIGIN",
];
/// The web app's origin in the test settings: trusted, so cookie POSTs from it pass.
pub const WEB_ORIGIN: &str = "http://localhost:4001";

/// A mailer that keeps what it was asked to send.
#[derive(Default)]
pub struct RecordingMailer {
    sent: Mutex<Vec<Email>>,
}

impl RecordingMailer {
    pub fn sent(&self) -> Vec<Email> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Mailer for RecordingMailer {
    fn backend(&self) -> &'static str {
        "recording"
    }

    fn delivers(&self) -> bool {
        true
    }

    async fn send(&self, email: Email) -> Result<(), MailError> {
        self.sent.lock().unwrap().push(email);
        Ok(())
    }
}

/// True when CI asked that every test needing a server really runs.
fn services_required() -> bool {
    std::env::var("ORBIT_REQUIRE_SERVICES").is_ok_and(|value| value == "1")
}

/// Says a test skipped because `service` is not reachable, or fails it when CI requires it.
pub fn skip(service: &str) {
    assert!(
        !services_required(),
        "{service} is not reachable and ORBIT_REQUIRE_SERVICES=1"
    );
    eprintln!("skipped: {service} is not reachable");
}

/// The admin URL of a reachable Postgres server: `TEST_DATABASE_URL`, or the local default.
pub fn postgres_admin_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let parsed = url::Url::parse(&url).ok()?;
    let addr = format!("{}:{}", parsed.host_str()?, parsed.port().unwrap_or(5432));
    let reachable = addr
        .parse::<SocketAddr>()
        .ok()
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok());
    reachable.then_some(url)
}

/// rustls needs its crypto provider chosen before the first TLS-capable client is built.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A database that exists for one test and is removed after it.
pub enum TestDatabase {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// Postgres when `TEST_DATABASE_URL` is set, else a SQLite file in a temp dir.
    pub async fn create() -> (Self, String) {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if admin_url.starts_with("postgres") => {
                Self::create_postgres(&admin_url).await
            }
            _ => Self::create_sqlite(),
        }
    }

    pub fn create_sqlite() -> (Self, String) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("orbit.db").display()
        );
        (TestDatabase::Sqlite { _dir: dir }, url)
    }

    pub async fn create_postgres(admin_url: &str) -> (Self, String) {
        install_crypto();
        let name = format!("test_{}", uuid::Uuid::now_v7().simple());
        let admin = Database::connect(admin_url)
            .await
            .expect("connect to Postgres");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(admin_url).unwrap();
        url.set_path(&name);
        let database = TestDatabase::Postgres {
            admin_url: admin_url.to_owned(),
            name,
        };
        (database, url.to_string())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let TestDatabase::Postgres { admin_url, name } = self else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs outside any runtime we may block, so the cleanup gets its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = admin.execute_unprepared(&drop).await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// The settings a test server runs with: test mode, the given database, plus `overrides`.
pub fn test_settings(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut vars = vec![
        ("APP_ENV", "test"),
        ("DATABASE_URL", database_url),
        ("AUTH_SECRET", TEST_SECRET),
    ];
    vars.extend_from_slice(overrides);
    Settings::from_vars(vars).expect("valid test settings")
}

/// The real server, in this process, on a random port.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub mailer: Arc<RecordingMailer>,
    pub db: DatabaseConnection,
    /// The domain events the server published.
    pub events: DomainEvents,
    /// Every SQL statement run on the server's pool (and `db`), in order.
    pub statements: Arc<Mutex<Vec<String>>>,
    /// The server's job queue.
    pub jobs: Arc<dyn Jobs>,
    /// Where the server's database is, for other processes (`orbit worker`, `orbit jobs`).
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _database: Option<TestDatabase>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// A migrated fresh database, with these variables on top of the test settings.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        let (database, url) = TestDatabase::create().await;
        let mut app = Self::serve(test_settings(&url, overrides), true).await;
        app._database = Some(database);
        app
    }

    /// Like [`Self::spawn_with`], but on Postgres whatever `TEST_DATABASE_URL` says, and with
    /// the database's URL (for other instances); `None`, after [`skip`], without Postgres.
    pub async fn spawn_on_postgres(overrides: &[(&str, &str)]) -> Option<(Self, String)> {
        let Some(admin_url) = postgres_admin_url() else {
            skip("Postgres");
            return None;
        };
        let (database, url) = TestDatabase::create_postgres(&admin_url).await;
        let mut app = Self::serve(test_settings(&url, overrides), true).await;
        app._database = Some(database);
        Some((app, url))
    }

    /// Serves `settings` as they are; migrates first when `migrate` is set.
    pub async fn serve(settings: Settings, migrate: bool) -> Self {
        install_crypto();
        let mailer = Arc::new(RecordingMailer::default());
        let mut db = db::connect(&settings.database).await.unwrap();
        if migrate {
            db::migrate_up(&db).await.unwrap();
        }
        let mut capabilities = Capabilities::connect(&settings, http_client(), &db)
            .await
            .unwrap();
        // With a provider configured (a stub of it), mail goes there; else it is recorded.
        if settings.email.resend_api_key.is_none() {
            capabilities.mailer = mailer.clone();
        }
        let database_url = settings.database.url.expose_secret().to_owned();
        let statements = Arc::new(Mutex::new(Vec::new()));
        let recorded = statements.clone();
        db.set_metric_callback(move |info| {
            recorded.lock().unwrap().push(info.statement.sql.clone());
        });
        let (acceptor, addr) = server::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
        let jobs = capabilities.jobs.clone();
        let state = AppState::new(settings, db.clone(), capabilities);
        let events = state.events.clone();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(server::serve(acceptor, state, async {
            let _ = stop.await;
        }));
        TestApp {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            mailer,
            db,
            events,
            statements,
            jobs,
            database_url,
            shutdown: Some(shutdown),
            server: Some(server),
            _database: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GET `path` as the browser holding `cookie`.
    pub async fn get_as(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    /// Signs `email` in through the magic link, as the web client does.
    pub async fn sign_in(&self, email: &str) -> SignedIn {
        let response = self
            .client
            .post(self.url("/v1/auth/sign-in/magic-link"))
            .json(&serde_json::json!({"email": email, "callbackURL": "/signed-in"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let link = self.last_link_to(email).await;
        let response = self.client.get(self.local(&link)).send().await.unwrap();
        if response.status() != 302 {
            panic!("{}", response.text().await.unwrap());
        }
        SignedIn::from_response(&response)
    }

    /// The id of the user signed in as `who`.
    pub async fn user_id(&self, who: &SignedIn) -> String {
        let session = json_of(self.get_as("/v1/auth/get-session", &who.cookie).await).await;
        session["user"]["id"].as_str().unwrap().to_owned()
    }

    /// Signs `email` up with `password`.
    pub async fn sign_up(&self, email: &str, password: &str) -> SignedIn {
        let body = serde_json::json!({"name": "Test", "email": email, "password": password});
        let response = self.post_as("/v1/auth/sign-up/email", None, body).await;
        assert_eq!(response.status(), 200);
        SignedIn::from_response(&response)
    }

    /// Signs `email` in and makes them an admin through the dev route.
    pub async fn sign_in_admin(&self, email: &str) -> SignedIn {
        let admin = self.sign_in(email).await;
        let response = self
            .post_as(
                "/v1/dev/make-admin",
                Some(&admin.cookie),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(response.status(), 200);
        admin
    }

    /// POSTs JSON `body` to `path` from the web app's origin, with `cookie` when given.
    pub async fn post_as(
        &self,
        path: &str,
        cookie: Option<&str>,
        body: serde_json::Value,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header(reqwest::header::ORIGIN, WEB_ORIGIN)
            .json(&body);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// Sends `method path` with a JSON `body` (if any) from the web app's origin, as the
    /// browser holding `cookie`.
    pub async fn send_as(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        self.send_to(&self.base, method, path, cookie, body).await
    }

    /// [`Self::send_as`] to another instance, serving at `base`.
    pub async fn send_to(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        cookie: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{base}{path}"))
            .header(reqwest::header::ORIGIN, WEB_ORIGIN);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// How many SQL statements `request` made the server run.
    pub async fn count_statements<F: Future<Output = reqwest::Response>>(
        &self,
        request: F,
    ) -> (reqwest::Response, Vec<String>) {
        let before = self.statements.lock().unwrap().len();
        let response = request.await;
        let after = self.statements.lock().unwrap();
        (response, after[before..].to_vec())
    }

    /// Waits (a few seconds at most) for a mail to `email`, for mails sent after the response.
    pub async fn wait_for_mail_to(&self, email: &str) {
        self.wait_for_mail_with(email, "").await;
    }

    /// Waits for a mail to `email` whose text contains `marker` (mails sent after a response).
    pub async fn wait_for_mail_with(&self, email: &str, marker: &str) {
        for _ in 0..100 {
            let sent = self.mailer.sent();
            if sent
                .iter()
                .any(|mail| mail.to == email && mail.text.contains(marker))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        panic!("no mail to {email} with {marker:?}");
    }

    /// A link the server mailed (on `API_ORIGIN`), pointed at this test server instead.
    pub fn local(&self, link: &str) -> String {
        link.replacen("http://localhost:4002", &self.base, 1)
    }

    /// Waits (15 s at most: the whole suite shares two cores, and once took more than five)
    /// until the job queue has nothing due or running: the mails a request enqueued have been
    /// sent. Jobs scheduled for later (not retries) do not count.
    pub async fn jobs_idle(&self) {
        // One query, one snapshot: a job read as running by one query and as a
        // retry by the next could slip between two.
        let busy = async || {
            let everything = JobFilter {
                state: None,
                limit: 10_000,
                after: None,
            };
            let now = chrono::Utc::now();
            let jobs = self.jobs.list(everything).await.unwrap();
            let busy: Vec<_> = jobs
                .iter()
                .filter(|job| match job.state {
                    JobState::Running => true,
                    JobState::Pending => job.run_at <= now || job.attempts > 0,
                    _ => false,
                })
                .collect();
            match busy.is_empty() {
                true => None,
                false => Some(format!("busy: {busy:?}")),
            }
        };
        for _ in 0..750 {
            if busy().await.is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the job queue did not drain: {:?}", busy().await);
    }

    /// Every mail sent so far, once the jobs enqueued so far have run.
    pub async fn sent_mails(&self) -> Vec<Email> {
        self.jobs_idle().await;
        self.mailer.sent()
    }

    /// The link in the last mail sent to `email`.
    pub async fn last_link_to(&self, email: &str) -> String {
        let mail = self
            .sent_mails()
            .await
            .into_iter()
            .rev()
            .find(|mail| mail.to == email)
            .unwrap_or_else(|| panic!("no mail to {email}"));
        mail.text
            .split_whitespace()
            .find(|word| word.starts_with("http"))
            .expect("the mail has a link")
            .to_owned()
    }

    /// Stops the server the way SIGTERM does and waits for it.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A signed-in browser: its `Cookie` header and the raw session token inside it.
pub struct SignedIn {
    pub cookie: String,
    pub token: String,
}

impl SignedIn {
    /// The session a response's `Set-Cookie` opened.
    pub fn from_response(response: &reqwest::Response) -> Self {
        let (name, value) = set_cookies(response)
            .into_iter()
            .find(|(name, _)| name.ends_with("better-auth.session_token"))
            .expect("a session cookie is set");
        let signed = percent_decode(&value);
        let token = signed.rsplit_once('.').unwrap().0.to_owned();
        SignedIn {
            cookie: format!("{name}={value}"),
            token,
        }
    }
}

/// The `name=value` pairs of a response's `Set-Cookie` headers (value as sent, encoded).
pub fn set_cookies(response: &reqwest::Response) -> Vec<(String, String)> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| {
            let pair = value.to_str().ok()?.split(';').next()?;
            let (name, value) = pair.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The whole `Set-Cookie` header that sets `name`.
pub fn set_cookie_header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}"))
        .to_owned()
}

/// A response's JSON body.
/// A refusal's status and code: `error.code`, or `code` in better-auth's shape.
pub async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body = json_of(response).await;
    let code = body["error"]["code"]
        .as_str()
        .or(body["code"].as_str())
        .unwrap_or_default()
        .to_owned();
    (status, code)
}

pub async fn json_of(response: reqwest::Response) -> serde_json::Value {
    response.json().await.unwrap()
}

pub fn percent_decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the `orbit` binary in an empty directory, with only `vars` as its environment.
pub fn orbit_command(cwd: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orbit"));
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Starts `orbit` serving on `port` and waits until `/health` answers.
pub fn start_orbit(cwd: &Path, port: u16, vars: &[(&str, &str)]) -> Child {
    let port = port.to_string();
    let mut all = vec![("PORT", port.as_str())];
    all.extend_from_slice(vars);
    let mut child = orbit_command(cwd, &[], &all).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            panic!(
                "orbit exited early ({status}): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(Instant::now() < deadline, "orbit did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Waits for the process to exit, failing after `limit`.
pub fn wait_for_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("orbit did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM.
pub fn terminate(child: &Child) {
    signal(child, "-TERM");
}

/// Sends `signal` (`-TERM`, `-KILL`) to `child`.
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A workspace opened by `owner`, with the ids of its system roles.
pub struct Workspace {
    pub id: String,
    pub slug: String,
    pub owner: SignedIn,
    pub owner_member_id: String,
    pub owner_role_id: String,
    pub admin_role_id: String,
    pub member_role_id: String,
}

/// Someone who joined a workspace through an invitation.
pub struct Joined {
    pub session: SignedIn,
    pub member_id: String,
}

impl TestApp {
    /// Signs `owner_email` in and opens the workspace `slug`.
    pub async fn open_workspace(&self, owner_email: &str, slug: &str) -> Workspace {
        let owner = self.sign_in(owner_email).await;
        let body = serde_json::json!({"name": format!("Workspace {slug}"), "slug": slug});
        let response = self
            .send_as(
                reqwest::Method::POST,
                "/v1/workspaces",
                Some(&owner.cookie),
                Some(body),
            )
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let opened = json_of(response).await;
        let roles = json_of(
            self.get_as(&format!("/v1/workspaces/{slug}/roles"), &owner.cookie)
                .await,
        )
        .await;
        let role_id = |key: &str| {
            roles
                .as_array()
                .unwrap()
                .iter()
                .find(|role| role["systemKey"] == key)
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        Workspace {
            id: opened["workspace"]["id"].as_str().unwrap().to_owned(),
            slug: slug.to_owned(),
            owner_member_id: opened["you"]["id"].as_str().unwrap().to_owned(),
            owner_role_id: role_id("OWNER"),
            admin_role_id: role_id("ADMIN"),
            member_role_id: role_id("MEMBER"),
            owner,
        }
    }

    /// Invites `email` to `workspace` as the owner; returns the token from the mail.
    pub async fn invite(
        &self,
        workspace: &Workspace,
        email: &str,
        role_id: Option<&str>,
    ) -> String {
        let path = format!("/v1/workspaces/{}/invites", workspace.slug);
        let body = serde_json::json!({"email": email, "roleId": role_id});
        let response = self
            .send_as(
                reqwest::Method::POST,
                &path,
                Some(&workspace.owner.cookie),
                Some(body),
            )
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        invite_token(&self.last_link_to(email).await)
    }

    /// Invites `email` with `role_id`, signs them in and accepts.
    pub async fn join(&self, workspace: &Workspace, email: &str, role_id: Option<&str>) -> Joined {
        let token = self.invite(workspace, email, role_id).await;
        let session = self.sign_in(email).await;
        let body = serde_json::json!({"token": token});
        let response = self
            .send_as(
                reqwest::Method::POST,
                "/v1/invites/accept",
                Some(&session.cookie),
                Some(body),
            )
            .await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let accepted = json_of(response).await;
        Joined {
            session,
            member_id: accepted["member"]["id"].as_str().unwrap().to_owned(),
        }
    }
}

/// The token of an invitation link (`…/invites/accept?token=…`).
pub fn invite_token(link: &str) -> String {
    let (_, token) = link
        .split_once("/invites/accept?token=")
        .unwrap_or_else(|| panic!("not an invitation link: {link}"));
    percent_decode(token)
}

/// How many rows `table` holds.
pub async fn count_rows(db: &DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Waits until `check` holds, failing after `limit`.
pub async fn eventually(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `days` days ago, as SQL of the app's database.
pub fn days_ago(backend: sea_orm::DbBackend, days: u32) -> String {
    match backend {
        sea_orm::DbBackend::Postgres => format!("now() - interval '{days} days'"),
        _ => format!("strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '-{days} days')"),
    }
}

/// Variables built as owned strings, borrowed as `TestApp::spawn_with` takes them.
pub fn borrowed<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}
