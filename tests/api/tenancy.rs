//! What holds across every workspace route: one workspace never reaches another's data, a
//! failed change leaves nothing half-written, reads cost a fixed number of queries, and
//! cookie-authenticated changes must come from a trusted origin.

use std::collections::BTreeSet;

use reqwest::Method;
use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::{Value, json};

use crate::helpers::{TestApp, count_rows, json_of};
use crate::uploads::{spawn_with_s3, upload_pdf};

/// Every workspace route, with `{slug}`, `{memberId}`, `{roleId}`, `{inviteId}` and
/// `{uploadId}` to fill.
fn workspace_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/v1/workspaces/{slug}", None),
        (
            Method::PATCH,
            "/v1/workspaces/{slug}",
            Some(json!({"name": "Hijacked"})),
        ),
        (Method::DELETE, "/v1/workspaces/{slug}", None),
        (Method::POST, "/v1/workspaces/{slug}/leave", None),
        (
            Method::POST,
            "/v1/workspaces/{slug}/transfer-ownership",
            Some(json!({"memberId": "{memberId}"})),
        ),
        (Method::GET, "/v1/workspaces/{slug}/members", None),
        (
            Method::DELETE,
            "/v1/workspaces/{slug}/members/{memberId}",
            None,
        ),
        (
            Method::PATCH,
            "/v1/workspaces/{slug}/members/{memberId}/role",
            Some(json!({"roleId": "{roleId}"})),
        ),
        (
            Method::POST,
            "/v1/workspaces/{slug}/invites",
            Some(json!({"email": "new@example.com"})),
        ),
        (Method::GET, "/v1/workspaces/{slug}/invites", None),
        (
            Method::DELETE,
            "/v1/workspaces/{slug}/invites/{inviteId}",
            None,
        ),
        (Method::GET, "/v1/workspaces/{slug}/roles", None),
        (
            Method::POST,
            "/v1/workspaces/{slug}/roles",
            Some(json!({"name": "Spies", "permissions": []})),
        ),
        (
            Method::PATCH,
            "/v1/workspaces/{slug}/roles/{roleId}",
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, "/v1/workspaces/{slug}/roles/{roleId}", None),
        (
            Method::POST,
            "/v1/dev/seed-members/{slug}",
            Some(json!({"count": 1})),
        ),
        (
            Method::POST,
            "/v1/workspaces/{slug}/uploads",
            Some(json!({"filename": "a.pdf", "contentType": "application/pdf", "size": 1})),
        ),
        (Method::GET, "/v1/workspaces/{slug}/uploads", None),
        (
            Method::GET,
            "/v1/workspaces/{slug}/uploads/{uploadId}",
            None,
        ),
        (
            Method::POST,
            "/v1/workspaces/{slug}/uploads/{uploadId}/complete",
            None,
        ),
        (
            Method::DELETE,
            "/v1/workspaces/{slug}/uploads/{uploadId}",
            None,
        ),
        (Method::GET, "/v1/workspaces/{slug}/billing", None),
        (
            Method::POST,
            "/v1/workspaces/{slug}/billing/checkout",
            Some(json!({"planKey": "pro", "successUrl": "/a", "cancelUrl": "/b"})),
        ),
        (
            Method::POST,
            "/v1/workspaces/{slug}/billing/portal",
            Some(json!({"returnUrl": "/a"})),
        ),
        (
            Method::POST,
            "/v1/workspaces/{slug}/billing/change-plan",
            Some(json!({"planKey": "pro"})),
        ),
        (
            Method::POST,
            "/v1/workspaces/{slug}/billing/cancel",
            Some(json!({"atPeriodEnd": true})),
        ),
        (Method::POST, "/v1/workspaces/{slug}/billing/resume", None),
        (Method::GET, "/v1/workspaces/{slug}/billing/invoices", None),
        (Method::GET, "/v1/workspaces/{slug}/audit", None),
    ]
}

