//! The audit log: each recorded action writes exactly one entry in its change's transaction
//! (a refused change writes none), a workspace sees only its own entries and only with
//! `workspace.audit.view`, lists page by cursor, and an impersonated action names both the
//! user and the admin.

use std::time::Duration;

use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{
    SignedIn, TestApp, count_rows, days_ago, error_code, eventually, json_of, set_cookies,
};

/// Every entry of a list, walking its pages `limit` at a time, newest first.
async fn all_entries(app: &TestApp, path: &str, cookie: &str, limit: u32) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    let joiner = if path.contains('?') { '&' } else { '?' };
    loop {
        let mut url = format!("{path}{joiner}limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let response = app.get_as(&url, cookie).await;
        assert_eq!(response.status(), 200, "{url}");
        let page = json_of(response).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        entries.extend(items.iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return entries,
        }
    }
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect()
}

async fn send(app: &TestApp, method: Method, path: &str, who: &SignedIn, body: Value) -> Value {
    let response = app
        .send_as(method.clone(), path, Some(&who.cookie), Some(body))
        .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::test]
async fn every_workspace_action_writes_one_entry_and_refusals_write_none() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let owner = &workspace.owner;
    let ada_id = app.user_id(owner).await;
    let base = "/v1/workspaces/acme";
    send(
        &app,
        Method::PATCH,
        base,
        owner,
        json!({"name": "Acme Inc"}),
    )
    .await;
    // Nothing changes: nothing is recorded.
    send(
        &app,
        Method::PATCH,
        base,
        owner,
        json!({"name": "Acme Inc"}),
    )
    .await;
    let role = send(
        &app,
        Method::POST,
        &format!("{base}/roles"),
        owner,
        json!({"name": "Support", "permissions": ["workspace.members.invite"]}),
    )
    .await;
    let role_id = role["id"].as_str().unwrap();
    let role_path = format!("{base}/roles/{role_id}");
    send(
        &app,
        Method::PATCH,
        &role_path,
        owner,
        json!({"description": "Helps"}),
    )
    .await;
    app.invite(&workspace, "guest@example.com", None).await;
    app.invite(&workspace, "guest@example.com", None).await;
    let invites = json_of(app.get_as(&format!("{base}/invites"), &owner.cookie).await).await;
    let invite_id = invites[0]["id"].as_str().unwrap();
    send(
        &app,
        Method::DELETE,
        &format!("{base}/invites/{invite_id}"),
        owner,
        json!(null),
    )
    .await;
    // Revoking twice is fine and records nothing more.
    send(
        &app,
        Method::DELETE,
        &format!("{base}/invites/{invite_id}"),
        owner,
        json!(null),
    )
    .await;
    let bob = app.join(&workspace, "bob@example.com", None).await;
    let carol = app.join(&workspace, "carol@example.com", None).await;
    let role_change = json!({"roleId": workspace.admin_role_id});
    let bob_role = format!("{base}/members/{}/role", bob.member_id);
    send(&app, Method::PATCH, &bob_role, owner, role_change).await;

    // Refused changes: the last owner cannot leave, a taken role name, a Member's removal.
    let (status, code) = error_code(
        app.send_as(
            Method::POST,
            &format!("{base}/leave"),
            Some(&owner.cookie),
            None,
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "member.last_owner"));
    let taken = json!({"name": "support", "permissions": []});
    let response = app
        .send_as(
            Method::POST,
            &format!("{base}/roles"),
            Some(&owner.cookie),
            Some(taken),
        )
        .await;
    assert_eq!(
        error_code(response).await,
        (409, "role.name_taken".to_owned())
    );
    let by_member = app
        .send_as(
            Method::DELETE,
            &format!("{base}/members/{}", bob.member_id),
            Some(&carol.session.cookie),
            None,
        )
        .await;
    assert_eq!(by_member.status(), 403);

    send(
        &app,
        Method::DELETE,
        &format!("{base}/members/{}", carol.member_id),
        owner,
        json!(null),
    )
    .await;
    let transfer = json!({"memberId": bob.member_id});
    send(
        &app,
        Method::POST,
        &format!("{base}/transfer-ownership"),
        owner,
        transfer,
    )
    .await;
    send(
        &app,
        Method::POST,
        &format!("{base}/leave"),
        owner,
        json!(null),
    )
    .await;
    send(&app, Method::DELETE, &role_path, &bob.session, json!(null)).await;

    let entries = all_entries(&app, &format!("{base}/audit"), &bob.session.cookie, 200).await;
    assert_eq!(
        actions(&entries),
        [
            "role.deleted",
            "member.left",
            "workspace.ownership_transferred",
            "member.removed",
            "member.role_changed",
            "member.joined",
            "invite.accepted",
            "invite.created",
            "member.joined",
            "invite.accepted",
            "invite.created",
            "invite.revoked",
            "invite.renewed",
            "invite.created",
            "role.updated",
            "role.created",
            "workspace.updated",
            "member.joined",
            "workspace.created",
        ]
    );
    let created = entries.last().unwrap();
    assert_eq!(created["actor"]["userId"], ada_id.as_str());
    assert_eq!(created["actor"]["email"], "ada@example.com");
    assert_eq!(created["actor"]["impersonatorId"], Value::Null);
    assert_eq!(created["workspaceId"], workspace.id.as_str());
    assert_eq!(
        created["target"],
        json!({"type": "workspace", "id": workspace.id})
    );
    assert_eq!(
        created["data"],
        json!({"name": "Workspace acme", "slug": "acme"})
    );
    assert!(created["ip"].as_str().is_some_and(|ip| !ip.is_empty()));
    assert!(created["at"].as_str().unwrap().ends_with('Z'));
    let updated = &entries[entries.len() - 3];
    assert_eq!(
        updated["data"],
        json!({
            "previous": {"name": "Workspace acme", "slug": "acme"},
            "current": {"name": "Acme Inc", "slug": "acme"},
        })
    );
    let promoted = &entries[4];
    assert_eq!(
        promoted["target"],
        json!({"type": "member", "id": bob.member_id})
    );
    assert_eq!(promoted["data"]["previous"]["role"], "Member");
    assert_eq!(promoted["data"]["current"]["role"], "Admin");
    let removed = &entries[3];
    assert_eq!(
        removed["data"]["userId"],
        app.user_id(&carol.session).await.as_str()
    );
    for entry in &entries {
        let text = entry.to_string();
        assert!(!text.contains("token") && !text.contains("hash"), "{text}");
    }

    let delete = app
        .send_as(Method::DELETE, base, Some(&bob.session.cookie), None)
        .await;
    assert_eq!(delete.status(), 204);
    let admin = app.sign_in_admin("root@example.com").await;
    let path = format!(
        "/v1/admin/audit?workspaceId={}&action=workspace.deleted",
        workspace.id
    );
    let deleted = all_entries(&app, &path, &admin.cookie, 50).await;
    assert_eq!(
        actions(&deleted),
        ["workspace.deleted"],
        "the log outlives its workspace"
    );
    assert_eq!(deleted[0]["actor"]["email"], "bob@example.com");
}

