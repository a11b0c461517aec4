//! Uploads against a real S3 server in the test process: presigned PUTs the server checks
//! (type, length, signature, expiry), completion that verifies what arrived, listing,
//! downloads, deletion, quotas, tenant isolation, avatars, and the cleanups by job.

use std::time::Duration;

use orbit_uploads::ObjectStorage;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Workspace, borrowed, days_ago, error_code, eventually, json_of};
use crate::object_store::{S3Server, key_of};

const PDF: &[u8] = b"%PDF-1.7 a small but real enough document";

pub async fn spawn_with_s3(extra: &[(&str, &str)]) -> (TestApp, S3Server) {
    let s3 = S3Server::start().await;
    let vars = s3.vars("app/");
    let mut overrides = borrowed(&vars);
    overrides.extend_from_slice(extra);
    (TestApp::spawn_with(&overrides).await, s3)
}

/// Starts an upload of `body` in `workspace` as `cookie`; returns the ticket.
async fn start(
    app: &TestApp,
    slug: &str,
    cookie: &str,
    name: &str,
    kind: &str,
    size: usize,
) -> Value {
    let body = json!({"filename": name, "contentType": kind, "size": size});
    let path = format!("/v1/workspaces/{slug}/uploads");
    let response = app
        .send_as(Method::POST, &path, Some(cookie), Some(body))
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    json_of(response).await
}

/// PUTs `body` to a ticket's URL with its headers (plus `content_type` instead, when given).
async fn put(app: &TestApp, ticket: &Value, body: &[u8], content_type: Option<&str>) -> u16 {
    assert_eq!(ticket["method"], "PUT");
    let mut request = app.client.put(ticket["uploadUrl"].as_str().unwrap());
    for (name, value) in ticket["headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    if let Some(kind) = content_type {
        request = request.header("content-type", kind);
    }
    request
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn complete(app: &TestApp, slug: &str, cookie: &str, id: &str) -> reqwest::Response {
    let path = format!("/v1/workspaces/{slug}/uploads/{id}/complete");
    app.send_as(Method::POST, &path, Some(cookie), None).await
}

/// A ready upload of [`PDF`] named `name`; returns (upload id, bucket key).
pub async fn upload_pdf(
    app: &TestApp,
    workspace: &Workspace,
    cookie: &str,
    name: &str,
) -> (String, String) {
    let ticket = start(
        app,
        &workspace.slug,
        cookie,
        name,
        "application/pdf",
        PDF.len(),
    )
    .await;
    assert_eq!(put(app, &ticket, PDF, None).await, 200);
    let id = ticket["upload"]["id"].as_str().unwrap().to_owned();
    let response = complete(app, &workspace.slug, cookie, &id).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    (id, key_of(ticket["uploadUrl"].as_str().unwrap()))
}

#[tokio::test]
async fn a_file_goes_straight_to_the_bucket_and_back() {
    let (app, s3) = spawn_with_s3(&[]).await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = workspace.owner.cookie.clone();
    let mut events = app.events.subscribe();

    let ticket = start(
        &app,
        "acme",
        &cookie,
        "Q3 report (final).pdf",
        "application/pdf",
        PDF.len(),
    )
    .await;
    assert_eq!(ticket["upload"]["status"], "pending");
    assert_eq!(ticket["headers"]["content-type"], "application/pdf");
    let key = key_of(ticket["uploadUrl"].as_str().unwrap());
    let id = ticket["upload"]["id"].as_str().unwrap();
    assert_eq!(
        key,
        format!("app/ws/{}/{id}/Q3_report__final_.pdf", workspace.id)
    );
    // Nothing listed, nothing downloadable, until completed.
    let listed = json_of(app.get_as("/v1/workspaces/acme/uploads", &cookie).await).await;
    assert_eq!(listed["items"], json!([]));
    let (status, code) = error_code(complete(&app, "acme", &cookie, id).await).await;
    assert_eq!((status, code.as_str()), (409, "upload.not_uploaded"));

    assert_eq!(put(&app, &ticket, PDF, None).await, 200);
    let done = json_of(complete(&app, "acme", &cookie, id).await).await;
    assert_eq!(done["status"], "ready");
    assert_eq!(done["size"], PDF.len());
    assert_eq!(done["filename"], "Q3 report (final).pdf");
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.kind(), "upload.completed");
    // Completing again answers the same upload.
    let again = json_of(complete(&app, "acme", &cookie, id).await).await;
    assert_eq!(again["completedAt"], done["completedAt"]);

    let listed = json_of(app.get_as("/v1/workspaces/acme/uploads", &cookie).await).await;
    assert_eq!(listed["items"][0]["id"], *id);
    assert_eq!(listed["nextCursor"], Value::Null);
    let one = json_of(
        app.get_as(&format!("/v1/workspaces/acme/uploads/{id}"), &cookie)
            .await,
    )
    .await;
    let download = app
        .client
        .get(one["downloadUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    let disposition = download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        disposition,
        "attachment; filename=\"Q3_report__final_.pdf\""
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), PDF);

    let path = format!("/v1/workspaces/acme/uploads/{id}");
    let deleted = app
        .send_as(Method::DELETE, &path, Some(&cookie), None)
        .await;
    assert_eq!(deleted.status(), 204);
    assert!(!s3.holds(&key).await, "the object is deleted with the file");
    let (status, code) = error_code(app.get_as(&path, &cookie).await).await;
    assert_eq!((status, code.as_str()), (404, "upload.not_found"));
    let audit = "/v1/workspaces/acme/audit?action=upload.deleted";
    let entries = json_of(app.get_as(audit, &cookie).await).await["items"].clone();
    assert_eq!(entries.as_array().unwrap().len(), 1);
    assert_eq!(entries[0]["target"], json!({"type": "upload", "id": id}));
    assert_eq!(entries[0]["data"]["filename"], "Q3 report (final).pdf");
}

