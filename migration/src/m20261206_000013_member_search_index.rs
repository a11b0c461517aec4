//! A member search in a big workspace reads only the members it finds: a trigram index on
//! their `search_text` (Postgres with `pg_trgm`). The planner still walks the workspace's
//! members in list order when that is cheaper (a small workspace, a broad search).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TRIGRAM_INDEXES: [(&str, &str, &str); 1] = [(
    "idx_workspace_members_search_trgm",
    "workspace_members",
    "search_text",
)];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        crate::shared::create_trigram_indexes(db, self.name(), &TRIGRAM_INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::shared::drop_trigram_indexes(manager.get_connection(), &TRIGRAM_INDEXES).await
    }
}