/// A workspace with a member, a custom role and a pending invitation: `(slug, ids)`.
struct Filled {
    slug: String,
    owner_cookie: String,
    member_id: String,
    role_id: String,
    invite_id: String,
    upload_id: String,
}

impl Filled {
    async fn open(app: &TestApp, owner: &str, slug: &str) -> Self {
        let workspace = app.open_workspace(owner, slug).await;
        let cookie = workspace.owner.cookie.clone();
        let member = app
            .join(&workspace, &format!("member@{slug}.io"), None)
            .await;
        let role = app
            .send_as(
                Method::POST,
                &format!("/v1/workspaces/{slug}/roles"),
                Some(&cookie),
                Some(json!({"name": "Custom", "permissions": []})),
            )
            .await;
        let role_id = json_of(role).await["id"].as_str().unwrap().to_owned();
        app.invite(&workspace, &format!("pending@{slug}.io"), None)
            .await;
        let (upload_id, _) = upload_pdf(app, &workspace, &cookie, "plan.pdf").await;
        let invites = json_of(
            app.get_as(&format!("/v1/workspaces/{slug}/invites"), &cookie)
                .await,
        )
        .await;
        Self {
            slug: slug.to_owned(),
            owner_cookie: cookie,
            member_id: member.member_id,
            role_id,
            invite_id: invites[0]["id"].as_str().unwrap().to_owned(),
            upload_id,
        }
    }

    fn fill(&self, template: &str, ids: &Filled) -> String {
        template
            .replace("{slug}", &self.slug)
            .replace("{memberId}", &ids.member_id)
            .replace("{roleId}", &ids.role_id)
            .replace("{inviteId}", &ids.invite_id)
            .replace("{uploadId}", &ids.upload_id)
    }

    /// Everything a member of the workspace can read about it.
    async fn snapshot(&self, app: &TestApp) -> Vec<Value> {
        let mut seen = Vec::new();
        for path in ["", "/members", "/roles", "/invites", "/uploads", "/audit"] {
            let path = format!("/v1/workspaces/{}{path}", self.slug);
            seen.push(json_of(app.get_as(&path, &self.owner_cookie).await).await);
        }
        seen
    }
}

#[tokio::test]
async fn no_workspace_route_reaches_another_workspace() {
    let (app, _s3) = &spawn_with_s3(&[]).await;
    let a = Filled::open(app, "alice@example.com", "alpha").await;
    let b = Filled::open(app, "mallory@example.com", "bravo").await;
    let (before_a, before_b) = (a.snapshot(app).await, b.snapshot(app).await);

    // The walk covers every operation of the document that takes a workspace slug.
    let spec = json_of(app.get("/openapi.json").await).await;
    let documented: BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.contains("{slug}"))
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    let walked: BTreeSet<String> = workspace_routes()
        .iter()
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect();
    assert_eq!(walked, documented);

    for (method, template, body) in workspace_routes() {
        let body = body.map(|body| serde_json::from_str(&a.fill(&body.to_string(), &a)).unwrap());
        let path = a.fill(template, &a);
        // A member of another workspace, with the real ids of this one.
        let outsider = app
            .send_as(method.clone(), &path, Some(&b.owner_cookie), body.clone())
            .await;
        assert_eq!(outsider.status(), 403, "{method} {path}");
        assert_eq!(
            json_of(outsider).await,
            json!({"error": {"code": "forbidden", "message": "forbidden"}}),
            "{method} {path}"
        );
        // Nobody at all.
        let signed_out = app.send_as(method.clone(), &path, None, body.clone()).await;
        assert_eq!(signed_out.status(), 401, "{method} {path}");
        // A slug that does not exist.
        let unknown = app
            .send_as(
                method.clone(),
                &path.replace("/alpha", "/nowhere"),
                Some(&b.owner_cookie),
                body,
            )
            .await;
        assert_eq!(unknown.status(), 404, "{method} {path}");
    }

    // Alice, in her own workspace, naming Mallory's member, role and invitation.
    for (method, template, body) in workspace_routes() {
        let names_an_id = |id: &&str| {
            template.contains(id) || body.as_ref().is_some_and(|b| b.to_string().contains(id))
        };
        if !["{memberId}", "{roleId}", "{inviteId}", "{uploadId}"]
            .iter()
            .any(names_an_id)
        {
            continue;
        }
        let body = body.map(|body| serde_json::from_str(&a.fill(&body.to_string(), &b)).unwrap());
        let path = a.fill(template, &b);
        let response = app
            .send_as(method.clone(), &path, Some(&a.owner_cookie), body)
            .await;
        assert_eq!(response.status(), 404, "{method} {path}");
        let code = json_of(response).await["error"]["code"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            [
                "member.not_found",
                "role.not_found",
                "invite.not_found",
                "upload.not_found"
            ]
            .contains(&code.as_str()),
            "{code}"
        );
    }

    assert_eq!(b.snapshot(app).await, before_b, "bravo is untouched");
    assert_eq!(a.snapshot(app).await, before_a, "alpha is untouched");
}

