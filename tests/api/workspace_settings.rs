//! Renaming a workspace, leaving it, handing it over, and `ownerId` staying an owner.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Joined, TestApp, Workspace, error_code, json_of};
use crate::realtime::{connect_to, next_of};

async fn owner_id(app: &TestApp, workspace: &Workspace, slug: &str) -> Value {
    let view = app
        .get_as(&format!("/v1/workspaces/{slug}"), &workspace.owner.cookie)
        .await;
    json_of(view).await["workspace"]["ownerId"].clone()
}

#[tokio::test]
async fn a_workspace_is_renamed_and_moved_by_those_who_may_edit_its_settings() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    app.open_workspace("bo@example.com", "taken").await;
    let member = app.join(&workspace, "mem@example.com", None).await;
    let owner = Some(workspace.owner.cookie.as_str());
    let mut socket = connect_to(&app.base, "?workspace=acme", Some(&member.session.cookie))
        .await
        .unwrap();
    next_of(&mut socket, "hello").await;

    let patch = |cookie: Option<&str>, body: Value| {
        let cookie = cookie.map(str::to_owned);
        let app = &app;
        async move {
            let path = "/v1/workspaces/acme";
            app.send_as(Method::PATCH, path, cookie.as_deref(), Some(body))
                .await
        }
    };
    let refused = patch(Some(&member.session.cookie), json!({"name": "Mine"})).await;
    assert_eq!(error_code(refused).await, (403, "permission.denied".into()));
    let refused = patch(owner, json!({"slug": "Taken"})).await;
    assert_eq!(
        error_code(refused).await,
        (409, "workspace.slug_taken".into())
    );
    let refused = patch(owner, json!({"slug": "1abc"})).await;
    assert_eq!(
        error_code(refused).await,
        (422, "workspace_slug.invalid".into())
    );
    let refused = patch(owner, json!({"name": "   "})).await;
    assert_eq!(error_code(refused).await, (400, "validation".into()));

    let updated = patch(owner, json!({"name": " Acme Labs ", "slug": "Acme Labs"})).await;
    assert_eq!(updated.status(), 200);
    let updated = json_of(updated).await;
    assert_eq!(updated["name"], "Acme Labs");
    assert_eq!(updated["slug"], "acme-labs");
    assert_eq!(updated["id"], workspace.id.as_str());
    let event = next_of(&mut socket, "workspace.updated").await;
    assert_eq!(event["workspace"]["slug"], "acme-labs");

    let old = app
        .get_as("/v1/workspaces/acme", &workspace.owner.cookie)
        .await;
    assert_eq!(old.status(), 404);
    let unchanged = app
        .send_as(
            Method::PATCH,
            "/v1/workspaces/acme-labs",
            owner,
            Some(json!({"name": null})),
        )
        .await;
    assert_eq!(json_of(unchanged).await["name"], "Acme Labs");
}

#[tokio::test]
async fn members_leave_but_the_last_owner_stays() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let member = app.join(&workspace, "mem@example.com", None).await;
    let mut socket = connect_to(&app.base, "?workspace=acme", Some(&workspace.owner.cookie))
        .await
        .unwrap();
    next_of(&mut socket, "hello").await;
    let leave = |cookie: &str| {
        let cookie = cookie.to_owned();
        let app = &app;
        async move {
            app.send_as(
                Method::POST,
                "/v1/workspaces/acme/leave",
                Some(&cookie),
                None,
            )
            .await
        }
    };

    assert_eq!(leave(&member.session.cookie).await.status(), 204);
    let left = next_of(&mut socket, "workspace.member.left").await;
    assert_eq!(left["workspaceMemberId"], member.member_id.as_str());
    let gone = app
        .get_as("/v1/workspaces/acme", &member.session.cookie)
        .await;
    assert_eq!(error_code(gone).await, (403, "forbidden".into()));
    let again = leave(&member.session.cookie).await;
    assert_eq!(again.status(), 403);

    let refused = leave(&workspace.owner.cookie).await;
    assert_eq!(error_code(refused).await, (409, "member.last_owner".into()));
}

