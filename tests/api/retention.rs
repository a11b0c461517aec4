//! The scheduled cleanups: expired sessions and mailed tokens, and invitations finished
//! longer than `INVITE_RETENTION_DAYS` ago, are deleted; everything still live is kept.

use std::time::Duration;

use sea_orm::ConnectionTrait;

use crate::helpers::{TestApp, count_rows, days_ago, eventually};

#[tokio::test]
async fn cleanups_delete_what_expired_and_keep_what_lives() {
    let app = TestApp::spawn_with(&[
        (
            "JOBS_SCHEDULES",
            "auth.prune=@every 1s;invites.prune=@every 1s",
        ),
        ("INVITE_RETENTION_DAYS", "1"),
    ])
    .await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    for guest in ["old", "recent", "pending"] {
        app.invite(&workspace, &format!("{guest}@example.com"), None)
            .await;
    }
    let stale = app.sign_in("bob@example.com").await;
    // A link mailed and never used: its token waits in `verifications`.
    let body = serde_json::json!({"email": "carol@example.com"});
    let mailed = app.post_as("/v1/auth/sign-in/magic-link", None, body).await;
    assert_eq!(mailed.status(), 200);
    let backend = app.db.get_database_backend();
    let (two_days_ago, now) = (days_ago(backend, 2), days_ago(backend, 0));
    for sql in [
        format!(
            "UPDATE workspace_invites SET revoked_at = {two_days_ago} WHERE email = 'old@example.com'"
        ),
        format!(
            "UPDATE workspace_invites SET revoked_at = {now} WHERE email = 'recent@example.com'"
        ),
        format!(
            "UPDATE sessions SET expires_at = {two_days_ago} WHERE user_id = \
             (SELECT id FROM users WHERE email = 'bob@example.com')"
        ),
        format!("UPDATE verifications SET expires_at = {two_days_ago}"),
    ] {
        app.db.execute_unprepared(&sql).await.unwrap();
    }
    assert!(count_rows(&app.db, "verifications").await > 0);

    eventually("the cleanups ran", Duration::from_secs(10), async || {
        count_rows(&app.db, "workspace_invites").await == 2
            && count_rows(&app.db, "verifications").await == 0
    })
    .await;
    eventually("the session is gone", Duration::from_secs(10), async || {
        app.get_as("/v1/me", &stale.cookie).await.status() == 401
            && count_rows(&app.db, "sessions").await == 1
    })
    .await;
    let kept: Vec<String> = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT email FROM workspace_invites ORDER BY email",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get("", "email").unwrap())
        .collect();
    assert_eq!(kept, ["pending@example.com", "recent@example.com"]);
    let me = app.get_as("/v1/me", &workspace.owner.cookie).await;
    assert_eq!(me.status(), 200, "a live session is kept");
}
