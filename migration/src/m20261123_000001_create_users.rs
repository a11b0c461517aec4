use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(string_len(Users::Id, 64).primary_key())
                    .col(string_len_uniq(Users::Email, 320))
                    .col(string_len(Users::Name, 128).default(""))
                    .col(boolean(Users::EmailVerified).default(false))
                    .col(text_null(Users::Image))
                    .col(small_integer(Users::AvatarTone).default(0))
                    .col(string_len_null(Users::ThemeMode, 16))
                    .col(string_len_null(Users::ThemePalette, 16))
                    .col(string_len(Users::Role, 16).default("user"))
                    .col(boolean(Users::Banned).default(false))
                    .col(text_null(Users::BanReason))
                    .col(timestamp_with_time_zone_null(Users::BanExpires))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    EmailVerified,
    Image,
    AvatarTone,
    ThemeMode,
    ThemePalette,
    Role,
    Banned,
    BanReason,
    BanExpires,
    CreatedAt,
    UpdatedAt,
}
