//! Members and roles of a workspace: searching, removing, changing roles, custom roles, and
//! the events each change publishes after it commits.

use std::sync::Arc;

use orbit::workspaces::events::WorkspaceEvent;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::helpers::{TestApp, error_code, json_of};

fn next_event(events: &mut broadcast::Receiver<Arc<WorkspaceEvent>>) -> Arc<WorkspaceEvent> {
    events.try_recv().expect("an event was published")
}

#[tokio::test]
async fn members_are_searched_by_name_or_email_in_any_case() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = &workspace.owner.cookie;
    app.join(&workspace, "bob.smith@example.com", None).await;
    app.join(&workspace, "cy@example.com", None).await;
    let search = |q: &str| {
        let path = format!("/v1/workspaces/acme/members?q={q}");
        async move { app.get_as(&path, cookie).await }
    };
    let emails = |members: Value| -> Vec<String> {
        members
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["email"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        emails(json_of(search("SMITH").await).await),
        ["bob.smith@example.com"]
    );
    assert_eq!(emails(json_of(search("example").await).await).len(), 3);
    assert_eq!(
        emails(json_of(search("%25").await).await).len(),
        0,
        "% is literal"
    );
    assert_eq!(
        emails(json_of(search("_").await).await).len(),
        0,
        "_ is literal"
    );
    assert_eq!(emails(json_of(search("").await).await).len(), 3);
    let too_long = search(&"a".repeat(161)).await;
    assert_eq!(too_long.status(), 400);
}

#[tokio::test]
async fn removing_a_member_follows_the_ownership_rules() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let owner = workspace.owner.cookie.clone();
    let admin = app
        .join(
            &workspace,
            "bob@example.com",
            Some(&workspace.admin_role_id),
        )
        .await;
    let member = app.join(&workspace, "cy@example.com", None).await;
    let remove = |cookie: &str, member_id: &str| {
        let path = format!("/v1/workspaces/acme/members/{member_id}");
        let cookie = cookie.to_owned();
        async move {
            app.send_as(Method::DELETE, &path, Some(&cookie), None)
                .await
        }
    };

    let (status, error) = error_code(remove(&member.session.cookie, &admin.member_id).await).await;
    assert_eq!((status, error.as_str()), (403, "permission.denied"));
    let (status, error) =
        error_code(remove(&admin.session.cookie, &workspace.owner_member_id).await).await;
    assert_eq!((status, error.as_str()), (403, "role.owner_mint_forbidden"));
    let (status, error) = error_code(remove(&owner, &workspace.owner_member_id).await).await;
    assert_eq!((status, error.as_str()), (409, "member.cannot_remove_self"));
    let (status, error) =
        error_code(remove(&owner, "wsrole_0123456789abcdef0123456789abcdef").await).await;
    assert_eq!((status, error.as_str()), (400, "validation"));
    let (status, error) =
        error_code(remove(&owner, "mbr_0123456789abcdef0123456789abcdef").await).await;
    assert_eq!((status, error.as_str()), (404, "member.not_found"));

    let mut events = app.events.subscribe();
    let removed = remove(&admin.session.cookie, &member.member_id).await;
    assert_eq!(removed.status(), 204);
    match &*next_event(&mut events) {
        WorkspaceEvent::MemberLeft {
            workspace_id,
            member_id,
            ..
        } => {
            assert_eq!(workspace_id, &workspace.id);
            assert_eq!(member_id, &member.member_id);
        }
        other => panic!("{other:?}"),
    }
    let refused = app
        .get_as("/v1/workspaces/acme", &member.session.cookie)
        .await;
    assert_eq!(refused.status(), 403, "a removed member is out");
}

