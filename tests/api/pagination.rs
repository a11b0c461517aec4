//! Every list pages by cursor: members, invitations, sessions, admin users. Pages are complete
//! and never repeat an item (even under inserts and tied sort values), limits are enforced,
//! cursors are opaque and refused when foreign, and the workspace read is bounded.

use reqwest::Response;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Workspace, error_code, json_of};

const NEXT: &str = "x-next-cursor";

/// The next cursor of a bare-array page, from its header.
fn next_cursor(response: &Response) -> Option<String> {
    response
        .headers()
        .get(NEXT)
        .map(|value| value.to_str().unwrap().to_owned())
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Follows a bare-array list from `first` (a path with `?`) to its end, `limit` at a time;
/// `between` runs after the first page. Returns the ids in order and the page count.
async fn walk(
    app: &TestApp,
    cookie: &str,
    first: &str,
    limit: u64,
    between: impl AsyncFnOnce(),
) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    let mut between = Some(between);
    loop {
        let mut path = format!("{first}&limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let response = app.get_as(&path, cookie).await;
        assert_eq!(response.status(), 200, "{path}");
        cursor = next_cursor(&response);
        let page = ids(&json_of(response).await);
        assert!(page.len() as u64 <= limit, "a page holds at most its limit");
        pages += 1;
        seen.extend(page);
        if let Some(between) = between.take() {
            between().await;
        }
        if cursor.is_none() {
            return (seen, pages);
        }
        assert!(pages < 100, "the list never ends");
    }
}

async fn seed_members(app: &TestApp, workspace: &Workspace, count: u64) {
    let path = format!("/v1/dev/seed-members/{}", workspace.slug);
    let response = app
        .post_as(
            &path,
            Some(&workspace.owner.cookie),
            json!({"count": count}),
        )
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn members_page_oldest_first_and_stay_whole_under_inserts() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = &workspace.owner.cookie;
    seed_members(app, &workspace, 6).await;
    let everyone = json_of(app.get_as("/v1/workspaces/acme/members", cookie).await).await;
    let everyone = ids(&everyone);
    assert_eq!(everyone.len(), 7, "one page by default");
    assert_eq!(everyone[0], workspace.owner_member_id, "oldest first");

    // Two more join while the list is being read: they come at its end, nothing repeats.
    let (seen, pages) = walk(app, cookie, "/v1/workspaces/acme/members?", 3, async || {
        seed_members(app, &workspace, 2).await
    })
    .await;
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 9, "{seen:?}");
    assert_eq!(&seen[..7], &everyone[..]);

    // Ties on the join time are broken by id: pages still cover every member once.
    app.db
        .execute_unprepared(
            "UPDATE workspace_members SET created_at = \
             (SELECT MIN(created_at) FROM workspace_members)",
        )
        .await
        .unwrap();
    let (tied, _) = walk(app, cookie, "/v1/workspaces/acme/members?", 2, async || {}).await;
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(tied, sorted, "tied members come in id order, each once");

    // A search pages the same way.
    let (found, _) = walk(
        app,
        cookie,
        "/v1/workspaces/acme/members?q=dev.orbit",
        3,
        async || {},
    )
    .await;
    assert_eq!(found.len(), 8, "every seeded member, not the owner");
}

#[tokio::test]
async fn pending_invitations_page_newest_first() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    for n in 0..5 {
        app.invite(&workspace, &format!("guest{n}@example.com"), None)
            .await;
    }
    let cookie = &workspace.owner.cookie;
    let all = json_of(app.get_as("/v1/workspaces/acme/invites", cookie).await).await;
    let emails: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|invite| invite["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails[0], "guest4@example.com", "newest first");
    let (seen, pages) = walk(app, cookie, "/v1/workspaces/acme/invites?", 2, async || {
        app.invite(&workspace, "late@example.com", None).await;
    })
    .await;
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        ids(&all),
        "a newer invitation does not shift the pages"
    );
    let (found, _) = walk(
        app,
        cookie,
        "/v1/workspaces/acme/invites?q=GUEST",
        2,
        async || {},
    )
    .await;
    assert_eq!(found.len(), 5);
}