/// Installs a trigger that makes every `event` (INSERT, DELETE) on `table` fail.
async fn fail_every(app: &TestApp, event: &str, table: &str) {
    let sql = match app.db.get_database_backend() {
        DbBackend::Postgres => format!(
            "CREATE OR REPLACE FUNCTION forced_failure() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'forced failure'; END $$; \
             CREATE TRIGGER forced_failure BEFORE {event} ON {table} \
             FOR EACH ROW EXECUTE FUNCTION forced_failure();"
        ),
        _ => format!(
            "CREATE TRIGGER forced_failure BEFORE {event} ON {table} \
             BEGIN SELECT RAISE(ABORT, 'forced failure'); END;"
        ),
    };
    app.db.execute_unprepared(&sql).await.unwrap();
}

async fn stop_failing(app: &TestApp, table: &str) {
    let sql = match app.db.get_database_backend() {
        DbBackend::Postgres => format!("DROP TRIGGER forced_failure ON {table}"),
        _ => "DROP TRIGGER forced_failure".to_owned(),
    };
    app.db.execute_unprepared(&sql).await.unwrap();
}

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "workspaces",
        "workspace_roles",
        "workspace_members",
        "workspace_invites",
        "audit_entries",
    ] {
        counts.push(count_rows(&app.db, table).await);
    }
    counts
}

#[tokio::test]
async fn a_change_that_fails_half_way_leaves_nothing_behind_and_announces_nothing() {
    let app = &TestApp::spawn().await;
    let mut events = app.events.subscribe();
    let ada = app.sign_in("ada@example.com").await;

    // Opening: the workspace, its roles and its audit entry are written before the owner's
    // membership fails.
    fail_every(app, "INSERT", "workspace_members").await;
    let body = json!({"name": "Acme", "slug": "acme", "invites": ["bob@example.com"]});
    let failed = app
        .send_as(
            Method::POST,
            "/v1/workspaces",
            Some(&ada.cookie),
            Some(body),
        )
        .await;
    assert_eq!(failed.status(), 500);
    assert_eq!(json_of(failed).await["error"]["code"], "internal");
    assert_eq!(counts(app).await, [0, 0, 0, 0, 0]);
    stop_failing(app, "workspace_members").await;

    // Accepting: the invitation is used up and recorded before the membership fails.
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let token = app.invite(&workspace, "bob@example.com", None).await;
    assert!(
        !app.sent_mails()
            .await
            .iter()
            .any(|m| m.text.contains("Acme\n")),
        "no mail for the failed workspace"
    );
    let bob = app.sign_in("bob@example.com").await;
    while events.try_recv().is_ok() {}
    let before = counts(app).await;
    fail_every(app, "INSERT", "workspace_members").await;
    let accept = || {
        let body = json!({"token": token});
        app.send_as(
            Method::POST,
            "/v1/invites/accept",
            Some(&bob.cookie),
            Some(body),
        )
    };
    assert_eq!(accept().await.status(), 500);
    assert_eq!(counts(app).await, before);
    let pending = json_of(
        app.get_as("/v1/workspaces/acme/invites", &workspace.owner.cookie)
            .await,
    )
    .await;
    assert_eq!(
        pending.as_array().unwrap().len(),
        1,
        "the invitation is still pending"
    );
    stop_failing(app, "workspace_members").await;
    assert!(
        events.try_recv().is_err(),
        "a rolled-back change announces nothing"
    );
    assert_eq!(accept().await.status(), 200, "and still works");
    while events.try_recv().is_ok() {}

    // Deleting: invitations, members and roles go before the workspace row fails.
    let before = counts(app).await;
    fail_every(app, "DELETE", "workspaces").await;
    let failed = app
        .send_as(
            Method::DELETE,
            "/v1/workspaces/acme",
            Some(&workspace.owner.cookie),
            None,
        )
        .await;
    assert_eq!(failed.status(), 500);
    assert_eq!(counts(app).await, before);
    assert!(events.try_recv().is_err());
    stop_failing(app, "workspaces").await;
}

