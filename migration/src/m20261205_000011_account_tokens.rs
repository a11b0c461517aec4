//! What an OAuth sign-in keeps of the provider's answer, as better-auth's `account` does: the
//! tokens (sealed by the app with a key derived from `AUTH_SECRET`), their expiry and scope.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
    AccessToken,
    RefreshToken,
    IdToken,
    AccessTokenExpiresAt,
    Scope,
}

const TEXT_COLUMNS: [Accounts; 4] = [
    Accounts::AccessToken,
    Accounts::RefreshToken,
    Accounts::IdToken,
    Accounts::Scope,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // One column per statement: SQLite alters a table one change at a time.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in TEXT_COLUMNS {
            add(manager, ColumnDef::new(column).text().null().to_owned()).await?;
        }
        let expiry = ColumnDef::new(Accounts::AccessTokenExpiresAt)
            .timestamp_with_time_zone()
            .null()
            .to_owned();
        add(manager, expiry).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = TEXT_COLUMNS
            .into_iter()
            .chain([Accounts::AccessTokenExpiresAt]);
        for column in columns {
            let drop = Table::alter()
                .table(Accounts::Table)
                .drop_column(column)
                .to_owned();
            manager.alter_table(drop).await?;
        }
        Ok(())
    }
}

async fn add(manager: &SchemaManager<'_>, mut column: ColumnDef) -> Result<(), DbErr> {
    let add = Table::alter()
        .table(Accounts::Table)
        .add_column(&mut column)
        .to_owned();
    manager.alter_table(add).await
}
