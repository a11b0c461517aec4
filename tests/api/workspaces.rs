//! `/v1/workspaces`: opening, reading and deleting workspaces, `/v1/me`'s list, the
//! sole-owner rule on account deletion and the dev seeder.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of};

const ALL_PERMISSIONS: [&str; 8] = [
    "workspace.delete",
    "workspace.settings.edit",
    "workspace.roles.manage",
    "workspace.members.invite",
    "workspace.members.remove",
    "workspace.members.change_role",
    "workspace.billing.manage",
    "workspace.audit.view",
];

/// The client's `hashTone`.
fn tone(seed: &str) -> u32 {
    seed.encode_utf16()
        .fold(0u32, |h, unit| h.wrapping_mul(31).wrapping_add(unit.into()))
        % 6
}

fn is_id(value: &Value, prefix: &str) -> bool {
    value.as_str().is_some_and(|id| {
        id.strip_prefix(prefix)
            .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

fn is_iso(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|at| at.len() == 24 && at.ends_with('Z') && at.as_bytes()[19] == b'.')
}

#[tokio::test]
async fn opening_a_workspace_seeds_three_roles_makes_you_owner_and_mails_the_invitations() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in("ada@example.com").await;
    let body = json!({
        "name": "Acme",
        "slug": "  Acme Inc ",
        "invites": ["bob@example.com", "cy@example.com", "BOB@example.com", "ada@example.com"]
    });
    let response = app
        .send_as(
            Method::POST,
            "/v1/workspaces",
            Some(&ada.cookie),
            Some(body),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/json");
    let opened = json_of(response).await;
    let me = json_of(app.get_as("/v1/me", &ada.cookie).await).await;
    let workspace = &opened["workspace"];
    assert!(is_id(&workspace["id"], "ws_"));
    assert_eq!(workspace["slug"], "acme-inc");
    assert_eq!(workspace["name"], "Acme");
    assert_eq!(workspace["ownerId"], me["user"]["id"]);
    assert!(is_iso(&workspace["createdAt"]));
    assert_eq!(workspace.as_object().unwrap().len(), 5);

    let you = &opened["you"];
    assert!(is_id(&you["id"], "mbr_"));
    assert_eq!(you["workspaceId"], workspace["id"]);
    assert_eq!(you["userId"], me["user"]["id"]);
    assert_eq!(you["email"], "ada@example.com");
    assert_eq!(you["tone"], tone("ada@example.com"));
    assert_eq!(you["role"]["systemKey"], "OWNER");
    assert_eq!(you["role"]["permissions"], json!(ALL_PERMISSIONS));
    assert!(
        you["role"].get("memberCount").is_none(),
        "members carry no count"
    );

    let invites = opened["invites"].as_array().unwrap();
    let invited: Vec<&str> = invites
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        invited,
        ["bob@example.com", "cy@example.com"],
        "deduplicated, never yourself"
    );
    for invite in invites {
        assert!(is_id(&invite["id"], "inv_"));
        assert_eq!(invite["invitedById"], you["id"]);
        assert_eq!(invite["role"], Value::Null);
        assert_eq!(invite["acceptedAt"], Value::Null);
        assert_eq!(invite["revokedAt"], Value::Null);
    }
    for email in ["bob@example.com", "cy@example.com"] {
        app.wait_for_mail_to(email).await;
        let link = app.last_link_to(email).await;
        let token = link
            .strip_prefix("http://localhost:4001/invites/accept?token=")
            .unwrap_or_else(|| panic!("{link}"));
        assert_eq!(token.len(), 32, "24 random bytes, base64url");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    let roles = json_of(
        app.get_as("/v1/workspaces/acme-inc/roles", &ada.cookie)
            .await,
    )
    .await;
    let expected = [
        (
            "Owner",
            "OWNER",
            0,
            "Full control. This role cannot be edited or removed.",
            ALL_PERMISSIONS.to_vec(),
            1,
        ),
        (
            "Admin",
            "ADMIN",
            1,
            "Can manage members, invites, teams, and billing.",
            ALL_PERMISSIONS[1..2]
                .iter()
                .chain(&ALL_PERMISSIONS[3..])
                .copied()
                .collect(),
            0,
        ),
        (
            "Member",
            "MEMBER",
            2,
            "Default access. Can be granted more via custom roles.",
            vec![],
            0,
        ),
    ];
    let roles = roles.as_array().unwrap();
    assert_eq!(roles.len(), 3);
    for (role, (name, key, sort, description, permissions, count)) in roles.iter().zip(expected) {
        assert!(is_id(&role["id"], "wsrole_"));
        assert_eq!(role["workspaceId"], workspace["id"]);
        assert_eq!(role["name"], name);
        assert_eq!(role["systemKey"], key);
        assert_eq!(role["isSystem"], true);
        assert_eq!(role["sortOrder"], sort);
        assert_eq!(role["description"], description);
        assert_eq!(role["permissions"], json!(permissions));
        assert_eq!(role["memberCount"], count);
    }

    let mine = &me["workspaces"];
    assert_eq!(
        mine,
        &json!([{
            "id": workspace["id"], "memberId": you["id"], "slug": "acme-inc",
            "name": "Acme", "roleName": "Owner", "roleSystemKey": "OWNER"
        }])
    );
}

#[tokio::test]
async fn slugs_must_be_valid_and_free() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in("ada@example.com").await;
    let open = |slug: &str| {
        let body = json!({"name": "Acme", "slug": slug});
        app.send_as(
            Method::POST,
            "/v1/workspaces",
            Some(&ada.cookie),
            Some(body),
        )
    };
    for slug in ["1acme", "a!!", "---", "été"] {
        let response = open(slug).await;
        assert_eq!(response.status(), 422, "{slug}");
        assert_eq!(
            json_of(response).await["error"]["code"],
            "workspace_slug.invalid"
        );
    }
    assert_eq!(open("acme").await.status(), 201);
    let taken = open("ACME").await;
    assert_eq!(taken.status(), 409);
    let error = json_of(taken).await;
    assert_eq!(error["error"]["code"], "workspace.slug_taken");
    assert!(error["error"]["message"].is_string());
}

#[tokio::test]
async fn the_body_is_checked_before_the_session_and_every_limit_is_a_400() {
    let app = TestApp::spawn().await;
    let signed_out = app
        .send_as(
            Method::POST,
            "/v1/workspaces",
            None,
            Some(json!({"name": "", "slug": "acme"})),
        )
        .await;
    assert_eq!(signed_out.status(), 400);
    assert_eq!(json_of(signed_out).await["error"]["code"], "validation");
    let valid = json!({"name": "Acme", "slug": "acme"});
    let signed_out = app
        .send_as(Method::POST, "/v1/workspaces", None, Some(valid))
        .await;
    assert_eq!(signed_out.status(), 401);
    assert_eq!(json_of(signed_out).await["error"]["code"], "unauthorized");

    let ada = app.sign_in("ada@example.com").await;
    let many: Vec<String> = (0..51).map(|i| format!("p{i}@example.com")).collect();
    for body in [
        json!({"name": "A".repeat(65), "slug": "acme"}),
        json!({"name": "   ", "slug": "acme"}),
        json!({"name": "Acme", "slug": "ab"}),
        json!({"name": "Acme", "slug": "a".repeat(33)}),
        json!({"name": "Acme", "slug": "acme", "invites": many}),
        json!({"name": "Acme", "slug": "acme", "invites": ["not-an-email"]}),
        json!({"name": 7, "slug": "acme"}),
    ] {
        let response = app
            .send_as(
                Method::POST,
                "/v1/workspaces",
                Some(&ada.cookie),
                Some(body.clone()),
            )
            .await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json_of(response).await["error"]["code"], "validation");
    }
    let workspaces: Value = json_of(app.get_as("/v1/me", &ada.cookie).await).await;
    assert_eq!(
        workspaces["workspaces"],
        json!([]),
        "nothing was half-created"
    );
}