#[tokio::test]
async fn a_workspace_sees_only_its_entries_and_only_with_the_permission() {
    let app = TestApp::spawn().await;
    let acme = app.open_workspace("ada@example.com", "acme").await;
    let globex = app.open_workspace("hank@example.com", "globex").await;
    let member = app.join(&acme, "bob@example.com", None).await;
    let admin = app
        .join(&acme, "carol@example.com", Some(&acme.admin_role_id))
        .await;

    let own = all_entries(
        &app,
        "/v1/workspaces/globex/audit",
        &globex.owner.cookie,
        50,
    )
    .await;
    assert!(!own.is_empty());
    assert!(
        own.iter()
            .all(|entry| entry["workspaceId"] == globex.id.as_str())
    );
    let by_admin = all_entries(&app, "/v1/workspaces/acme/audit", &admin.session.cookie, 50).await;
    assert!(
        by_admin
            .iter()
            .all(|entry| entry["workspaceId"] == acme.id.as_str())
    );
    assert!(actions(&by_admin).contains(&"invite.accepted"));

    let refused = app
        .get_as("/v1/workspaces/acme/audit", &member.session.cookie)
        .await;
    assert_eq!(
        error_code(refused).await,
        (403, "permission.denied".to_owned())
    );
    let outsider = app
        .get_as("/v1/workspaces/acme/audit", &globex.owner.cookie)
        .await;
    assert_eq!(error_code(outsider).await, (403, "forbidden".to_owned()));
    let not_admin = app.get_as("/v1/admin/audit", &acme.owner.cookie).await;
    assert_eq!(
        error_code(not_admin).await,
        (403, "admin.required".to_owned())
    );
    let signed_out = app.get("/v1/workspaces/acme/audit").await;
    assert_eq!(signed_out.status(), 401);

    // A custom role may be given the permission.
    let auditors = send(
        &app,
        Method::POST,
        "/v1/workspaces/acme/roles",
        &acme.owner,
        json!({"name": "Auditor", "permissions": ["workspace.audit.view"]}),
    )
    .await;
    let change = json!({"roleId": auditors["id"]});
    let path = format!("/v1/workspaces/acme/members/{}/role", member.member_id);
    send(&app, Method::PATCH, &path, &acme.owner, change).await;
    let allowed = app
        .get_as("/v1/workspaces/acme/audit", &member.session.cookie)
        .await;
    assert_eq!(allowed.status(), 200);
    let bad = app
        .get_as(
            "/v1/workspaces/acme/audit?action=member.flew",
            &acme.owner.cookie,
        )
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn lists_page_by_cursor_and_filter_by_action_and_actor() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let bob = app
        .join(
            &workspace,
            "bob@example.com",
            Some(&workspace.admin_role_id),
        )
        .await;
    for round in 0..7 {
        let who = if round % 2 == 0 {
            &workspace.owner
        } else {
            &bob.session
        };
        let body = json!({"name": format!("Acme {round}")});
        send(&app, Method::PATCH, "/v1/workspaces/acme", who, body).await;
    }
    let path = "/v1/workspaces/acme/audit";
    let whole = all_entries(&app, path, &workspace.owner.cookie, 200).await;
    let paged = all_entries(&app, path, &workspace.owner.cookie, 2).await;
    assert_eq!(paged, whole, "pages of 2 cover the list once, in order");
    let ids: Vec<&str> = whole
        .iter()
        .map(|entry| entry["id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");

    let updates = all_entries(
        &app,
        &format!("{path}?action=workspace.updated"),
        &workspace.owner.cookie,
        3,
    )
    .await;
    assert_eq!(updates.len(), 7);
    let bob_id = app.user_id(&bob.session).await;
    let bobs = all_entries(
        &app,
        &format!("{path}?action=workspace.updated&actorId={bob_id}"),
        &workspace.owner.cookie,
        50,
    )
    .await;
    assert_eq!(bobs.len(), 3);
    assert!(bobs.iter().all(|entry| entry["actor"]["name"].is_string()));
    let foreign_cursor = app
        .get_as(
            &format!("{path}?cursor=bm90LW91cnM"),
            &workspace.owner.cookie,
        )
        .await;
    assert_eq!(foreign_cursor.status(), 400);
}

/// Signs in as an impersonation of `user_id` by `admin`; the cookie jar of that browser.
async fn impersonate(app: &TestApp, admin: &SignedIn, user_id: &str) -> String {
    let response = app
        .post_as(
            "/v1/auth/admin/impersonate-user",
            Some(&admin.cookie),
            json!({"userId": user_id}),
        )
        .await;
    assert_eq!(response.status(), 200);
    set_cookies(&response)
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn admin_and_account_actions_are_recorded_and_impersonation_names_both() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_admin("root@example.com").await;
    let admin_id = app.user_id(&admin).await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let ada_id = app.user_id(&workspace.owner).await;

    let impersonating = impersonate(&app, &admin, &ada_id).await;
    let rename = app
        .send_as(
            Method::PATCH,
            "/v1/workspaces/acme",
            Some(&impersonating),
            Some(json!({"name": "Renamed by support"})),
        )
        .await;
    assert_eq!(rename.status(), 200);
    let stop = app
        .post_as(
            "/v1/auth/admin/stop-impersonating",
            Some(&impersonating),
            json!({}),
        )
        .await;
    assert_eq!(stop.status(), 200);
    let entries = all_entries(
        &app,
        "/v1/workspaces/acme/audit?action=workspace.updated",
        &workspace.owner.cookie,
        50,
    )
    .await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["actor"]["userId"], ada_id.as_str());
    assert_eq!(entries[0]["actor"]["impersonatorId"], admin_id.as_str());
    assert!(entries[0]["actor"]["impersonatorName"].is_string());

    let post = async |path: &str, body: Value| {
        let response = app.post_as(path, Some(&admin.cookie), body).await;
        assert_eq!(
            response.status(),
            200,
            "{path}: {}",
            response.text().await.unwrap()
        );
        json_of(response).await
    };
    let created = post(
        "/v1/auth/admin/create-user",
        json!({"email": "zed@example.com", "name": "Zed", "password": "a long passphrase"}),
    )
    .await;
    let zed = created["user"]["id"].as_str().unwrap().to_owned();
    let zed_ref = json!({"userId": zed});
    post(
        "/v1/auth/admin/set-role",
        json!({"userId": zed, "role": "admin"}),
    )
    .await;
    post(
        "/v1/auth/admin/update-user",
        json!({"userId": zed, "data": {"name": "Zed Z"}}),
    )
    .await;
    post(
        "/v1/auth/admin/set-user-password",
        json!({"userId": zed, "newPassword": "another passphrase"}),
    )
    .await;
    post(
        "/v1/auth/admin/ban-user",
        json!({"userId": zed, "banReason": "spam"}),
    )
    .await;
    post("/v1/auth/admin/unban-user", zed_ref.clone()).await;
    // Zed's first sign-in (by magic link, joining acme) claims the unverified account.
    let joined = app.join(&workspace, "zed@example.com", None).await;
    let listed = post("/v1/auth/admin/list-user-sessions", zed_ref.clone()).await;
    let session_id = listed["sessions"][0]["token"].clone();
    post(
        "/v1/auth/admin/revoke-user-session",
        json!({"sessionToken": session_id}),
    )
    .await;
    post(
        "/v1/auth/admin/revoke-user-session",
        json!({"sessionToken": session_id}),
    )
    .await;
    app.sign_in("zed@example.com").await;
    post("/v1/auth/admin/revoke-user-sessions", zed_ref.clone()).await;
    post("/v1/auth/admin/revoke-user-sessions", zed_ref.clone()).await;
    post("/v1/auth/admin/remove-user", zed_ref).await;

    let by_admin = all_entries(
        &app,
        &format!("/v1/admin/audit?actorId={admin_id}"),
        &admin.cookie,
        50,
    )
    .await;
    assert_eq!(
        actions(&by_admin),
        [
            "admin.user_removed",
            "member.left",
            "admin.sessions_revoked",
            "admin.session_revoked",
            "admin.user_unbanned",
            "admin.user_banned",
            "admin.password_set",
            "admin.user_updated",
            "admin.role_set",
            "admin.user_created",
            "admin.impersonation_started",
        ]
    );
    let on_zed = json!({"type": "user", "id": zed});
    let about_zed = [&by_admin[..1], &by_admin[2..10]].concat();
    assert!(about_zed.iter().all(|entry| entry["target"] == on_zed));
    assert_eq!(
        by_admin[1]["target"],
        json!({"type": "member", "id": joined.member_id}),
        "removing the account ends its memberships on the record"
    );
    assert_eq!(by_admin[1]["workspaceId"], workspace.id.as_str());
    assert_eq!(by_admin[1]["data"]["accountDeleted"], true);
    assert_eq!(by_admin[3]["data"], json!({"sessionId": session_id}));
    assert_eq!(by_admin[5]["data"]["reason"], "spam");
    assert_eq!(
        by_admin[8]["data"],
        json!({"previous": "user", "current": "admin"})
    );
    let claimed = all_entries(
        &app,
        "/v1/admin/audit?action=account.claimed",
        &admin.cookie,
        50,
    )
    .await;
    assert_eq!(actions(&claimed), ["account.claimed"]);
    assert_eq!(claimed[0]["actor"]["userId"], zed.as_str());
    assert_eq!(claimed[0]["target"], on_zed);
    assert_eq!(claimed[0]["data"], json!({"via": "magic-link"}));
    let stopped = all_entries(
        &app,
        "/v1/admin/audit?action=admin.impersonation_stopped",
        &admin.cookie,
        50,
    )
    .await;
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0]["actor"]["impersonatorId"], admin_id.as_str());
    let text = serde_json::to_string(&by_admin).unwrap();
    assert!(!text.contains("passphrase"), "no password in the log");

    // The account's own actions.
    let eve = app
        .sign_up("eve@example.com", "eve's first passphrase")
        .await;
    let eve_id = app.user_id(&eve).await;
    let change = json!({
        "currentPassword": "eve's first passphrase",
        "newPassword": "eve's second passphrase",
        "revokeOtherSessions": true,
    });
    let response = app
        .post_as("/v1/auth/change-password", Some(&eve.cookie), change)
        .await;
    assert_eq!(response.status(), 200);
    let eve = SignedIn::from_response(&response);
    let password = json!({"email": "eve@example.com", "password": "eve's second passphrase"});
    let response = app.post_as("/v1/auth/sign-in/email", None, password).await;
    assert_eq!(response.status(), 200, "a second session");
    // The second time there is nothing left to revoke, and nothing to record.
    for _ in 0..2 {
        let response = app
            .post_as(
                "/v1/auth/revoke-other-sessions",
                Some(&eve.cookie),
                json!({}),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    let body = json!({"newEmail": "eve.new@example.com"});
    let response = app
        .post_as("/v1/auth/change-email", Some(&eve.cookie), body)
        .await;
    assert_eq!(response.status(), 200);
    let link = app.last_link_to("eve.new@example.com").await;
    let verified = app.client.get(app.local(&link)).send().await.unwrap();
    assert!(verified.status().as_u16() < 400, "{}", verified.status());
    let body = json!({"email": "eve.new@example.com", "redirectTo": "/reset"});
    let response = app
        .post_as("/v1/auth/request-password-reset", None, body)
        .await;
    assert_eq!(response.status(), 200);
    app.wait_for_mail_with("eve.new@example.com", "reset-password")
        .await;
    let link = app.last_link_to("eve.new@example.com").await;
    let token = link
        .split("/reset-password/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    let body = json!({"token": token, "newPassword": "eve's third passphrase"});
    let response = app.post_as("/v1/auth/reset-password", None, body).await;
    assert_eq!(response.status(), 200);
    let eve = app.sign_in("eve.new@example.com").await;
    let response = app
        .post_as("/v1/auth/revoke-sessions", Some(&eve.cookie), json!({}))
        .await;
    assert_eq!(response.status(), 200);

    let eves = all_entries(
        &app,
        &format!("/v1/admin/audit?actorId={eve_id}"),
        &admin.cookie,
        50,
    )
    .await;
    assert_eq!(
        actions(&eves),
        [
            "account.sessions_revoked",
            "account.password_reset",
            "account.email_changed",
            "account.sessions_revoked",
            "account.password_changed",
        ]
    );
    assert_eq!(eves[0]["data"], json!({"scope": "all"}));
    assert_eq!(
        eves[2]["data"],
        json!({"previous": "eve@example.com", "current": "eve.new@example.com"})
    );
    assert_eq!(eves[3]["data"], json!({"scope": "others"}));
    assert_eq!(eves[4]["data"], json!({"otherSessionsRevoked": true}));
}

#[tokio::test]
async fn entries_older_than_the_retention_are_pruned() {
    let app = TestApp::spawn_with(&[
        ("JOBS_SCHEDULES", "audit.prune=@every 1s"),
        ("AUDIT_RETENTION_DAYS", "1"),
    ])
    .await;
    app.open_workspace("ada@example.com", "acme").await;
    let recorded = count_rows(&app.db, "audit_entries").await;
    assert!(recorded >= 2);
    let backend = app.db.get_database_backend();
    let sql = format!(
        "UPDATE audit_entries SET at = {} WHERE action = 'workspace.created'",
        days_ago(backend, 2)
    );
    app.db.execute_unprepared(&sql).await.unwrap();
    eventually(
        "the old entry is pruned",
        Duration::from_secs(10),
        async || count_rows(&app.db, "audit_entries").await == recorded - 1,
    )
    .await;
}

#[tokio::test]
async fn an_entry_lives_and_dies_with_its_change() {
    use orbit::audit::{Action, Actor, Entry};
    use orbit::workspaces::events::Change;

    let app = TestApp::spawn().await;
    let before = count_rows(&app.db, "audit_entries").await;
    let change = Change::begin(&app.db, Actor::system()).await.unwrap();
    change
        .audit(Entry::new(Action::WorkspaceDeleted, "ws_gone").in_workspace("ws_gone"))
        .await
        .unwrap();
    drop(change);
    assert_eq!(
        count_rows(&app.db, "audit_entries").await,
        before,
        "a change rolled back takes its entry with it"
    );
}
