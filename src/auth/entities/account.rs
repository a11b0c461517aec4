use sea_orm::entity::prelude::*;

/// How a user signs in: `credential` (password) or an OAuth provider.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub provider_id: String,
    pub account_id: String,
    /// argon2id PHC string, for `credential` accounts only.
    pub password_hash: Option<String>,
    /// The provider's tokens, sealed (`auth::sealed`); OAuth accounts only.
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub access_token_expires_at: Option<DateTimeUtc>,
    /// The scopes the provider granted, space-separated.
    pub scope: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