#[tokio::test]
async fn the_bucket_refuses_what_the_url_was_not_signed_for() {
    let (app, s3) = spawn_with_s3(&[]).await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = workspace.owner.cookie.clone();
    let ticket = start(&app, "acme", &cookie, "a.pdf", "application/pdf", PDF.len()).await;
    let key = key_of(ticket["uploadUrl"].as_str().unwrap());

    assert_eq!(
        put(&app, &ticket, PDF, Some("image/png")).await,
        403,
        "another type"
    );
    assert_eq!(
        put(&app, &ticket, &PDF[1..], None).await,
        403,
        "another length"
    );
    let url = ticket["uploadUrl"].as_str().unwrap();
    let mut tampered = ticket.clone();
    tampered["uploadUrl"] = json!(url.replace("/a.pdf?", "/b.pdf?"));
    assert_eq!(put(&app, &tampered, PDF, None).await, 403, "another key");
    let signature = url.rsplit_once("X-Amz-Signature=").unwrap().1;
    let flipped = format!(
        "{}{}",
        if signature.starts_with('0') { '1' } else { '0' },
        &signature[1..]
    );
    tampered["uploadUrl"] = json!(url.replace(signature, &flipped));
    assert_eq!(
        put(&app, &tampered, PDF, None).await,
        403,
        "another signature"
    );
    assert!(!s3.holds(&key).await);

    // Expiry, through the storage crate itself (the app's shortest URL lives a minute).
    let storage = s3.storage();
    let short = storage
        .presign_put(
            "short.pdf",
            "application/pdf",
            PDF.len() as u64,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let late = app
        .client
        .put(&short.url)
        .header("content-type", "application/pdf")
        .body(PDF.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 403, "an expired URL");
    assert!(!s3.holds("short.pdf").await);
}

#[tokio::test]
async fn completion_deletes_what_does_not_match_the_declaration() {
    let (app, s3) = spawn_with_s3(&[]).await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = workspace.owner.cookie.clone();
    let ticket = start(&app, "acme", &cookie, "a.pdf", "application/pdf", PDF.len()).await;
    let key = key_of(ticket["uploadUrl"].as_str().unwrap());
    // Something else lands under the key (another writer of the bucket).
    let other = s3
        .storage()
        .presign_put(&key, "application/pdf", 3, Duration::from_secs(60))
        .await
        .unwrap();
    let put = app
        .client
        .put(&other.url)
        .header("content-type", "application/pdf")
        .body(b"abc".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let id = ticket["upload"]["id"].as_str().unwrap();
    let (status, code) = error_code(complete(&app, "acme", &cookie, id).await).await;
    assert_eq!((status, code.as_str()), (422, "upload.mismatch"));
    assert!(!s3.holds(&key).await, "the mismatched object is deleted");
    let listed = json_of(app.get_as("/v1/workspaces/acme/uploads", &cookie).await).await;
    assert_eq!(listed["items"], json!([]));
}

#[tokio::test]
async fn declarations_are_checked_against_the_limits() {
    let (app, _s3) = spawn_with_s3(&[
        ("UPLOAD_MAX_BYTES", "1000"),
        ("UPLOAD_WORKSPACE_QUOTA_BYTES", "1500"),
    ])
    .await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = workspace.owner.cookie.clone();
    let path = "/v1/workspaces/acme/uploads";
    let cases = [
        (
            json!({"filename": "x.exe", "contentType": "application/x-msdownload", "size": 10}),
            422,
            "upload.type_not_allowed",
        ),
        (
            json!({"filename": "x.pdf", "contentType": "application/pdf", "size": 1001}),
            413,
            "upload.too_large",
        ),
        (
            json!({"filename": "x.pdf", "contentType": "application/pdf", "size": 0}),
            422,
            "validation",
        ),
        (
            json!({"filename": "x.pdf", "contentType": "application/pdf", "size": -1}),
            400,
            "validation",
        ),
        (
            json!({"filename": "", "contentType": "application/pdf", "size": 10}),
            400,
            "validation",
        ),
        (
            json!({"filename": "x".repeat(256), "contentType": "application/pdf", "size": 10}),
            400,
            "validation",
        ),
        (
            json!({"contentType": "application/pdf", "size": 10}),
            400,
            "validation",
        ),
    ];
    for (body, status, code) in cases {
        let response = app
            .send_as(Method::POST, path, Some(&cookie), Some(body.clone()))
            .await;
        assert_eq!(
            error_code(response).await,
            (status, code.to_owned()),
            "{body}"
        );
    }
    // Type names are compared without case.
    start(&app, "acme", &cookie, "a.pdf", "Application/PDF", 900).await;
    // 900 pending + 700 would pass the quota of 1,500 bytes.
    let body = json!({"filename": "b.pdf", "contentType": "application/pdf", "size": 700});
    let response = app
        .send_as(Method::POST, path, Some(&cookie), Some(body))
        .await;
    assert_eq!(
        error_code(response).await,
        (409, "upload.quota_exceeded".to_owned())
    );
    start(&app, "acme", &cookie, "c.pdf", "application/pdf", 600).await;
    assert_eq!(
        crate::helpers::count_rows(&app.db, "uploads").await,
        2,
        "refusals write nothing"
    );
}

#[tokio::test]
async fn files_stay_inside_their_workspace() {
    let (app, s3) = spawn_with_s3(&[]).await;
    let acme = app.open_workspace("ada@example.com", "acme").await;
    let other = app.open_workspace("eve@example.com", "other").await;
    let (id, key) = upload_pdf(&app, &acme, &acme.owner.cookie, "secret.pdf").await;
    let eve = &other.owner.cookie;
    // Through her own workspace, the id is not found; through acme she is not a member.
    for path in [
        format!("/v1/workspaces/other/uploads/{id}"),
        format!("/v1/workspaces/other/uploads/{id}/complete"),
    ] {
        let method = if path.ends_with("complete") {
            Method::POST
        } else {
            Method::GET
        };
        let response = app.send_as(method, &path, Some(eve), None).await;
        assert_eq!(
            error_code(response).await,
            (404, "upload.not_found".to_owned()),
            "{path}"
        );
    }
    let path = format!("/v1/workspaces/other/uploads/{id}");
    let response = app.send_as(Method::DELETE, &path, Some(eve), None).await;
    assert_eq!(response.status(), 404);
    let response = app
        .get_as(&format!("/v1/workspaces/acme/uploads/{id}"), eve)
        .await;
    assert_eq!(response.status(), 403);
    let response = app.get_as("/v1/workspaces/acme/uploads", eve).await;
    assert_eq!(response.status(), 403);
    assert!(s3.holds(&key).await);

    // A member may read, but delete only their own files (or with workspace.settings.edit).
    let bob = app.join(&acme, "bob@example.com", None).await;
    let path = format!("/v1/workspaces/acme/uploads/{id}");
    assert_eq!(app.get_as(&path, &bob.session.cookie).await.status(), 200);
    let (status, code) = error_code(
        app.send_as(Method::DELETE, &path, Some(&bob.session.cookie), None)
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "permission.denied"));
    let (status, code) = error_code(complete(&app, "acme", &bob.session.cookie, &id).await).await;
    assert_eq!((status, code.as_str()), (403, "upload.not_yours"));
    let (own, own_key) = upload_pdf(&app, &acme, &bob.session.cookie, "mine.pdf").await;
    let own_path = format!("/v1/workspaces/acme/uploads/{own}");
    let response = app
        .send_as(Method::DELETE, &own_path, Some(&bob.session.cookie), None)
        .await;
    assert_eq!(response.status(), 204);
    assert!(!s3.holds(&own_key).await);
    let response = app
        .send_as(Method::DELETE, &path, Some(&acme.owner.cookie), None)
        .await;
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn lists_page_newest_first() {
    let (app, _s3) = spawn_with_s3(&[]).await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = workspace.owner.cookie.clone();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            upload_pdf(&app, &workspace, &cookie, &format!("{n}.pdf"))
                .await
                .0,
        );
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = "/v1/workspaces/acme/uploads?limit=2".to_owned();
    loop {
        let page = json_of(app.get_as(&path, &cookie).await).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|item| item["id"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/v1/workspaces/acme/uploads?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    for bad in ["?limit=0", "?limit=201", "?cursor=nonsense"] {
        let response = app
            .get_as(&format!("/v1/workspaces/acme/uploads{bad}"), &cookie)
            .await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn without_a_bucket_every_upload_route_is_501() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = workspace.owner.cookie.clone();
    let id = "upl_0123456789abcdef0123456789abcdef";
    let body = json!({"filename": "a.pdf", "contentType": "application/pdf", "size": 10});
    let avatar = json!({"contentType": "image/png", "size": 10});
    let calls = [
        (
            Method::POST,
            "/v1/workspaces/acme/uploads".to_owned(),
            Some(body),
        ),
        (Method::GET, "/v1/workspaces/acme/uploads".to_owned(), None),
        (
            Method::GET,
            format!("/v1/workspaces/acme/uploads/{id}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/workspaces/acme/uploads/{id}/complete"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/workspaces/acme/uploads/{id}"),
            None,
        ),
        (Method::POST, "/v1/me/avatar".to_owned(), Some(avatar)),
        (Method::POST, "/v1/me/avatar/complete".to_owned(), None),
    ];
    for (method, path, body) in calls {
        let response = app
            .send_as(method.clone(), &path, Some(&cookie), body)
            .await;
        assert_eq!(
            error_code(response).await,
            (501, "uploads.not_configured".to_owned()),
            "{method} {path}"
        );
    }
    // The public avatar route has no avatar to show: 404, as for any unknown one.
    assert_eq!(
        error_code(app.get(&format!("/v1/avatars/{id}")).await).await,
        (404, "avatar.not_found".to_owned())
    );
    let config = json_of(app.get("/v1/config").await).await;
    assert_eq!(
        config["capabilities"]["uploads"],
        json!({"enabled": false, "backend": "none"})
    );
    // Deleting the workspace queues no storage work on a deploy without storage.
    let response = app
        .send_as(Method::DELETE, "/v1/workspaces/acme", Some(&cookie), None)
        .await;
    assert_eq!(response.status(), 204);
    app.jobs_idle().await;
}

#[tokio::test]
async fn storage_is_reported_and_checked() {
    let (app, _s3) = spawn_with_s3(&[]).await;
    let config = json_of(app.get("/v1/config").await).await;
    assert_eq!(
        config["capabilities"]["uploads"],
        json!({"enabled": true, "backend": "s3"})
    );
    let ready = json_of(app.get("/ready").await).await;
    assert_eq!(ready["checks"]["uploads"]["ok"], true);

    // A bucket that does not answer is reported, and the instance stays ready.
    let port = crate::helpers::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let s3 = S3Server::start().await;
    let mut vars = s3.vars("");
    vars.retain(|(name, _)| *name != "S3_ENDPOINT");
    let mut overrides = borrowed(&vars);
    overrides.push(("S3_ENDPOINT", &endpoint));
    let down = TestApp::spawn_with(&overrides).await;
    let response = down.get("/ready").await;
    assert_eq!(response.status(), 200);
    let ready = json_of(response).await;
    assert_eq!(ready["checks"]["uploads"]["ok"], false);
    let workspace = down.open_workspace("ada@example.com", "acme").await;
    let (status, code) = error_code(
        down.send_as(
            Method::POST,
            "/v1/workspaces/acme/uploads/upl_0123456789abcdef0123456789abcdef/complete",
            Some(&workspace.owner.cookie),
            None,
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "upload.not_found"));
}

/// Uploads `png` as the avatar of `cookie`'s user; returns the ticket and the new `image`.
async fn set_avatar(app: &TestApp, cookie: &str, png: &[u8]) -> (Value, String) {
    let body = json!({"contentType": "image/png", "size": png.len()});
    let response = app
        .send_as(Method::POST, "/v1/me/avatar", Some(cookie), Some(body))
        .await;
    assert_eq!(response.status(), 201);
    let ticket = json_of(response).await;
    assert_eq!(put(app, &ticket, png, None).await, 200);
    let response = app
        .send_as(Method::POST, "/v1/me/avatar/complete", Some(cookie), None)
        .await;
    assert_eq!(response.status(), 200);
    let image = json_of(response).await["image"]
        .as_str()
        .unwrap()
        .to_owned();
    (ticket, image)
}

#[tokio::test]
async fn an_avatar_is_uploaded_shown_and_replaced() {
    let (app, s3) = spawn_with_s3(&[]).await;
    let ada = app.sign_in("ada@example.com").await;
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n tiny avatar".to_vec();
    let mut keys = Vec::new();
    let mut images = Vec::new();
    for round in 0..2 {
        let bytes = [png.clone(), vec![b'!'; round]].concat();
        let (ticket, image) = set_avatar(&app, &ada.cookie, &bytes).await;
        keys.push(key_of(ticket["uploadUrl"].as_str().unwrap()));
        let id = ticket["upload"]["id"].as_str().unwrap();
        assert_eq!(image, format!("http://localhost:4002/v1/avatars/{id}"));
        let shown = app.get(&format!("/v1/avatars/{id}")).await;
        assert_eq!(shown.status(), 302);
        let location = shown.headers()["location"].to_str().unwrap().to_owned();
        let fetched = app.client.get(&location).send().await.unwrap();
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), bytes.as_slice());
        images.push((id.to_owned(), image));
    }
    let session = json_of(app.get_as("/v1/auth/get-session", &ada.cookie).await).await;
    assert_eq!(session["user"]["image"], images[1].1.as_str());
    // The first avatar is gone: its object (by a job), and its address.
    eventually(
        "the old avatar is deleted",
        Duration::from_secs(10),
        async || !s3.holds(&keys[0]).await,
    )
    .await;
    assert!(s3.holds(&keys[1]).await);
    assert_eq!(
        app.get(&format!("/v1/avatars/{}", images[0].0))
            .await
            .status(),
        404
    );

    let cases = [
        (
            json!({"contentType": "application/pdf", "size": 10}),
            422,
            "upload.type_not_allowed",
        ),
        (
            json!({"contentType": "image/png", "size": (2 << 20) + 1}),
            413,
            "upload.too_large",
        ),
    ];
    for (body, status, code) in cases {
        let response = app
            .send_as(Method::POST, "/v1/me/avatar", Some(&ada.cookie), Some(body))
            .await;
        assert_eq!(error_code(response).await, (status, code.to_owned()));
    }
    let response = app
        .send_as(
            Method::POST,
            "/v1/me/avatar/complete",
            Some(&ada.cookie),
            None,
        )
        .await;
    assert_eq!(
        error_code(response).await,
        (404, "upload.not_found".to_owned())
    );
}

#[tokio::test]
async fn deleting_a_workspace_or_an_account_deletes_its_objects() {
    let (app, s3) = spawn_with_s3(&[]).await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = workspace.owner.cookie.clone();
    let (_, ready) = upload_pdf(&app, &workspace, &cookie, "kept.pdf").await;
    // Put, never completed: still under the workspace's prefix.
    let ticket = start(
        &app,
        "acme",
        &cookie,
        "pending.pdf",
        "application/pdf",
        PDF.len(),
    )
    .await;
    assert_eq!(put(&app, &ticket, PDF, None).await, 200);
    let pending = key_of(ticket["uploadUrl"].as_str().unwrap());

    let bob = app.sign_in("bob@example.com").await;
    let (avatar, _) = set_avatar(&app, &bob.cookie, b"\x89PNG").await;
    let avatar_key = key_of(avatar["uploadUrl"].as_str().unwrap());

    let response = app
        .send_as(Method::DELETE, "/v1/workspaces/acme", Some(&cookie), None)
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        crate::helpers::count_rows(&app.db, "uploads").await,
        1,
        "bob's avatar is left"
    );
    let admin = app.sign_in_admin("root@example.com").await;
    let body = json!({"userId": app.user_id(&bob).await});
    let response = app
        .post_as("/v1/auth/admin/remove-user", Some(&admin.cookie), body)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(crate::helpers::count_rows(&app.db, "uploads").await, 0);
    eventually(
        "the objects are deleted",
        Duration::from_secs(10),
        async || {
            !s3.holds(&ready).await && !s3.holds(&pending).await && !s3.holds(&avatar_key).await
        },
    )
    .await;
}

#[tokio::test]
async fn uploads_never_completed_are_deleted_after_a_day() {
    // URLs that work for three days: a pending upload stays until its URL has expired.
    let (app, s3) = spawn_with_s3(&[
        ("JOBS_SCHEDULES", "uploads.prune=@every 1s"),
        ("UPLOAD_URL_TTL_SECS", "259200"),
    ])
    .await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = workspace.owner.cookie.clone();
    let (_, ready) = upload_pdf(&app, &workspace, &cookie, "kept.pdf").await;
    let mut keys = Vec::new();
    for name in ["old.pdf", "unexpired.pdf", "new.pdf"] {
        let ticket = start(&app, "acme", &cookie, name, "application/pdf", PDF.len()).await;
        assert_eq!(put(&app, &ticket, PDF, None).await, 200);
        keys.push(key_of(ticket["uploadUrl"].as_str().unwrap()));
    }
    let backend = sea_orm::ConnectionTrait::get_database_backend(&app.db);
    for (name, age) in [("old.pdf", 4), ("unexpired.pdf", 2)] {
        let sql = format!(
            "UPDATE uploads SET created_at = {} WHERE filename = '{name}'",
            days_ago(backend, age)
        );
        sea_orm::ConnectionTrait::execute_unprepared(&app.db, &sql)
            .await
            .unwrap();
    }
    eventually(
        "the abandoned upload is deleted",
        Duration::from_secs(10),
        async || crate::helpers::count_rows(&app.db, "uploads").await == 3,
    )
    .await;
    assert!(!s3.holds(&keys[0]).await, "its object too");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        crate::helpers::count_rows(&app.db, "uploads").await,
        3,
        "later runs keep the upload whose URL still works"
    );
    for key in [&keys[1], &keys[2], &ready] {
        assert!(s3.holds(key).await, "the rest is kept: {key}");
    }
}
