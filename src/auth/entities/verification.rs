use sea_orm::entity::prelude::*;

/// A single-use token mailed to someone: magic link, email verification, password reset…
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "verifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub purpose: String,
    #[sea_orm(unique)]
    pub token_hash: String,
    /// JSON: what the token grants (the email, the callback URL…).
    pub payload: String,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