#[tokio::test]
async fn a_workspace_shows_you_and_its_members_oldest_first() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let bob = app.join(&workspace, "bob@example.com", None).await;
    let cy = app
        .join(&workspace, "cy@example.com", Some(&workspace.admin_role_id))
        .await;

    let seen = json_of(app.get_as("/v1/workspaces/acme", &cy.session.cookie).await).await;
    assert_eq!(seen["workspace"]["slug"], "acme");
    assert_eq!(seen["you"]["id"], cy.member_id.as_str());
    assert_eq!(seen["you"]["role"]["systemKey"], "ADMIN");
    let members = seen["members"].as_array().unwrap();
    let ids: Vec<&str> = members.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            workspace.owner_member_id.as_str(),
            &bob.member_id,
            &cy.member_id
        ]
    );
    assert_eq!(members[1]["role"]["systemKey"], "MEMBER");
    assert_eq!(members[1]["tone"], tone("bob@example.com"));

    let unknown = app.get_as("/v1/workspaces/nope", &cy.session.cookie).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        json_of(unknown).await["error"]["code"],
        "workspace.not_found"
    );
    let outsider = app.sign_in("eve@example.com").await;
    let refused = app.get_as("/v1/workspaces/acme", &outsider.cookie).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        json_of(refused).await["error"],
        json!({"code": "forbidden", "message": "forbidden"})
    );
}

