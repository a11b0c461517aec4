//! The last magic link mailed to each address, which development and test servers show at
//! `/v1/dev/last-magic-link` (the web app's login page reads it). In the database, so every
//! instance behind a load balancer sees the same links; production never writes it. And the
//! expiry indexes the scheduled cleanups delete by.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DevMagicLinks {
    Table,
    Email,
    Link,
    CreatedAt,
}

/// `(index, table)`: each table's rows are deleted once `expires_at` is past.
const EXPIRY_INDEXES: [(&str, &str); 2] = [
    ("idx_sessions_expires_at", "sessions"),
    ("idx_verifications_expires_at", "verifications"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (index, table) in EXPIRY_INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(index)
                        .table(Alias::new(table))
                        .col(Alias::new("expires_at"))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(DevMagicLinks::Table)
                    .col(
                        ColumnDef::new(DevMagicLinks::Email)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DevMagicLinks::Link).text().not_null())
                    .col(
                        ColumnDef::new(DevMagicLinks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (index, table) in EXPIRY_INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(index)
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(DevMagicLinks::Table).to_owned())
            .await
    }
}