#[tokio::test]
async fn workspace_reads_cost_the_same_queries_whatever_the_member_count() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = &workspace.owner.cookie;
    let seed = |count: u32| {
        let body = json!({"count": count});
        app.send_as(
            Method::POST,
            "/v1/dev/seed-members/acme",
            Some(cookie),
            Some(body),
        )
    };
    let measure = || async {
        let mut costs = Vec::new();
        for path in [
            "/v1/workspaces/acme",
            "/v1/workspaces/acme/members",
            "/v1/workspaces/acme/roles",
            "/v1/me",
        ] {
            let (response, statements) = app.count_statements(app.get_as(path, cookie)).await;
            assert_eq!(response.status(), 200);
            costs.push((path, statements));
        }
        costs
    };
    assert_eq!(seed(2).await.status(), 200);
    let small = measure().await;
    for _ in 0..3 {
        assert_eq!(seed(20).await.status(), 200);
    }
    let large = measure().await;
    let members = json_of(app.get_as("/v1/workspaces/acme", cookie).await).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 63);
    for ((path, few), (_, many)) in small.iter().zip(&large) {
        assert_eq!(few.len(), many.len(), "{path}: {few:#?} vs {many:#?}");
    }
    // The session; the workspace with your membership and role; the members with their
    // users; the workspace's roles.
    let (_, workspace_read) = &large[0];
    assert_eq!(workspace_read.len(), 4, "{workspace_read:#?}");
}

#[tokio::test]
async fn cookie_authenticated_changes_need_a_trusted_origin() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let path = app.url("/v1/workspaces/acme/roles");
    let body = json!({"name": "Editors", "permissions": []});
    let missing = app
        .client
        .post(&path)
        .header("cookie", &workspace.owner.cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    assert_eq!(
        json_of(missing).await["error"]["code"],
        "MISSING_OR_NULL_ORIGIN"
    );
    let foreign = app
        .client
        .delete(app.url("/v1/workspaces/acme"))
        .header("cookie", &workspace.owner.cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    assert_eq!(json_of(foreign).await["error"]["code"], "INVALID_ORIGIN");
    // A bearer token is not ambient: no Origin needed.
    let bearer = app
        .client
        .post(&path)
        .bearer_auth(&workspace.owner.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 201);
    let roles = json_of(
        app.get_as("/v1/workspaces/acme/roles", &workspace.owner.cookie)
            .await,
    )
    .await;
    assert_eq!(
        roles.as_array().unwrap().len(),
        4,
        "only the bearer request created a role"
    );
}