#[tokio::test]
async fn only_a_member_with_workspace_delete_deletes_it_and_everything_goes() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let admin = app
        .join(
            &workspace,
            "bob@example.com",
            Some(&workspace.admin_role_id),
        )
        .await;
    app.invite(&workspace, "cy@example.com", None).await;

    let refused = app
        .send_as(
            Method::DELETE,
            "/v1/workspaces/acme",
            Some(&admin.session.cookie),
            None,
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(json_of(refused).await["error"]["code"], "permission.denied");

    let deleted = app
        .send_as(
            Method::DELETE,
            "/v1/workspaces/acme",
            Some(&workspace.owner.cookie),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(deleted.text().await.unwrap(), "");
    let gone = app
        .get_as("/v1/workspaces/acme", &workspace.owner.cookie)
        .await;
    assert_eq!(gone.status(), 404);
    for table in [
        "workspaces",
        "workspace_roles",
        "workspace_members",
        "workspace_invites",
    ] {
        assert_eq!(
            crate::helpers::count_rows(&app.db, table).await,
            0,
            "{table}"
        );
    }
    let me = json_of(app.get_as("/v1/me", &admin.session.cookie).await).await;
    assert_eq!(me["workspaces"], json!([]));
}

#[tokio::test]
async fn a_sole_owner_cannot_delete_their_account_until_someone_else_owns_the_workspace() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let ada = &workspace.owner.cookie;
    let blocking = json_of(
        app.get_as("/v1/me/owned-workspaces-blocking-delete", ada)
            .await,
    )
    .await;
    assert_eq!(
        blocking,
        json!({"workspaces": [{"id": workspace.id, "name": "Workspace acme", "slug": "acme"}]})
    );
    let refused = app
        .post_as("/v1/auth/delete-user", Some(ada), json!({}))
        .await;
    assert_eq!(refused.status(), 409);
    assert_eq!(
        json_of(refused).await["error"]["code"],
        "account.delete.sole_owner",
        "the domain error keeps the envelope on an auth route"
    );

    let bob = app.join(&workspace, "bob@example.com", None).await;
    let path = format!("/v1/workspaces/acme/members/{}/role", bob.member_id);
    let promoted = app
        .send_as(
            Method::PATCH,
            &path,
            Some(ada),
            Some(json!({"roleId": workspace.owner_role_id})),
        )
        .await;
    assert_eq!(promoted.status(), 204);
    let blocking = json_of(
        app.get_as("/v1/me/owned-workspaces-blocking-delete", ada)
            .await,
    )
    .await;
    assert_eq!(blocking, json!({"workspaces": []}));

    // An admin removes Ada: the workspace names its other owner as creator.
    let admin = app.sign_in_admin("root@example.com").await;
    let me = json_of(app.get_as("/v1/me", ada).await).await;
    let removed = app
        .post_as(
            "/v1/auth/admin/remove-user",
            Some(&admin.cookie),
            json!({"userId": me["user"]["id"]}),
        )
        .await;
    assert_eq!(removed.status(), 200);
    let seen = json_of(app.get_as("/v1/workspaces/acme", &bob.session.cookie).await).await;
    assert_eq!(seen["workspace"]["ownerId"], seen["you"]["userId"]);
    assert_eq!(seen["members"].as_array().unwrap().len(), 1);

    // Bob is now the only owner: an admin cannot remove him either.
    let refused = app
        .post_as(
            "/v1/auth/admin/remove-user",
            Some(&admin.cookie),
            json!({"userId": seen["you"]["userId"]}),
        )
        .await;
    assert_eq!(refused.status(), 409);
}