#[tokio::test]
async fn changing_roles_follows_the_ownership_rules() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let other = app.open_workspace("zed@example.com", "other").await;
    let owner = workspace.owner.cookie.clone();
    let admin = app
        .join(
            &workspace,
            "bob@example.com",
            Some(&workspace.admin_role_id),
        )
        .await;
    let member = app.join(&workspace, "cy@example.com", None).await;
    let change = |cookie: &str, member_id: &str, role_id: &str| {
        let path = format!("/v1/workspaces/acme/members/{member_id}/role");
        let (cookie, body) = (cookie.to_owned(), json!({"roleId": role_id}));
        async move {
            app.send_as(Method::PATCH, &path, Some(&cookie), Some(body))
                .await
        }
    };

    let cases = [
        (
            &member.session.cookie,
            &admin.member_id,
            &workspace.member_role_id,
            403,
            "permission.denied",
        ),
        (
            &admin.session.cookie,
            &member.member_id,
            &workspace.owner_role_id,
            403,
            "role.owner_mint_forbidden",
        ),
        (
            &admin.session.cookie,
            &workspace.owner_member_id,
            &workspace.member_role_id,
            403,
            "role.owner_mint_forbidden",
        ),
        (
            &owner,
            &workspace.owner_member_id,
            &workspace.admin_role_id,
            409,
            "member.cannot_change_own_role",
        ),
        (
            &owner,
            &member.member_id,
            &other.admin_role_id,
            404,
            "role.not_found",
        ),
    ];
    for (cookie, member_id, role_id, status, expected) in cases {
        let (got, error) = error_code(change(cookie, member_id, role_id).await).await;
        assert_eq!(
            (got, error.as_str()),
            (status, expected),
            "{member_id} → {role_id}"
        );
    }
    let (status, error) = error_code(change(&owner, &member.member_id, "role_1").await).await;
    assert_eq!((status, error.as_str()), (400, "validation"));

    let mut events = app.events.subscribe();
    let changed = change(
        &admin.session.cookie,
        &member.member_id,
        &workspace.admin_role_id,
    )
    .await;
    assert_eq!(changed.status(), 204);
    match &*next_event(&mut events) {
        WorkspaceEvent::MemberRoleChanged { member: dto, .. } => {
            assert_eq!(dto.id, member.member_id);
            assert_eq!(dto.role.id, workspace.admin_role_id);
        }
        other => panic!("{other:?}"),
    }
    let unchanged = change(&owner, &member.member_id, &workspace.admin_role_id).await;
    assert_eq!(unchanged.status(), 204);
    assert!(events.try_recv().is_err(), "no change, no event");

    let members = json_of(app.get_as("/v1/workspaces/acme/members", &owner).await).await;
    let cy = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "cy@example.com")
        .unwrap();
    assert_eq!(cy["role"]["systemKey"], "ADMIN");
}

/// Two owners demoting each other at once: the changes take turns, so the workspace keeps
/// an owner whichever goes first.
#[tokio::test]
async fn concurrent_demotions_never_leave_a_workspace_without_an_owner() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let bob = app.join(&workspace, "bob@example.com", None).await;
    let promoted = app
        .send_as(
            Method::PATCH,
            &format!("/v1/workspaces/acme/members/{}/role", bob.member_id),
            Some(&workspace.owner.cookie),
            Some(json!({"roleId": workspace.owner_role_id})),
        )
        .await;
    assert_eq!(promoted.status(), 204);
    let demote = |cookie: String, member_id: String| {
        let path = format!("/v1/workspaces/acme/members/{member_id}/role");
        let body = json!({"roleId": workspace.member_role_id});
        async move {
            app.send_as(Method::PATCH, &path, Some(&cookie), Some(body))
                .await
        }
    };
    let (first, second) = tokio::join!(
        demote(workspace.owner.cookie.clone(), bob.member_id.clone()),
        demote(
            bob.session.cookie.clone(),
            workspace.owner_member_id.clone()
        ),
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [204, 403], "exactly one demotion wins");
    let roles = json_of(
        app.get_as("/v1/workspaces/acme/roles", &workspace.owner.cookie)
            .await,
    )
    .await;
    let roles = if roles.is_array() {
        roles
    } else {
        json_of(
            app.get_as("/v1/workspaces/acme/roles", &bob.session.cookie)
                .await,
        )
        .await
    };
    assert_eq!(roles[0]["systemKey"], "OWNER");
    assert_eq!(roles[0]["memberCount"], 1);
}

