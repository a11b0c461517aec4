//! Schema migrations, applied by `orbit migrate up`, `cargo run -p migration -- up`
//! (what `sea-orm-cli migrate up` drives) or the Dockerfile's `migrate` target.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_users;
mod m20261123_000002_create_auth_tables;
mod m20261123_000003_create_workspaces;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_users::Migration),
            Box::new(m20261123_000002_create_auth_tables::Migration),
            Box::new(m20261123_000003_create_workspaces::Migration),
        ]
    }
}