#[tokio::test]
async fn ownership_is_handed_over_by_an_owner_only() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let admin = app
        .join(
            &workspace,
            "adm@example.com",
            Some(&workspace.admin_role_id),
        )
        .await;
    let heir = app.join(&workspace, "heir@example.com", None).await;
    let mut socket = connect_to(&app.base, "?workspace=acme", Some(&heir.session.cookie))
        .await
        .unwrap();
    next_of(&mut socket, "hello").await;
    let transfer = |cookie: &str, member_id: &str| {
        let cookie = cookie.to_owned();
        let body = json!({"memberId": member_id});
        let app = &app;
        async move {
            let path = "/v1/workspaces/acme/transfer-ownership";
            app.send_as(Method::POST, path, Some(&cookie), Some(body))
                .await
        }
    };

    let refused = transfer(&admin.session.cookie, &heir.member_id).await;
    assert_eq!(
        error_code(refused).await,
        (403, "role.owner_mint_forbidden".into())
    );
    let refused = transfer(&workspace.owner.cookie, &workspace.owner_member_id).await;
    assert_eq!(
        error_code(refused).await,
        (409, "member.cannot_transfer_to_self".into())
    );
    let refused = transfer(
        &workspace.owner.cookie,
        "mbr_00000000000000000000000000000000",
    )
    .await;
    assert_eq!(error_code(refused).await, (404, "member.not_found".into()));

    let handed = transfer(&workspace.owner.cookie, &heir.member_id).await;
    assert_eq!(handed.status(), 200);
    let handed = json_of(handed).await;
    let heir_id = app.user_id(&heir.session).await;
    assert_eq!(handed["ownerId"], heir_id.as_str());
    let promoted = next_of(&mut socket, "workspace.member.role_changed").await;
    assert_eq!(promoted["member"]["id"], heir.member_id.as_str());
    assert_eq!(promoted["member"]["role"]["systemKey"], "OWNER");
    let stepped_down = next_of(&mut socket, "workspace.member.role_changed").await;
    assert_eq!(
        stepped_down["member"]["id"],
        workspace.owner_member_id.as_str()
    );
    assert_eq!(stepped_down["member"]["role"]["systemKey"], "ADMIN");
    let updated = next_of(&mut socket, "workspace.updated").await;
    assert_eq!(updated["workspace"]["ownerId"], heir_id.as_str());

    // The old owner is an Admin now: no longer allowed to hand it over again.
    let refused = transfer(&workspace.owner.cookie, &admin.member_id).await;
    assert_eq!(
        error_code(refused).await,
        (403, "role.owner_mint_forbidden".into())
    );
}

/// Joins as a member, then is made an Owner by the creator.
async fn join_as_owner(app: &TestApp, workspace: &Workspace, email: &str) -> Joined {
    let joined = app.join(workspace, email, None).await;
    let path = format!("/v1/workspaces/acme/members/{}/role", joined.member_id);
    let body = json!({"roleId": workspace.owner_role_id});
    let owner = Some(workspace.owner.cookie.as_str());
    let promoted = app.send_as(Method::PATCH, &path, owner, Some(body)).await;
    assert_eq!(promoted.status(), 204);
    joined
}

#[tokio::test]
async fn owner_id_names_an_owner_after_the_creator_is_removed_demoted_or_leaves() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let creator_id = owner_id(&app, &workspace, "acme").await;
    let co_owner = join_as_owner(&app, &workspace, "co@example.com").await;
    let co_owner_id = app.user_id(&co_owner.session).await;
    let third = join_as_owner(&app, &workspace, "third@example.com").await;

    // Another owner joining changes nothing.
    assert_eq!(owner_id(&app, &workspace, "acme").await, creator_id);
    let removed = app
        .send_as(
            Method::DELETE,
            &format!("/v1/workspaces/acme/members/{}", workspace.owner_member_id),
            Some(&co_owner.session.cookie),
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    let view = app
        .get_as("/v1/workspaces/acme", &co_owner.session.cookie)
        .await;
    let view = json_of(view).await;
    assert_eq!(view["workspace"]["ownerId"], co_owner_id.as_str());

    // Demoted: the next owner by seniority.
    let demoted = app
        .send_as(
            Method::PATCH,
            &format!("/v1/workspaces/acme/members/{}/role", co_owner.member_id),
            Some(&third.session.cookie),
            Some(json!({"roleId": workspace.member_role_id})),
        )
        .await;
    assert_eq!(demoted.status(), 204);
    let view = json_of(
        app.get_as("/v1/workspaces/acme", &third.session.cookie)
            .await,
    )
    .await;
    assert_eq!(
        view["workspace"]["ownerId"],
        app.user_id(&third.session).await.as_str()
    );
}

#[tokio::test]
async fn two_owners_leaving_at_once_leave_one_owner() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let co_owner = join_as_owner(&app, &workspace, "co@example.com").await;
    let leave = |cookie: &str| {
        let cookie = cookie.to_owned();
        let app = &app;
        async move {
            app.send_as(
                Method::POST,
                "/v1/workspaces/acme/leave",
                Some(&cookie),
                None,
            )
            .await
        }
    };
    let (first, second) = tokio::join!(
        leave(&workspace.owner.cookie),
        leave(&co_owner.session.cookie)
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [204, 409], "exactly one leaves");
    let stayed = match first.status().as_u16() {
        204 => &co_owner.session.cookie,
        _ => &workspace.owner.cookie,
    };
    let view = json_of(app.get_as("/v1/workspaces/acme", stayed).await).await;
    assert_eq!(view["members"].as_array().unwrap().len(), 1);
    assert_eq!(view["you"]["role"]["systemKey"], "OWNER");
    assert_eq!(view["workspace"]["ownerId"], view["you"]["userId"]);
}
