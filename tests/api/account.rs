//! Account management: profile, email change, deletion, linked accounts, update-session.

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{TestApp, WEB_ORIGIN, json_of};
use orbit::auth::entities::{session, user};

const PASSWORD: &str = "correct horse battery";

async fn status_and_code(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, json_of(response).await["code"].clone())
}

#[tokio::test]
async fn the_profile_is_updated_but_not_the_address() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in("ada@example.com").await;
    let cookie = Some(ada.cookie.as_str());
    let body = json!({"name": " Ada Lovelace ", "image": "https://img.test/a.png"});
    let response = app.post_as("/v1/auth/update-user", cookie, body).await;
    assert_eq!(json_of(response).await, json!({"status": true}));
    let session = json_of(app.get_as("/v1/auth/get-session", &ada.cookie).await).await;
    assert_eq!(session["user"]["name"], "Ada Lovelace");
    assert_eq!(session["user"]["image"], "https://img.test/a.png");

    let response = app
        .post_as("/v1/auth/update-user", cookie, json!({"image": null}))
        .await;
    assert_eq!(response.status(), 200);
    let session = json_of(app.get_as("/v1/auth/get-session", &ada.cookie).await).await;
    assert_eq!(session["user"]["image"], Value::Null);
    assert_eq!(session["user"]["name"], "Ada Lovelace");

    let cases = [
        (
            json!({"email": "x@example.com"}),
            400,
            "EMAIL_CAN_NOT_BE_UPDATED",
        ),
        (json!({}), 400, "NO_FIELDS_TO_UPDATE"),
        (json!({"name": ""}), 400, "VALIDATION_ERROR"),
    ];
    for (body, status, code) in cases {
        let response = app.post_as("/v1/auth/update-user", cookie, body).await;
        assert_eq!(status_and_code(response).await, (status, json!(code)));
    }
    let signed_out = app
        .post_as("/v1/auth/update-user", None, json!({"name": "x"}))
        .await;
    assert_eq!(signed_out.status(), 401);
}

#[tokio::test]
async fn the_address_changes_once_the_new_one_is_confirmed() {
    let app = TestApp::spawn().await;
    let bea = app.sign_in("bea@example.com").await;
    app.sign_in("taken@example.com").await;
    let cookie = Some(bea.cookie.as_str());
    let change = |new_email: &str| {
        let body = json!({"newEmail": new_email, "callbackURL": "/account?emailChanged=1"});
        app.post_as("/v1/auth/change-email", cookie, body)
    };

    let same = change("BEA@example.com").await;
    assert_eq!(
        status_and_code(same).await,
        (400, json!("EMAIL_IS_THE_SAME"))
    );
    let mails = app.sent_mails().await.len();
    let taken = change("taken@example.com").await;
    assert_eq!(
        json_of(taken).await,
        json!({"status": true}),
        "no enumeration"
    );
    assert_eq!(app.sent_mails().await.len(), mails, "but no mail either");

    let response = change("bea.new@example.com").await;
    assert_eq!(json_of(response).await, json!({"status": true}));
    let link = app.last_link_to("bea.new@example.com").await;
    assert!(link.starts_with("http://localhost:4002/v1/auth/verify-email?token="));
    let me = json_of(app.get_as("/v1/me", &bea.cookie).await).await;
    assert_eq!(
        me["user"]["email"], "bea@example.com",
        "unchanged until confirmed"
    );

    let confirmed = app.client.get(app.local(&link)).send().await.unwrap();
    assert_eq!(confirmed.status(), 302);
    assert_eq!(
        confirmed.headers()["location"],
        format!("{WEB_ORIGIN}/account?emailChanged=1")
    );
    let me = json_of(app.get_as("/v1/me", &bea.cookie).await).await;
    assert_eq!(me["user"]["email"], "bea.new@example.com");
    let users = user::Entity::find().count(&app.db).await.unwrap();
    assert_eq!(users, 2);
}

