//! Steps several migrations take.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Creates each `(name, columns)` index on `table`.
pub async fn create_indexes<'a, C: IntoIden>(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    indexes: impl IntoIterator<Item = (&'a str, Vec<C>)>,
) -> Result<(), DbErr> {
    let table = table.into_iden();
    for (name, columns) in indexes {
        let mut index = Index::create();
        index.name(name).table(table.clone());
        for column in columns {
            index.col(column);
        }
        manager.create_index(index.to_owned()).await?;
    }
    Ok(())
}

/// Gives a new workspace permission to every Owner and Admin role (a role's permissions are
/// stored as a JSON array of names; every Owner and Admin role holds at least one).
pub async fn grant_to_owners_and_admins(
    manager: &SchemaManager<'_>,
    permission: &str,
) -> Result<(), DbErr> {
    let sql = format!(
        "UPDATE workspace_roles SET permissions = REPLACE(permissions, ']', ',\"{permission}\"]') \
         WHERE system_key IN ('OWNER', 'ADMIN') AND permissions <> '[]' \
         AND permissions NOT LIKE '%{permission}%'"
    );
    manager.get_connection().execute_unprepared(&sql).await?;
    Ok(())
}

/// Takes a permission back from every role that holds it after another.
pub async fn revoke_from_every_role(
    manager: &SchemaManager<'_>,
    permission: &str,
) -> Result<(), DbErr> {
    let sql = format!(
        "UPDATE workspace_roles SET permissions = REPLACE(permissions, ',\"{permission}\"', '')"
    );
    manager.get_connection().execute_unprepared(&sql).await?;
    Ok(())
}

/// Whether `pg_trgm` is installed, or this role may install it (a trusted extension since
/// Postgres 13: the database's `CREATE` privilege is enough).
const TRIGRAM_POSSIBLE: &str = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') \
     OR (EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') \
         AND has_database_privilege(current_database(), 'CREATE')) AS possible";

/// Creates each `(name, table, expression)` trigram index behind a `contains` search, on
/// Postgres with `pg_trgm` (installed here when the role may). Without it the searches still
/// work, scanning instead: `migration` says so and what a superuser can run.
pub async fn create_trigram_indexes(
    db: &impl ConnectionTrait,
    migration: &str,
    indexes: &[(&str, &str, &str)],
) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let possible = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            TRIGRAM_POSSIBLE,
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "possible"))
        .transpose()?
        .unwrap_or(false);
    if !possible {
        eprintln!(
            "warning: pg_trgm is not available to this role, so searches work but scan their \
             tables; a superuser can run `CREATE EXTENSION pg_trgm` and create the indexes of \
             migration {migration}"
        );
        return Ok(());
    }
    db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        .await?;
    for (name, table, expression) in indexes {
        db.execute_unprepared(&format!(
            "CREATE INDEX {name} ON {table} USING gin ({expression} gin_trgm_ops)"
        ))
        .await?;
    }
    Ok(())
}

/// Drops what [`create_trigram_indexes`] created (nothing, where it could not).
pub async fn drop_trigram_indexes(
    db: &impl ConnectionTrait,
    indexes: &[(&str, &str, &str)],
) -> Result<(), DbErr> {
    for (name, ..) in indexes {
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
            .await?;
    }
    Ok(())
}