#[tokio::test]
async fn the_dev_seeder_adds_members_to_your_workspace() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let path = "/v1/dev/seed-members/acme";
    let seeded = app
        .send_as(
            Method::POST,
            path,
            Some(&workspace.owner.cookie),
            Some(json!({"count": 3})),
        )
        .await;
    assert_eq!(seeded.status(), 200);
    let seeded = json_of(seeded).await;
    assert_eq!(seeded["ok"], true);
    let created = seeded["created"].as_array().unwrap();
    assert_eq!(created.len(), 3);
    for member in created {
        assert!(is_id(&member["id"], "mbr_"));
        assert!(
            member["email"]
                .as_str()
                .unwrap()
                .ends_with("@dev.orbit.local")
        );
        assert!(member["name"].as_str().unwrap().contains(' '));
    }
    let seen = json_of(
        app.get_as("/v1/workspaces/acme", &workspace.owner.cookie)
            .await,
    )
    .await;
    assert_eq!(seen["members"].as_array().unwrap().len(), 4);
    let defaulted = app
        .send_as(
            Method::POST,
            path,
            Some(&workspace.owner.cookie),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        json_of(defaulted).await["created"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    for count in [0, 21] {
        let refused = app
            .send_as(
                Method::POST,
                path,
                Some(&workspace.owner.cookie),
                Some(json!({"count": count})),
            )
            .await;
        assert_eq!(refused.status(), 400, "{count}");
    }
    let outsider = app.sign_in("eve@example.com").await;
    let refused = app
        .send_as(Method::POST, path, Some(&outsider.cookie), Some(json!({})))
        .await;
    assert_eq!(refused.status(), 403);
}

#[tokio::test]
async fn a_refused_body_lists_each_wrong_field_as_the_node_api_does() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in("ada@example.com").await;
    let body = json!({"name": "", "slug": 5, "invites": ["not-an-address", 3]});
    let response = app
        .send_as(
            Method::POST,
            "/v1/workspaces",
            Some(&ada.cookie),
            Some(body),
        )
        .await;
    assert_eq!(response.status(), 400);
    let error = json_of(response).await["error"].clone();
    assert_eq!(error["code"], "validation");
    let mut issues: Vec<(String, String)> = error["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| {
            assert!(issue["message"].as_str().is_some_and(|m| !m.is_empty()));
            (
                issue["path"].to_string(),
                issue["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    issues.sort();
    assert_eq!(
        issues,
        [
            (r#"["invites",0]"#.to_owned(), "invalid_format".to_owned()),
            (r#"["invites",1]"#.to_owned(), "invalid_type".to_owned()),
            (r#"["name"]"#.to_owned(), "too_small".to_owned()),
            (r#"["slug"]"#.to_owned(), "invalid_type".to_owned()),
        ]
    );

    let missing = app
        .send_as(
            Method::POST,
            "/v1/workspaces",
            Some(&ada.cookie),
            Some(json!({})),
        )
        .await;
    let issues = json_of(missing).await["error"]["issues"].clone();
    assert_eq!(issues[0]["path"], json!(["name"]));
    assert_eq!(issues[1]["path"], json!(["slug"]));
    let long_query = format!("/v1/workspaces/x/members?q={}", "a".repeat(161));
    let refused = json_of(app.get_as(&long_query, &ada.cookie).await).await;
    assert_eq!(refused["error"]["issues"][0]["path"], json!(["q"]));
    let not_json = app
        .client
        .post(app.url("/v1/workspaces"))
        .header("cookie", &ada.cookie)
        .header("origin", crate::helpers::WEB_ORIGIN)
        .header("content-type", "application/json")
        .body("{\"name\":")
        .send()
        .await
        .unwrap();
    let refused = json_of(not_json).await;
    assert_eq!(refused["error"]["issues"][0]["path"], json!([]));
}

/// The system keys of the roles of workspace `acme` that hold `permission`.
async fn holders(app: &TestApp, cookie: &str, permission: &str) -> Vec<String> {
    let roles = json_of(app.get_as("/v1/workspaces/acme/roles", cookie).await).await;
    roles
        .as_array()
        .unwrap()
        .iter()
        .filter(|role| {
            role["permissions"]
                .as_array()
                .unwrap()
                .contains(&json!(permission))
        })
        .map(|role| role["systemKey"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn migrations_give_existing_owners_and_admins_each_new_permission() {
    use migration::MigratorTrait;
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = &workspace.owner.cookie;
    for (permission, added_by) in [
        ("workspace.audit.view", "create_audit_entries"),
        ("workspace.billing.manage", "create_billing"),
    ] {
        assert_eq!(holders(&app, cookie, permission).await, ["OWNER", "ADMIN"]);
        // As a workspace made before the permission existed, then migrated.
        let since = migration::Migrator::migrations()
            .iter()
            .rev()
            .position(|step| step.name().contains(added_by))
            .unwrap() as u32
            + 1;
        migration::Migrator::down(&app.db, Some(since))
            .await
            .unwrap();
        assert!(
            holders(&app, cookie, permission).await.is_empty(),
            "{permission}"
        );
        migration::Migrator::up(&app.db, None).await.unwrap();
        assert_eq!(holders(&app, cookie, permission).await, ["OWNER", "ADMIN"]);
    }
}