#[tokio::test]
async fn an_account_is_deleted_from_the_mailed_link_by_its_owner() {
    let app = TestApp::spawn().await;
    let cal = app.sign_up("cal@example.com", PASSWORD).await;
    let other = app.sign_in("dot@example.com").await;
    let cookie = Some(cal.cookie.as_str());

    let wrong = json!({"password": "not the password"});
    let response = app.post_as("/v1/auth/delete-user", cookie, wrong).await;
    assert_eq!(
        status_and_code(response).await,
        (400, json!("INVALID_PASSWORD"))
    );

    let body = json!({"callbackURL": "/?accountDeleted=1"});
    let response = app.post_as("/v1/auth/delete-user", cookie, body).await;
    assert_eq!(
        json_of(response).await,
        json!({"success": true, "message": "Verification email sent"})
    );
    let link = app.last_link_to("cal@example.com").await;
    let link = link.strip_prefix("http://localhost:4002").unwrap();
    assert!(
        link.starts_with("/v1/auth/delete-user/callback?token="),
        "{link}"
    );

    let signed_out = app.get(link).await;
    assert_eq!(signed_out.status(), 401);
    let someone_else = app.get_as(link, &other.cookie).await;
    assert_eq!(someone_else.status(), 302);
    assert_eq!(
        someone_else.headers()["location"],
        format!("{WEB_ORIGIN}/?accountDeleted=1&error=INVALID_TOKEN")
    );
    assert_eq!(app.get_as("/v1/me", &cal.cookie).await.status(), 200);

    let deleted = app.get_as(link, &cal.cookie).await;
    assert_eq!(deleted.status(), 302);
    assert_eq!(
        deleted.headers()["location"],
        format!("{WEB_ORIGIN}/?accountDeleted=1")
    );
    let cleared = crate::helpers::set_cookie_header(&deleted, "better-auth.session_token");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(app.get_as("/v1/me", &cal.cookie).await.status(), 401);
    assert_eq!(user::Entity::find().count(&app.db).await.unwrap(), 1);
    assert_eq!(session::Entity::find().count(&app.db).await.unwrap(), 1);
}

#[tokio::test]
async fn a_mailed_token_in_the_body_deletes_at_once() {
    let app = TestApp::spawn().await;
    let eli = app.sign_in("eli@example.com").await;
    let cookie = Some(eli.cookie.as_str());
    app.post_as("/v1/auth/delete-user", cookie, json!({})).await;
    let link = app.last_link_to("eli@example.com").await;
    let token = url::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == "token")
        .unwrap()
        .1
        .into_owned();
    let bad = app
        .post_as("/v1/auth/delete-user", cookie, json!({"token": "nope"}))
        .await;
    assert_eq!(status_and_code(bad).await, (400, json!("INVALID_TOKEN")));
    let response = app
        .post_as("/v1/auth/delete-user", cookie, json!({"token": token}))
        .await;
    assert_eq!(
        json_of(response).await,
        json!({"success": true, "message": "User deleted"})
    );
    assert_eq!(user::Entity::find().count(&app.db).await.unwrap(), 0);
}

#[tokio::test]
async fn linked_accounts_are_listed_without_secrets() {
    let app = TestApp::spawn().await;
    let fox = app.sign_up("fox@example.com", PASSWORD).await;
    let accounts = json_of(app.get_as("/v1/auth/list-accounts", &fox.cookie).await).await;
    let accounts = accounts.as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    let account = &accounts[0];
    assert_eq!(account["providerId"], "credential");
    assert_eq!(account["scopes"], json!([]));
    let keys: Vec<&String> = account.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "accountId",
            "createdAt",
            "id",
            "providerId",
            "scopes",
            "updatedAt",
            "userId"
        ]
    );

    let user_id = account["userId"].as_str().unwrap();
    let info = app
        .get_as(
            &format!("/v1/auth/account-info?accountId={user_id}"),
            &fox.cookie,
        )
        .await;
    let info = json_of(info).await;
    assert_eq!(info["user"]["email"], "fox@example.com");
    assert_eq!(info["user"]["emailVerified"], false);

    let magic = app.sign_in("gem@example.com").await;
    let none = json_of(app.get_as("/v1/auth/list-accounts", &magic.cookie).await).await;
    assert_eq!(none, json!([]));
    let foreign = app
        .get_as(
            &format!("/v1/auth/account-info?accountId={user_id}"),
            &magic.cookie,
        )
        .await;
    assert_eq!(
        status_and_code(foreign).await,
        (400, json!("ACCOUNT_NOT_FOUND"))
    );
}

#[tokio::test]
async fn update_session_refuses_what_it_cannot_change() {
    let app = TestApp::spawn().await;
    let hal = app.sign_in("hal@example.com").await;
    let cookie = Some(hal.cookie.as_str());
    let core = app
        .post_as(
            "/v1/auth/update-session",
            cookie,
            json!({"expiresAt": "2099-01-01"}),
        )
        .await;
    assert_eq!(
        status_and_code(core).await,
        (400, json!("FIELD_NOT_ALLOWED"))
    );
    let nothing = app
        .post_as("/v1/auth/update-session", cookie, json!({}))
        .await;
    assert_eq!(
        status_and_code(nothing).await,
        (400, json!("NO_FIELDS_TO_UPDATE"))
    );
}