#[tokio::test]
async fn custom_roles_are_created_edited_and_deleted_within_the_rules() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let owner = workspace.owner.cookie.clone();
    let member = app.join(&workspace, "cy@example.com", None).await;
    let send = |method: Method, path: &str, cookie: &str, body: Option<Value>| {
        let (path, cookie) = (
            format!("/v1/workspaces/acme/roles{path}"),
            cookie.to_owned(),
        );
        async move { app.send_as(method, &path, Some(&cookie), body).await }
    };
    let mut events = app.events.subscribe();

    let body = json!({
        "name": "  Editors ",
        "description": "Edit things",
        "permissions": ["workspace.members.invite", "workspace.settings.edit", "workspace.members.invite"]
    });
    let created = send(Method::POST, "", &owner, Some(body)).await;
    assert_eq!(created.status(), 201);
    let role = json_of(created).await;
    assert_eq!(role["name"], "Editors");
    assert_eq!(role["isSystem"], false);
    assert_eq!(role["systemKey"], Value::Null);
    assert_eq!(role["sortOrder"], 103);
    assert_eq!(role["memberCount"], 0);
    assert_eq!(
        role["permissions"],
        json!(["workspace.settings.edit", "workspace.members.invite"])
    );
    let role_id = role["id"].as_str().unwrap().to_owned();
    assert!(
        matches!(&*next_event(&mut events), WorkspaceEvent::RoleCreated { role, .. } if role.id == role_id)
    );

    for (body, status, expected) in [
        (
            json!({"name": "EDITORS", "permissions": []}),
            409,
            "role.name_taken",
        ),
        (
            json!({"name": "owner", "permissions": []}),
            409,
            "role.name_taken",
        ),
        (
            json!({"name": "X", "permissions": ["workspace.fly"]}),
            422,
            "role.unknown_permission",
        ),
        (
            json!({"name": "   ", "permissions": []}),
            422,
            "role.name_required",
        ),
        (
            json!({"name": "X", "description": "d".repeat(241), "permissions": []}),
            400,
            "validation",
        ),
        (
            json!({"name": "X", "permissions": vec!["workspace.delete"; 33]}),
            400,
            "validation",
        ),
        (json!({"name": "X"}), 400, "validation"),
    ] {
        let (got, error) =
            error_code(send(Method::POST, "", &owner, Some(body.clone())).await).await;
        assert_eq!((got, error.as_str()), (status, expected), "{body}");
    }
    let (status, error) = error_code(
        send(
            Method::POST,
            "",
            &member.session.cookie,
            Some(json!({"name": "X", "permissions": []})),
        )
        .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (403, "permission.denied"));

    let path = format!("/{role_id}");
    let renamed = send(
        Method::PATCH,
        &path,
        &owner,
        Some(json!({"name": "Writers", "description": null})),
    )
    .await;
    assert_eq!(renamed.status(), 200);
    let renamed = json_of(renamed).await;
    assert_eq!(
        (renamed["name"].as_str(), &renamed["description"]),
        (Some("Writers"), &Value::Null)
    );
    assert_eq!(renamed["memberCount"], 0);
    assert!(
        matches!(&*next_event(&mut events), WorkspaceEvent::RoleUpdated { role, .. } if role.name == "Writers")
    );

    let owner_role = format!("/{}", workspace.owner_role_id);
    let admin_role = format!("/{}", workspace.admin_role_id);
    for (path, body, status, expected) in [
        (
            &admin_role,
            json!({"name": "Chiefs"}),
            409,
            "role.system_name_locked",
        ),
        (
            &owner_role,
            json!({"permissions": []}),
            409,
            "role.owner_locked",
        ),
        (
            &owner_role,
            json!({"description": "mine"}),
            409,
            "role.owner_locked",
        ),
        (&path, json!({"name": "admin"}), 409, "role.name_taken"),
    ] {
        let (got, error) =
            error_code(send(Method::PATCH, path, &owner, Some(body.clone())).await).await;
        assert_eq!((got, error.as_str()), (status, expected), "{path} {body}");
    }
    let admin = send(
        Method::PATCH,
        &admin_role,
        &owner,
        Some(json!({"permissions": ["workspace.members.invite"]})),
    )
    .await;
    assert_eq!(admin.status(), 200);
    assert_eq!(
        json_of(admin).await["permissions"],
        json!(["workspace.members.invite"])
    );

    // Held by a member: in use until they move.
    let moved = app
        .send_as(
            Method::PATCH,
            &format!("/v1/workspaces/acme/members/{}/role", member.member_id),
            Some(&owner),
            Some(json!({"roleId": role_id})),
        )
        .await;
    assert_eq!(moved.status(), 204);
    let (status, error) = error_code(send(Method::DELETE, &path, &owner, None).await).await;
    assert_eq!((status, error.as_str()), (409, "role.in_use"));
    let (status, error) = error_code(send(Method::DELETE, &admin_role, &owner, None).await).await;
    assert_eq!((status, error.as_str()), (409, "role.system_undeletable"));
    let back = app
        .send_as(
            Method::PATCH,
            &format!("/v1/workspaces/acme/members/{}/role", member.member_id),
            Some(&owner),
            Some(json!({"roleId": workspace.member_role_id})),
        )
        .await;
    assert_eq!(back.status(), 204);
    while events.try_recv().is_ok() {}
    let deleted = send(Method::DELETE, &path, &owner, None).await;
    assert_eq!(deleted.status(), 204);
    assert!(
        matches!(&*next_event(&mut events), WorkspaceEvent::RoleDeleted { role_id: id, .. } if *id == role_id)
    );
    let (status, error) = error_code(send(Method::DELETE, &path, &owner, None).await).await;
    assert_eq!((status, error.as_str()), (404, "role.not_found"));

    let roles = json_of(
        app.get_as("/v1/workspaces/acme/roles", &member.session.cookie)
            .await,
    )
    .await;
    let names: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Owner", "Admin", "Member"]);
}

#[tokio::test]
async fn a_member_search_follows_a_new_name_or_address() {
    let app = &TestApp::spawn().await;
    let admin = app.sign_in_admin("root@example.com").await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let bob = app.join(&workspace, "bob@example.com", None).await;
    let found = async |q: &str| {
        let path = format!("/v1/workspaces/acme/members?q={q}");
        let members = json_of(app.get_as(&path, &workspace.owner.cookie).await).await;
        members.as_array().unwrap().len()
    };
    let renamed = app
        .post_as(
            "/v1/auth/update-user",
            Some(&bob.session.cookie),
            json!({"name": "Robert Émile"}),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(found("émile").await, 1, "the new name, in any case");
    let user_id = app.user_id(&bob.session).await;
    let moved = app
        .post_as(
            "/v1/auth/admin/update-user",
            Some(&admin.cookie),
            json!({"userId": user_id, "data": {"email": "rob@example.org"}}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    assert_eq!(found("rob@example.org").await, 1);
    assert_eq!(found("bob@").await, 0, "the old address no longer matches");
}
