//! Steps several migrations take.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

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
