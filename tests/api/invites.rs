//! Invitations: created, listed, revoked, renewed, expired, and accepted once by the user
//! they were sent to.

use chrono::{Duration, Utc};
use orbit::auth::tokens::hash_token;
use orbit::workspaces::entities::invite;
use orbit::workspaces::events::WorkspaceEvent;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, count_rows, error_code, invite_token, json_of};

#[tokio::test]
async fn an_invitation_is_accepted_once_by_the_user_it_was_sent_to() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let owner = &workspace.owner.cookie;
    let body = json!({"email": "Bob@Example.com", "roleId": workspace.admin_role_id});
    let created = app
        .send_as(
            Method::POST,
            "/v1/workspaces/acme/invites",
            Some(owner),
            Some(body),
        )
        .await;
    assert_eq!(created.status(), 201);
    let invite = json_of(created).await["invite"].clone();
    assert_eq!(invite["email"], "bob@example.com");
    assert_eq!(invite["workspaceId"], workspace.id.as_str());
    assert_eq!(invite["invitedById"], workspace.owner_member_id.as_str());
    assert_eq!(invite["role"]["systemKey"], "ADMIN");
    assert!(invite["role"].get("memberCount").is_none());
    let mail = app
        .sent_mails()
        .await
        .into_iter()
        .rev()
        .find(|m| m.to == "bob@example.com")
        .unwrap();
    assert!(mail.subject.contains("Workspace acme"));
    let token = invite_token(&app.last_link_to("bob@example.com").await);
    let stored = invite::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert_eq!(
        stored.token_hash,
        hash_token(&token),
        "only the token's SHA-256 is stored"
    );

    let listed = json_of(app.get_as("/v1/workspaces/acme/invites", owner).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], invite["id"]);

    let accept = |cookie: String, token: String| async move {
        app.send_as(
            Method::POST,
            "/v1/invites/accept",
            Some(&cookie),
            Some(json!({"token": token})),
        )
        .await
    };
    let eve = app.sign_in("eve@example.com").await;
    let (status, error) = error_code(accept(eve.cookie.clone(), token.clone()).await).await;
    assert_eq!((status, error.as_str()), (409, "invite.email_mismatch"));

    let bob = app.sign_in("bob@example.com").await;
    let mut events = app.events.subscribe();
    let accepted = accept(bob.cookie.clone(), token.clone()).await;
    assert_eq!(accepted.status(), 200);
    let accepted = json_of(accepted).await;
    assert_eq!(accepted["workspace"]["slug"], "acme");
    assert_eq!(accepted["member"]["email"], "bob@example.com");
    assert_eq!(accepted["member"]["role"]["systemKey"], "ADMIN");
    match &*events.try_recv().unwrap() {
        WorkspaceEvent::MemberJoined { member, .. } => assert_eq!(member.email, "bob@example.com"),
        other => panic!("{other:?}"),
    }

    let (status, error) = error_code(accept(bob.cookie.clone(), token.clone()).await).await;
    assert_eq!(
        (status, error.as_str()),
        (401, "unauthorized"),
        "single use"
    );
    let listed = json_of(app.get_as("/v1/workspaces/acme/invites", owner).await).await;
    assert_eq!(
        listed,
        json!([]),
        "accepted invitations are no longer pending"
    );
    let path = format!(
        "/v1/workspaces/acme/invites/{}",
        invite["id"].as_str().unwrap()
    );
    let (status, error) =
        error_code(app.send_as(Method::DELETE, &path, Some(owner), None).await).await;
    assert_eq!((status, error.as_str()), (409, "invite.accepted"));
}

#[tokio::test]
async fn inviting_follows_the_rules() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let other = app.open_workspace("zed@example.com", "other").await;
    let owner = workspace.owner.cookie.clone();
    let member = app.join(&workspace, "cy@example.com", None).await;
    let invite = |cookie: &str, body: Value| {
        let cookie = cookie.to_owned();
        async move {
            app.send_as(
                Method::POST,
                "/v1/workspaces/acme/invites",
                Some(&cookie),
                Some(body),
            )
            .await
        }
    };
    let cases = [
        (
            &owner,
            json!({"email": "CY@example.com"}),
            409,
            "invite.already_member",
        ),
        (
            &owner,
            json!({"email": "ada@example.com"}),
            409,
            "invite.already_member",
        ),
        (
            &owner,
            json!({"email": "x@example.com", "roleId": workspace.owner_role_id}),
            403,
            "invite.owner_role_forbidden",
        ),
        (
            &owner,
            json!({"email": "x@example.com", "roleId": other.member_role_id}),
            404,
            "role.not_found",
        ),
        (
            &owner,
            json!({"email": "x@example.com", "roleId": "mbr_0123456789abcdef0123456789abcdef"}),
            400,
            "validation",
        ),
        (&owner, json!({"email": "not-an-email"}), 400, "validation"),
        (
            &member.session.cookie,
            json!({"email": "x@example.com"}),
            403,
            "permission.denied",
        ),
    ];
    for (cookie, body, status, expected) in cases {
        let (got, error) = error_code(invite(cookie, body.clone()).await).await;
        assert_eq!((got, error.as_str()), (status, expected), "{body}");
    }
    let listed = app
        .get_as("/v1/workspaces/acme/invites", &member.session.cookie)
        .await;
    assert_eq!(listed.status(), 403);
    assert_eq!(
        count_rows(&app.db, "workspace_invites").await,
        1,
        "only cy's, accepted"
    );
}

