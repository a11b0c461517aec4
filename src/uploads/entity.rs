use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "uploads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// [`FILE`] or [`AVATAR`].
    pub kind: String,
    pub workspace_id: Option<String>,
    pub uploaded_by: Option<String>,
    /// Where the bytes are in the bucket (under `S3_KEY_PREFIX`).
    pub key: String,
    /// The name it was uploaded with, as given.
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// [`PENDING`] or [`READY`].
    pub status: String,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

pub const FILE: &str = "file";
pub const AVATAR: &str = "avatar";
pub const PENDING: &str = "pending";
pub const READY: &str = "ready";

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