#[tokio::test]
async fn limits_are_enforced_and_foreign_cursors_refused() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    seed_members(app, &workspace, 3).await;
    app.invite(&workspace, "guest@example.com", None).await;
    let cookie = &workspace.owner.cookie;
    let members = app
        .get_as("/v1/workspaces/acme/members?limit=1", cookie)
        .await;
    let members_cursor = next_cursor(&members).expect("more members follow");
    for path in [
        "/v1/workspaces/acme/members?limit=0".to_owned(),
        "/v1/workspaces/acme/members?limit=201".to_owned(),
        "/v1/workspaces/acme/members?cursor=***".to_owned(),
        "/v1/workspaces/acme/members?cursor=Zm9v".to_owned(),
        "/v1/workspaces/acme/invites?limit=1000".to_owned(),
        format!("/v1/workspaces/acme/invites?cursor={members_cursor}"),
    ] {
        let (status, code) = error_code(app.get_as(&path, cookie).await).await;
        assert_eq!((status, code.as_str()), (400, "validation"), "{path}");
    }
    // The better-auth routes answer in better-auth's error shape.
    let path = format!("/v1/auth/list-sessions?cursor={members_cursor}");
    let refused = app.get_as(&path, cookie).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(json_of(refused).await["code"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn the_workspace_read_inlines_its_first_members_with_the_total() {
    let app = &TestApp::spawn_with(&[("WORKSPACE_MEMBERS_INLINE", "3")]).await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = &workspace.owner.cookie;
    let small = json_of(app.get_as("/v1/workspaces/acme", cookie).await).await;
    assert_eq!(small["members"].as_array().unwrap().len(), 1);
    assert_eq!(small["membersTotal"], 1);
    assert_eq!(small["membersTruncated"], false);

    seed_members(app, &workspace, 4).await;
    let read = json_of(app.get_as("/v1/workspaces/acme", cookie).await).await;
    let inlined = ids(&read["members"]);
    assert_eq!(read["membersTotal"], 5);
    assert_eq!(read["membersTruncated"], true);
    let all = ids(&json_of(app.get_as("/v1/workspaces/acme/members", cookie).await).await);
    assert_eq!(inlined, all[..3], "the oldest three");
}

#[tokio::test]
async fn sessions_page_for_their_user_and_for_admins() {
    let app = &TestApp::spawn().await;
    let admin = app.sign_in_admin("root@example.com").await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(app.sign_in("ada@example.com").await);
    }
    let cookie = &sessions[0].cookie;
    let (own, pages) = walk(app, cookie, "/v1/auth/list-sessions?", 2, async || {}).await;
    assert_eq!((own.len(), pages), (3, 2));

    let user_id = app.user_id(&sessions[0]).await;
    let list = |body: Value| async {
        let response = app
            .post_as(
                "/v1/auth/admin/list-user-sessions",
                Some(&admin.cookie),
                body,
            )
            .await;
        assert_eq!(response.status(), 200);
        json_of(response).await
    };
    let first = list(json!({"userId": user_id, "limit": 2})).await;
    assert_eq!(ids(&first["sessions"]), own[..2]);
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = list(json!({"userId": user_id, "limit": 2, "cursor": cursor})).await;
    assert_eq!(ids(&second["sessions"]), own[2..]);
    assert_eq!(second["nextCursor"], Value::Null);
}

#[tokio::test]
async fn admins_page_users_by_cursor_in_every_order() {
    let app = &TestApp::spawn().await;
    let admin = app.sign_in_admin("root@example.com").await;
    for name in ["ann", "bob", "cat", "dan", "eve"] {
        app.sign_in(&format!("{name}@corp.test")).await;
    }
    let cookie = &admin.cookie;
    let get = |query: String| async move {
        let path = format!("/v1/auth/admin/list-users{query}");
        let response = app.get_as(&path, cookie).await;
        assert_eq!(response.status(), 200, "{path}");
        json_of(response).await
    };
    for order in [
        "sortBy=createdAt",
        "sortBy=email&sortDirection=desc",
        "sortBy=name",
        "sortBy=updatedAt&sortDirection=desc",
        "sortBy=role",
    ] {
        let whole = get(format!("?{order}")).await;
        assert_eq!(whole["total"], 6);
        assert_eq!(whole["nextCursor"], Value::Null);
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = get(format!("?{order}&limit=2{cursor}")).await;
            assert_eq!(page["total"], 6, "{order}");
            seen.extend(ids(&page["users"]));
            match page["nextCursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(seen, ids(&whole["users"]), "{order}");
    }

    let searched = get("?searchValue=CORP&limit=2".into()).await;
    assert_eq!(searched["total"], 5);
    let next = searched["nextCursor"].as_str().unwrap().to_owned();
    let rest = get(format!("?searchValue=CORP&limit=10&cursor={next}")).await;
    assert_eq!(rest["users"].as_array().unwrap().len(), 3);

    let by_created = get("?limit=1".into()).await;
    let created_cursor = by_created["nextCursor"].as_str().unwrap().to_owned();
    for bad in [
        "?offset=10001".to_owned(),
        format!("?offset=1&cursor={created_cursor}"),
        format!("?sortBy=email&cursor={created_cursor}"),
        format!("?sortDirection=desc&cursor={created_cursor}"),
    ] {
        let path = format!("/v1/auth/admin/list-users{bad}");
        let response = app.get_as(&path, &admin.cookie).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn big_user_totals_are_the_planners_estimates_small_ones_counted() {
    let Some((app, _)) = TestApp::spawn_on_postgres(&[("USER_COUNT_ESTIMATE_ABOVE", "3")]).await
    else {
        return;
    };
    let admin = app.sign_in_admin("root@example.com").await;
    for name in ["ann", "bob", "cat"] {
        app.sign_in(&format!("{name}@corp.test")).await;
    }
    app.db.execute_unprepared("ANALYZE users").await.unwrap();
    // Joined after the statistics: counted by a narrow filter, not yet in the estimates.
    app.sign_in("late@corp.test").await;
    let total = |query: &'static str| {
        let (app, cookie) = (&app, admin.cookie.clone());
        async move {
            let path = format!("/v1/auth/admin/list-users{query}");
            json_of(app.get_as(&path, &cookie).await).await["total"].clone()
        }
    };
    assert_eq!(
        total("").await,
        4,
        "the table's estimate, as ANALYZE left it"
    );
    assert_eq!(
        total("?searchValue=late").await,
        1,
        "a narrow search is counted"
    );
    assert_eq!(total("?filterField=role&filterValue=admin").await, 1);
    // Four matches, more than three: the planner's estimate of the search, from statistics
    // that have never seen `late`.
    let broad = total("?searchValue=corp.test").await.as_u64().unwrap();
    assert!((1..=4).contains(&broad), "an estimate: {broad}");
}