#[tokio::test]
async fn inviting_again_renews_the_pending_invitation_and_mails_are_rate_limited() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let first = app.invite(&workspace, "bob@example.com", None).await;
    let second = app
        .invite(
            &workspace,
            "bob@example.com",
            Some(&workspace.admin_role_id),
        )
        .await;
    assert_ne!(first, second);
    let listed = json_of(
        app.get_as("/v1/workspaces/acme/invites", &workspace.owner.cookie)
            .await,
    )
    .await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "one pending invitation per address"
    );
    assert_eq!(listed[0]["role"]["systemKey"], "ADMIN");

    let bob = app.sign_in("bob@example.com").await;
    let accept = |token: &str| {
        let body = json!({"token": token});
        app.send_as(
            Method::POST,
            "/v1/invites/accept",
            Some(&bob.cookie),
            Some(body),
        )
    };
    assert_eq!(accept(&first).await.status(), 401, "the old link is dead");

    for _ in 0..3 {
        app.invite(&workspace, "bob@example.com", None).await;
    }
    let body = json!({"email": "bob@example.com"});
    let refused = app
        .send_as(
            Method::POST,
            "/v1/workspaces/acme/invites",
            Some(&workspace.owner.cookie),
            Some(body),
        )
        .await;
    assert_eq!(
        refused.status(),
        429,
        "five mails to one address per ten minutes"
    );
    assert!(refused.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn revoked_and_expired_invitations_cannot_be_accepted() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let owner = &workspace.owner.cookie;
    let token = app.invite(&workspace, "bob@example.com", None).await;
    let listed = json_of(app.get_as("/v1/workspaces/acme/invites?q=BOB", owner).await).await;
    let invite_id = listed[0]["id"].as_str().unwrap().to_owned();
    let none = json_of(app.get_as("/v1/workspaces/acme/invites?q=zed", owner).await).await;
    assert_eq!(none, json!([]));

    let path = format!("/v1/workspaces/acme/invites/{invite_id}");
    for _ in 0..2 {
        let revoked = app.send_as(Method::DELETE, &path, Some(owner), None).await;
        assert_eq!(revoked.status(), 204, "revoking is idempotent");
    }
    let bob = app.sign_in("bob@example.com").await;
    let body = json!({"token": token});
    let accept = app
        .send_as(
            Method::POST,
            "/v1/invites/accept",
            Some(&bob.cookie),
            Some(body),
        )
        .await;
    assert_eq!(accept.status(), 401);
    let missing = app
        .send_as(
            Method::DELETE,
            "/v1/workspaces/acme/invites/inv_0123456789abcdef0123456789abcdef",
            Some(owner),
            None,
        )
        .await;
    assert_eq!(
        error_code(missing).await,
        (404, "invite.not_found".to_owned())
    );

    let token = app.invite(&workspace, "cy@example.com", None).await;
    invite::Entity::update_many()
        .col_expr(
            invite::Column::ExpiresAt,
            Expr::value(Utc::now() - Duration::seconds(1)),
        )
        .filter(invite::Column::Email.eq("cy@example.com"))
        .exec(&app.db)
        .await
        .unwrap();
    let listed = json_of(app.get_as("/v1/workspaces/acme/invites", owner).await).await;
    assert_eq!(listed, json!([]), "expired invitations are not pending");
    let cy = app.sign_in("cy@example.com").await;
    let accept = app
        .send_as(
            Method::POST,
            "/v1/invites/accept",
            Some(&cy.cookie),
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(accept.status(), 401);
}

#[tokio::test]
async fn accepting_checks_the_body_before_the_session() {
    let app = TestApp::spawn().await;
    let short = app
        .send_as(
            Method::POST,
            "/v1/invites/accept",
            None,
            Some(json!({"token": "short"})),
        )
        .await;
    assert_eq!(error_code(short).await, (400, "validation".to_owned()));
    let signed_out = app
        .send_as(
            Method::POST,
            "/v1/invites/accept",
            None,
            Some(json!({"token": "long-enough-token"})),
        )
        .await;
    assert_eq!(
        error_code(signed_out).await,
        (401, "unauthorized".to_owned())
    );
    let bob = app.sign_in("bob@example.com").await;
    let unknown = app
        .send_as(
            Method::POST,
            "/v1/invites/accept",
            Some(&bob.cookie),
            Some(json!({"token": "long-enough-token"})),
        )
        .await;
    assert_eq!(error_code(unknown).await, (401, "unauthorized".to_owned()));
}
