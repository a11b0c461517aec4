use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::capabilities::Capabilities;
use crate::config::Settings;

/// What every handler can reach: settings, the pool and one implementation per capability.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub capabilities: Capabilities,
}
