//! The admin plugin: who may call it, managing users and sessions, impersonation.

use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{SignedIn, TestApp, json_of, set_cookie_header, set_cookies};
use orbit::auth::entities::{session, user};

const PASSWORD: &str = "correct horse battery";

async fn status_and_code(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, json_of(response).await["code"].clone())
}

#[tokio::test]
async fn only_admins_get_in() {
    let app = TestApp::spawn().await;
    let plain = app.sign_in("plain@example.com").await;
    let target = app.user_id(&plain).await;
    let id = json!({"userId": target});
    let posts = [
        (
            "create-user",
            json!({"email": "n@example.com", "name": "N"}),
            "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS",
        ),
        (
            "update-user",
            json!({"userId": target, "data": {"name": "x"}}),
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS",
        ),
        (
            "set-role",
            json!({"userId": target, "role": "admin"}),
            "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE",
        ),
        (
            "set-user-password",
            json!({"userId": target, "newPassword": PASSWORD}),
            "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD",
        ),
        ("ban-user", id.clone(), "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
        ("unban-user", id.clone(), "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
        (
            "list-user-sessions",
            id.clone(),
            "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS",
        ),
        (
            "revoke-user-session",
            json!({"sessionToken": plain.token}),
            "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS",
        ),
        (
            "revoke-user-sessions",
            id.clone(),
            "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS",
        ),
        (
            "remove-user",
            id.clone(),
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS",
        ),
        (
            "impersonate-user",
            id.clone(),
            "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS",
        ),
    ];
    for (route, body, code) in posts {
        let path = format!("/v1/auth/admin/{route}");
        let signed_out = app.post_as(&path, None, body.clone()).await;
        assert_eq!(signed_out.status(), 401, "{route}");
        let refused = app.post_as(&path, Some(&plain.cookie), body).await;
        assert_eq!(
            status_and_code(refused).await,
            (403, json!(code)),
            "{route}"
        );
    }
    for (path, code) in [
        (
            "/v1/auth/admin/list-users",
            "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS",
        ),
        (
            &format!("/v1/auth/admin/get-user?id={target}"),
            "YOU_ARE_NOT_ALLOWED_TO_GET_USER",
        ),
    ] {
        assert_eq!(app.get(path).await.status(), 401, "{path}");
        let refused = app.get_as(path, &plain.cookie).await;
        assert_eq!(status_and_code(refused).await, (403, json!(code)), "{path}");
    }
    let me = json_of(app.get_as("/v1/me", &plain.cookie).await).await;
    assert_eq!(me["user"]["role"], "user", "nothing changed");

    let check = json!({"permissions": {"user": ["list"]}});
    let response = app
        .post_as("/v1/auth/admin/has-permission", Some(&plain.cookie), check)
        .await;
    assert_eq!(
        json_of(response).await,
        json!({"error": null, "success": false})
    );
}

#[tokio::test]
async fn admins_list_search_and_page_users() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_admin("root@example.com").await;
    for name in ["ann", "bob", "cat", "dan"] {
        app.sign_in(&format!("{name}@corp.test")).await;
    }
    let list = |query: &str| {
        let path = format!("/v1/auth/admin/list-users{query}");
        let app = &app;
        let cookie = admin.cookie.clone();
        async move { json_of(app.get_as(&path, &cookie).await).await }
    };
    let all = list("").await;
    assert_eq!(all["total"], 5);
    assert_eq!(all["limit"], 100);
    assert!(all.get("offset").is_none(), "echoed only when given");
    assert_eq!(all["users"].as_array().unwrap().len(), 5);

    let page = list("?searchValue=CORP&limit=2&offset=1&sortBy=email&sortDirection=desc").await;
    assert_eq!(page["total"], 4);
    let emails: Vec<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["cat@corp.test", "bob@corp.test"]);

    let starts = list("?searchValue=an&searchOperator=starts_with").await;
    assert_eq!(starts["total"], 1);
    let admins = list("?filterField=role&filterValue=admin").await;
    assert_eq!(admins["users"][0]["email"], "root@example.com");
    assert_eq!(admins["total"], 1);
    let literal = list("?searchValue=%25").await;
    assert_eq!(literal["total"], 0, "% is searched for, not a wildcard");

    for bad in [
        "?limit=0",
        "?limit=101",
        "?sortBy=password",
        "?filterField=banned&filterValue=maybe",
    ] {
        let response = app
            .get_as(&format!("/v1/auth/admin/list-users{bad}"), &admin.cookie)
            .await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn admins_create_and_change_users() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_admin("root@example.com").await;
    let cookie = Some(admin.cookie.as_str());
    let body = json!({
        "email": "New@Example.com", "name": "New", "password": PASSWORD,
        "data": {"emailVerified": true}
    });
    let created = app
        .post_as("/v1/auth/admin/create-user", cookie, body.clone())
        .await;
    assert_eq!(created.status(), 200);
    let created = json_of(created).await["user"].clone();
    assert_eq!(created["email"], "new@example.com");
    assert_eq!(created["emailVerified"], true);
    assert_eq!(created["role"], "user");
    let id = created["id"].as_str().unwrap().to_owned();
    let duplicate = app
        .post_as("/v1/auth/admin/create-user", cookie, body)
        .await;
    assert_eq!(
        status_and_code(duplicate).await,
        (400, json!("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"))
    );
    let sign_in = json!({"email": "new@example.com", "password": PASSWORD});
    let response = app.post_as("/v1/auth/sign-in/email", None, sign_in).await;
    assert_eq!(response.status(), 200, "the password works");

    let fetched = json_of(
        app.get_as(&format!("/v1/auth/admin/get-user?id={id}"), &admin.cookie)
            .await,
    )
    .await;
    assert_eq!(fetched["email"], "new@example.com");
    let missing = app
        .get_as("/v1/auth/admin/get-user?id=user_missing", &admin.cookie)
        .await;
    assert_eq!(
        status_and_code(missing).await,
        (404, json!("USER_NOT_FOUND"))
    );

    let update = json!({"userId": id, "data": {"name": "Renamed", "email": "renamed@example.com"}});
    let updated = app
        .post_as("/v1/auth/admin/update-user", cookie, update)
        .await;
    let updated = json_of(updated).await;
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(updated["email"], "renamed@example.com");
    let cases = [
        (json!({"userId": id, "data": {}}), "NO_DATA_TO_UPDATE"),
        (
            json!({"userId": id, "data": {"password": PASSWORD}}),
            "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER",
        ),
        (
            json!({"userId": id, "data": {"email": "root@example.com"}}),
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        ),
        (
            json!({"userId": id, "data": {"role": "owner"}}),
            "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE",
        ),
    ];
    for (body, code) in cases {
        let response = app
            .post_as("/v1/auth/admin/update-user", cookie, body.clone())
            .await;
        assert_eq!(
            status_and_code(response).await,
            (400, json!(code)),
            "{body}"
        );
    }

    let role = json!({"userId": id, "role": "admin"});
    let response = app.post_as("/v1/auth/admin/set-role", cookie, role).await;
    assert_eq!(json_of(response).await["user"]["role"], "admin");
    let bad_role = json!({"userId": id, "role": "superuser"});
    let response = app
        .post_as("/v1/auth/admin/set-role", cookie, bad_role)
        .await;
    assert_eq!(response.status(), 400);

    let password = json!({"userId": id, "newPassword": "admin chosen password"});
    let response = app
        .post_as("/v1/auth/admin/set-user-password", cookie, password)
        .await;
    assert_eq!(json_of(response).await, json!({"status": true}));
    let sign_in = json!({"email": "renamed@example.com", "password": "admin chosen password"});
    let response = app.post_as("/v1/auth/sign-in/email", None, sign_in).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_ban_ends_sessions_until_lifted_or_expired() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_admin("root@example.com").await;
    let cookie = Some(admin.cookie.as_str());
    let kai = app.sign_up("kai@example.com", PASSWORD).await;
    let kai_id = app.user_id(&kai).await;
    let admin_id = app.user_id(&admin).await;

    let me = json!({"userId": admin_id});
    let response = app.post_as("/v1/auth/admin/ban-user", cookie, me).await;
    assert_eq!(
        status_and_code(response).await,
        (400, json!("YOU_CANNOT_BAN_YOURSELF"))
    );

    let ban = json!({"userId": kai_id, "banReason": "spam"});
    let response = app.post_as("/v1/auth/admin/ban-user", cookie, ban).await;
    let banned = json_of(response).await["user"].clone();
    assert_eq!(banned["banned"], true);
    assert_eq!(banned["banReason"], "spam");
    assert_eq!(banned["banExpires"], Value::Null);
    assert_eq!(app.get_as("/v1/me", &kai.cookie).await.status(), 401);
    let sign_in = json!({"email": "kai@example.com", "password": PASSWORD});
    let response = app
        .post_as("/v1/auth/sign-in/email", None, sign_in.clone())
        .await;
    assert_eq!(status_and_code(response).await, (403, json!("BANNED_USER")));

    let unban = json!({"userId": kai_id});
    let response = app
        .post_as("/v1/auth/admin/unban-user", cookie, unban)
        .await;
    let unbanned = json_of(response).await["user"].clone();
    assert_eq!(unbanned["banned"], false);
    assert_eq!(unbanned["banReason"], Value::Null);
    let response = app
        .post_as("/v1/auth/sign-in/email", None, sign_in.clone())
        .await;
    assert_eq!(response.status(), 200);

    let timed = json!({"userId": kai_id, "banExpiresIn": 3600});
    let response = app.post_as("/v1/auth/admin/ban-user", cookie, timed).await;
    assert!(json_of(response).await["user"]["banExpires"].is_string());
    let response = app
        .post_as("/v1/auth/sign-in/email", None, sign_in.clone())
        .await;
    assert_eq!(response.status(), 403);
    // An hour later:
    app.db
        .execute_unprepared(
            "UPDATE users SET ban_expires = '2000-01-01T00:00:00Z' WHERE email = 'kai@example.com'",
        )
        .await
        .unwrap();
    let response = app.post_as("/v1/auth/sign-in/email", None, sign_in).await;
    assert_eq!(response.status(), 200, "an expired ban no longer holds");
}

#[tokio::test]
async fn admins_list_and_end_other_users_sessions_and_remove_users() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_admin("root@example.com").await;
    let cookie = Some(admin.cookie.as_str());
    let laptop = app.sign_in("lou@example.com").await;
    let phone = app.sign_in("lou@example.com").await;
    let lou = app.user_id(&laptop).await;

    let response = app
        .post_as(
            "/v1/auth/admin/list-user-sessions",
            cookie,
            json!({"userId": lou}),
        )
        .await;
    let sessions = json_of(response).await["sessions"].clone();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(
        sessions
            .iter()
            .all(|s| s["token"].as_str().unwrap().starts_with("sess_"))
    );

    let one = json!({"sessionToken": phone.token});
    let response = app
        .post_as("/v1/auth/admin/revoke-user-session", cookie, one)
        .await;
    assert_eq!(json_of(response).await, json!({"success": true}));
    assert_eq!(app.get_as("/v1/me", &phone.cookie).await.status(), 401);
    assert_eq!(app.get_as("/v1/me", &laptop.cookie).await.status(), 200);
    let all = json!({"userId": lou});
    app.post_as("/v1/auth/admin/revoke-user-sessions", cookie, all)
        .await;
    assert_eq!(app.get_as("/v1/me", &laptop.cookie).await.status(), 401);
    assert_eq!(app.get_as("/v1/me", &admin.cookie).await.status(), 200);

    let admin_id = app.user_id(&admin).await;
    let response = app
        .post_as(
            "/v1/auth/admin/remove-user",
            cookie,
            json!({"userId": admin_id}),
        )
        .await;
    assert_eq!(
        status_and_code(response).await,
        (400, json!("YOU_CANNOT_REMOVE_YOURSELF"))
    );
    let again = app.sign_in("lou@example.com").await;
    let response = app
        .post_as("/v1/auth/admin/remove-user", cookie, json!({"userId": lou}))
        .await;
    assert_eq!(json_of(response).await, json!({"success": true}));
    assert_eq!(app.get_as("/v1/me", &again.cookie).await.status(), 401);
    assert_eq!(user::Entity::find().count(&app.db).await.unwrap(), 1);
    let response = app
        .post_as("/v1/auth/admin/remove-user", cookie, json!({"userId": lou}))
        .await;
    assert_eq!(
        status_and_code(response).await,
        (404, json!("USER_NOT_FOUND"))
    );
}

