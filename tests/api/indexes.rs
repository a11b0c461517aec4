//! The indexes the lists and searches rely on exist after migrating, on either database.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::helpers::TestApp;

#[tokio::test]
async fn every_list_and_search_has_its_index() {
    let app = TestApp::spawn().await;
    let backend = app.db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'index'",
    };
    let names: Vec<String> = app
        .db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect();
    let mut expected = vec![
        "idx_users_created_at_id",
        "idx_workspace_members_workspace_created",
        "idx_workspace_invites_pending_expiry",
        "idx_workspace_invites_pending_created",
        "idx_sessions_user_created",
    ];
    if backend == DbBackend::Postgres {
        // The test role may create the trusted pg_trgm extension.
        expected.extend([
            "idx_users_name_trgm",
            "idx_users_email_trgm",
            "idx_workspace_invites_email_trgm",
            "idx_workspace_members_search_trgm",
        ]);
    }
    for index in expected {
        assert!(
            names.iter().any(|name| name == index),
            "{index} missing: {names:?}"
        );
    }
    assert!(
        !names.iter().any(|name| name == "idx_sessions_user_id"),
        "the composite session index replaces the single-column one"
    );
}
