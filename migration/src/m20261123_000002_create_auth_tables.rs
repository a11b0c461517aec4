use sea_orm_migration::{prelude::*, schema::*};

/// Sessions, sign-in accounts (password or OAuth) and single-use verification tokens.
/// Every token is stored as its SHA-256: a copy of the database signs nobody in.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string_len(Sessions::Id, 64).primary_key())
                    .col(string_len_uniq(Sessions::TokenHash, 64))
                    .col(string_len(Sessions::UserId, 64))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(string_len_null(Sessions::IpAddress, 64))
                    .col(string_len_null(Sessions::UserAgent, 512))
                    .col(string_len_null(Sessions::ImpersonatedBy, 64))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user_id")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(string_len(Accounts::Id, 64).primary_key())
                    .col(string_len(Accounts::UserId, 64))
                    .col(string_len(Accounts::ProviderId, 32))
                    .col(string_len(Accounts::AccountId, 255))
                    .col(text_null(Accounts::PasswordHash))
                    .col(timestamp_with_time_zone(Accounts::CreatedAt))
                    .col(timestamp_with_time_zone(Accounts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Accounts::Table, Accounts::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_accounts_provider_account")
                    .table(Accounts::Table)
                    .col(Accounts::ProviderId)
                    .col(Accounts::AccountId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_accounts_user_id")
                    .table(Accounts::Table)
                    .col(Accounts::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Verifications::Table)
                    .col(string_len(Verifications::Id, 64).primary_key())
                    .col(string_len(Verifications::Purpose, 32))
                    .col(string_len_uniq(Verifications::TokenHash, 64))
                    .col(text(Verifications::Payload))
                    .col(timestamp_with_time_zone(Verifications::ExpiresAt))
                    .col(timestamp_with_time_zone(Verifications::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Verifications::Table.into_iden(),
            Accounts::Table.into_iden(),
            Sessions::Table.into_iden(),
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
enum Sessions {
    Table,
    Id,
    TokenHash,
    UserId,
    ExpiresAt,
    IpAddress,
    UserAgent,
    ImpersonatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    UserId,
    ProviderId,
    AccountId,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Verifications {
    Table,
    Id,
    Purpose,
    TokenHash,
    Payload,
    ExpiresAt,
    CreatedAt,
}