#[tokio::test]
async fn an_admin_impersonates_for_an_hour_and_comes_back() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_admin("root@example.com").await;
    let other_admin = app.sign_in_admin("ops@example.com").await;
    let ned = app.sign_in("ned@example.com").await;
    let admin_id = app.user_id(&admin).await;
    let ned_id = app.user_id(&ned).await;
    let cookie = Some(admin.cookie.as_str());

    let response = app
        .post_as(
            "/v1/auth/admin/impersonate-user",
            cookie,
            json!({"userId": app.user_id(&other_admin).await}),
        )
        .await;
    assert_eq!(
        status_and_code(response).await,
        (403, json!("YOU_CANNOT_IMPERSONATE_ADMINS"))
    );

    let response = app
        .post_as(
            "/v1/auth/admin/impersonate-user",
            cookie,
            json!({"userId": ned_id}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let session_cookie = set_cookie_header(&response, "better-auth.session_token");
    assert!(
        !session_cookie.contains("Max-Age"),
        "ends with the browser: {session_cookie}"
    );
    let pairs = set_cookies(&response);
    let jar: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let impersonating = jar.join("; ");
    assert!(impersonating.contains("better-auth.admin_session="));
    let body = json_of(response).await;
    assert_eq!(body["user"]["email"], "ned@example.com");
    assert_eq!(body["session"]["impersonatedBy"], admin_id.as_str());
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["session"]["expiresAt"].as_str().unwrap())
            .unwrap();
    let left = expires
        .signed_duration_since(chrono::Utc::now())
        .num_minutes();
    assert!((58..=60).contains(&left), "an hour, not a week: {left} min");

    let me = json_of(app.get_as("/v1/me", &impersonating).await).await;
    assert_eq!(me["user"]["email"], "ned@example.com");
    assert_eq!(me["user"]["impersonatedBy"], admin_id.as_str());
    let neds_view = json_of(app.get_as("/v1/auth/list-sessions", &ned.cookie).await).await;
    assert_eq!(
        neds_view.as_array().unwrap().len(),
        1,
        "the impersonation is not Ned's"
    );

    let nested = app
        .post_as(
            "/v1/auth/admin/impersonate-user",
            Some(&impersonating),
            json!({"userId": admin_id}),
        )
        .await;
    assert_eq!(nested.status(), 403);

    let response = app
        .post_as(
            "/v1/auth/admin/stop-impersonating",
            Some(&impersonating),
            json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let restored = SignedIn::from_response(&response);
    assert_eq!(restored.token, admin.token);
    let cleared = set_cookie_header(&response, "better-auth.admin_session");
    assert!(cleared.contains("Max-Age=0"));
    assert_eq!(json_of(response).await["user"]["email"], "root@example.com");
    assert_eq!(
        app.get_as("/v1/me", &impersonating).await.status(),
        401,
        "impersonation ended"
    );
    let me = json_of(app.get_as("/v1/me", &admin.cookie).await).await;
    assert_eq!(me["user"]["impersonatedBy"], Value::Null);
    let live = session::Entity::find().count(&app.db).await.unwrap();
    assert_eq!(live, 3);

    let response = app
        .post_as("/v1/auth/admin/stop-impersonating", cookie, json!({}))
        .await;
    assert_eq!(
        status_and_code(response).await,
        (400, json!("YOU_ARE_NOT_IMPERSONATING_ANYONE"))
    );
}

#[tokio::test]
async fn has_permission_answers_for_the_callers_role() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_admin("root@example.com").await;
    let cookie = Some(admin.cookie.as_str());
    let ask = |permissions: Value| {
        let app = &app;
        async move {
            let body = json!({"permissions": permissions});
            app.post_as("/v1/auth/admin/has-permission", cookie, body)
                .await
        }
    };
    let granted = ask(json!({"user": ["ban", "list"], "session": ["revoke"]})).await;
    assert_eq!(
        json_of(granted).await,
        json!({"error": null, "success": true})
    );
    let refused = ask(json!({"user": ["impersonate-admins"]})).await;
    assert_eq!(json_of(refused).await["success"], false);
    let empty = ask(json!({})).await;
    assert_eq!(empty.status(), 400);
}
