use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub at: DateTimeUtc,
    /// Null: the system.
    pub actor_id: Option<String>,
    pub impersonator_id: Option<String>,
    pub workspace_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// A JSON object.
    pub data: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
