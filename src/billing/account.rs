use sea_orm::entity::prelude::*;

/// A workspace's account at the billing provider: its customer, and its subscription as last
/// read from the provider (the provider is the truth; this is what the app serves from).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workspace_id: String,
    #[sea_orm(unique)]
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub plan_key: Option<String>,
    pub status: Option<String>,
    pub quantity: i64,
    pub current_period_end: Option<DateTimeUtc>,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<DateTimeUtc>,
    pub past_due_since: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
