use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workspace_roles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    /// The name lowercased: unique per workspace, so "Editors" and "editors" cannot both exist.
    pub name_key: String,
    pub description: Option<String>,
    /// `OWNER`, `ADMIN` or `MEMBER` for the roles every workspace starts with.
    pub system_key: Option<String>,
    pub sort_order: i32,
    /// A JSON array of permission names.
    pub permissions: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::member::Entity")]
    Member,
}

impl Related<super::member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Member.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
