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

/// A term made mostly of trigrams every address shares (`mem`, `ber`, `cor`…) is looked up by
/// its rare ones, which the statistics ANALYZE keeps name; the rows they find are checked
/// against the whole term, so the answers are exactly those of a plain `LIKE`.
#[tokio::test]
async fn searches_of_common_trigrams_find_exactly_their_matches() {
    let Some((app, _)) = TestApp::spawn_on_postgres(&[]).await else {
        return;
    };
    let admin = app.sign_in_admin("root@example.com").await;
    let insert = "INSERT INTO users (id, email, name, email_verified, avatar_tone, role, banned, created_at, updated_at) \
        SELECT 'user_' || lpad(to_hex(n), 32, '0'), address, 'Member ' || n, true, 0, 'user', false, now(), now() \
        FROM (SELECT n, 'member' || n || '@corp.test' AS address FROM generate_series(1, 200) AS n \
              UNION ALL VALUES (1001, 'zed17@corp.test'), (1002, 'zed170@corp.test')) AS seeded(n, address)";
    app.db.execute_unprepared(insert).await.unwrap();
    app.db.execute_unprepared("ANALYZE users").await.unwrap();
    let common = "SELECT count(*) AS n FROM pg_stats_ext_exprs s, \
        unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS e(trigram, share) \
        WHERE s.statistics_name = 'users_email_trigrams' AND e.trigram IN ('mem', 'cor') AND e.share > 0.5";
    let row = app
        .db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, common))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<i64>("", "n").unwrap(),
        2,
        "the shared trigrams are known"
    );

    let emails = |query: &'static str| {
        let (app, cookie) = (&app, admin.cookie.clone());
        async move {
            let path = format!("/v1/auth/admin/list-users?limit=100&sortBy=email&{query}");
            let list = crate::helpers::json_of(app.get_as(&path, &cookie).await).await;
            let emails: Vec<String> = list["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|user| user["email"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(list["total"], emails.len(), "{query}");
            emails
        }
    };
    assert_eq!(
        emails("searchValue=MEMBER17@").await,
        ["member17@corp.test"]
    );
    assert_eq!(
        emails("searchValue=zed17@").await,
        ["zed17@corp.test"],
        "zed170 has the rare part only"
    );
    assert_eq!(
        emails("searchValue=zed17&searchOperator=starts_with").await,
        ["zed170@corp.test", "zed17@corp.test"]
    );
    assert_eq!(
        emails("searchValue=d170@corp.test&searchOperator=ends_with").await,
        ["zed170@corp.test"]
    );
    assert_eq!(
        emails("searchValue=ber19").await.len(),
        11,
        "member19 and member190…199"
    );
    assert_eq!(
        emails("searchValue=Member%20200&searchField=name").await,
        ["member200@corp.test"]
    );
    assert!(emails("searchValue=zed17x").await.is_empty());
}
