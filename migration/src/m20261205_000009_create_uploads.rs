//! Files kept in object storage, one row each: a workspace's files (listed newest first among
//! the ready ones) and users' avatars. The bytes never touch the database; `key` names them
//! in the bucket. A pending row is an upload handed out and not yet completed.

use sea_orm_migration::{prelude::*, schema::*};

use crate::shared::create_indexes;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Uploads::Table)
                    .col(string_len(Uploads::Id, 64).primary_key())
                    // `file` (a workspace's) or `avatar` (a user's).
                    .col(string_len(Uploads::Kind, 16))
                    .col(string_len_null(Uploads::WorkspaceId, 64))
                    // Who uploaded it; kept (as null) when they delete their account.
                    .col(string_len_null(Uploads::UploadedBy, 64))
                    .col(string_len(Uploads::Key, 512))
                    .col(string_len(Uploads::Filename, 255))
                    .col(string_len(Uploads::ContentType, 128))
                    .col(big_integer(Uploads::Size))
                    // `pending` until completed, then `ready`.
                    .col(string_len(Uploads::Status, 16))
                    .col(timestamp_with_time_zone(Uploads::CreatedAt))
                    .col(timestamp_with_time_zone_null(Uploads::CompletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Uploads::Table, Uploads::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Uploads::Table, Uploads::UploadedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes = [
            // A workspace's files in list order (ids are time-ordered), and its quota's sum.
            (
                "idx_uploads_workspace_listed",
                vec![Uploads::WorkspaceId, Uploads::Status, Uploads::Id],
            ),
            // A user's avatars.
            (
                "idx_uploads_uploader",
                vec![Uploads::UploadedBy, Uploads::Kind],
            ),
            // Pending uploads by age, for the daily cleanup.
            (
                "idx_uploads_status_created",
                vec![Uploads::Status, Uploads::CreatedAt],
            ),
        ];
        create_indexes(manager, Uploads::Table, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Uploads::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Uploads {
    Table,
    Id,
    Kind,
    WorkspaceId,
    UploadedBy,
    Key,
    Filename,
    ContentType,
    Size,
    Status,
    CreatedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
