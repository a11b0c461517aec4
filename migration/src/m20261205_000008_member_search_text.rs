//! Each membership keeps its user's name and email, lowercased, as `search_text`: a member
//! search then reads the workspace's own rows, never the app's users (the app keeps it in
//! step when a name or address changes).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WorkspaceMembers {
    Table,
    SearchText,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkspaceMembers::Table)
                    .add_column(
                        ColumnDef::new(WorkspaceMembers::SearchText)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        // The app writes it as `lowercase(name) + "\n" + lowercase(email)`; the line break is
        // a literal inside the quotes, which both databases accept.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE workspace_members SET search_text = \
                 (SELECT lower(users.name) || '\n' || lower(users.email) FROM users \
                  WHERE users.id = workspace_members.user_id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkspaceMembers::Table)
                    .drop_column(WorkspaceMembers::SearchText)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
