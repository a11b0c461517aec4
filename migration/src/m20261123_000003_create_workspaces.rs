use sea_orm_migration::{prelude::*, schema::*};

/// Workspaces, their roles (three system roles plus custom ones), members and invitations.
/// A role's permissions are a JSON array of permission names; an invitation's token is
/// stored as its SHA-256 only.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Workspaces::Table)
                    .col(string_len(Workspaces::Id, 64).primary_key())
                    .col(string_len_uniq(Workspaces::Slug, 32))
                    .col(string_len(Workspaces::Name, 64))
                    // The creator, kept as a plain column: ownership itself is the OWNER
                    // role, and the column moves to another owner when its user is deleted.
                    .col(string_len(Workspaces::OwnerId, 64))
                    .col(timestamp_with_time_zone(Workspaces::CreatedAt))
                    .col(timestamp_with_time_zone(Workspaces::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WorkspaceRoles::Table)
                    .col(string_len(WorkspaceRoles::Id, 64).primary_key())
                    .col(string_len(WorkspaceRoles::WorkspaceId, 64))
                    .col(string_len(WorkspaceRoles::Name, 48))
                    .col(string_len(WorkspaceRoles::NameKey, 48))
                    .col(string_len_null(WorkspaceRoles::Description, 240))
                    .col(string_len_null(WorkspaceRoles::SystemKey, 16))
                    .col(integer(WorkspaceRoles::SortOrder))
                    .col(text(WorkspaceRoles::Permissions))
                    .col(timestamp_with_time_zone(WorkspaceRoles::CreatedAt))
                    .col(timestamp_with_time_zone(WorkspaceRoles::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WorkspaceRoles::Table, WorkspaceRoles::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_workspace_roles_name")
                    .table(WorkspaceRoles::Table)
                    .col(WorkspaceRoles::WorkspaceId)
                    .col(WorkspaceRoles::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WorkspaceMembers::Table)
                    .col(string_len(WorkspaceMembers::Id, 64).primary_key())
                    .col(string_len(WorkspaceMembers::WorkspaceId, 64))
                    .col(string_len(WorkspaceMembers::UserId, 64))
                    .col(string_len(WorkspaceMembers::RoleId, 64))
                    .col(timestamp_with_time_zone(WorkspaceMembers::CreatedAt))
                    .col(timestamp_with_time_zone(WorkspaceMembers::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WorkspaceMembers::Table, WorkspaceMembers::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(WorkspaceMembers::Table, WorkspaceMembers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(WorkspaceMembers::Table, WorkspaceMembers::RoleId)
                            .to(WorkspaceRoles::Table, WorkspaceRoles::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_workspace_members_workspace_user")
                    .table(WorkspaceMembers::Table)
                    .col(WorkspaceMembers::WorkspaceId)
                    .col(WorkspaceMembers::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_workspace_members_user_id", WorkspaceMembers::UserId),
            ("idx_workspace_members_role_id", WorkspaceMembers::RoleId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(WorkspaceMembers::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(WorkspaceInvites::Table)
                    .col(string_len(WorkspaceInvites::Id, 64).primary_key())
                    .col(string_len(WorkspaceInvites::WorkspaceId, 64))
                    .col(string_len(WorkspaceInvites::Email, 254))
                    .col(string_len_null(WorkspaceInvites::RoleId, 64))
                    .col(string_len(WorkspaceInvites::InvitedById, 64))
                    .col(string_len_uniq(WorkspaceInvites::TokenHash, 64))
                    .col(timestamp_with_time_zone(WorkspaceInvites::ExpiresAt))
                    .col(timestamp_with_time_zone_null(WorkspaceInvites::AcceptedAt))
                    .col(timestamp_with_time_zone_null(WorkspaceInvites::RevokedAt))
                    .col(timestamp_with_time_zone(WorkspaceInvites::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WorkspaceInvites::Table, WorkspaceInvites::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(WorkspaceInvites::Table, WorkspaceInvites::RoleId)
                            .to(WorkspaceRoles::Table, WorkspaceRoles::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_workspace_invites_workspace_email")
                    .table(WorkspaceInvites::Table)
                    .col(WorkspaceInvites::WorkspaceId)
                    .col(WorkspaceInvites::Email)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WorkspaceInvites::Table.into_iden(),
            WorkspaceMembers::Table.into_iden(),
            WorkspaceRoles::Table.into_iden(),
            Workspaces::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    Slug,
    Name,
    OwnerId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WorkspaceRoles {
    Table,
    Id,
    WorkspaceId,
    Name,
    NameKey,
    Description,
    SystemKey,
    SortOrder,
    Permissions,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WorkspaceMembers {
    Table,
    Id,
    WorkspaceId,
    UserId,
    RoleId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WorkspaceInvites {
    Table,
    Id,
    WorkspaceId,
    Email,
    RoleId,
    InvitedById,
    TokenHash,
    ExpiresAt,
    AcceptedAt,
    RevokedAt,
    CreatedAt,
}
