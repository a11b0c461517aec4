//! The audit log: who did what, to what, from where; one row per change, written in the
//! change's own transaction. Entries outlive what they name (a deleted workspace or user keeps
//! its history until retention prunes it), so no foreign keys. Also the new
//! `workspace.audit.view` permission, given to every Owner and Admin role.

use sea_orm_migration::{prelude::*, schema::*};

use crate::shared::{create_indexes, grant_to_owners_and_admins, revoke_from_every_role};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEntries::Table)
                    // Time-ordered: newest first is id order.
                    .col(string_len(AuditEntries::Id, 64).primary_key())
                    .col(timestamp_with_time_zone(AuditEntries::At))
                    // Null: the system (a webhook, a scheduled job).
                    .col(string_len_null(AuditEntries::ActorId, 64))
                    .col(string_len_null(AuditEntries::ImpersonatorId, 64))
                    .col(string_len_null(AuditEntries::WorkspaceId, 64))
                    .col(string_len(AuditEntries::Action, 64))
                    .col(string_len(AuditEntries::TargetType, 32))
                    .col(string_len(AuditEntries::TargetId, 255))
                    .col(string_len_null(AuditEntries::Ip, 64))
                    .col(string_len_null(AuditEntries::UserAgent, 512))
                    // A JSON object: what changed, never a secret.
                    .col(text(AuditEntries::Data))
                    .to_owned(),
            )
            .await?;
        let indexes = [
            // A workspace's log, newest first.
            (
                "idx_audit_workspace",
                vec![AuditEntries::WorkspaceId, AuditEntries::Id],
            ),
            // One actor's entries (the admin filter).
            (
                "idx_audit_actor",
                vec![AuditEntries::ActorId, AuditEntries::Id],
            ),
            // Retention prunes by age.
            ("idx_audit_at", vec![AuditEntries::At]),
        ];
        create_indexes(manager, AuditEntries::Table, indexes).await?;
        grant_to_owners_and_admins(manager, "workspace.audit.view").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        revoke_from_every_role(manager, "workspace.audit.view").await?;
        manager
            .drop_table(Table::drop().table(AuditEntries::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditEntries {
    Table,
    Id,
    At,
    ActorId,
    ImpersonatorId,
    WorkspaceId,
    Action,
    TargetType,
    TargetId,
    Ip,
    UserAgent,
    Data,
}
