//! `cargo run -p migration -- up|down|status|fresh|refresh|reset` against `DATABASE_URL`,
//! holding the migration lock (see [`migration::MigrationLock`]) until it exits.

use std::sync::Mutex;

use migration::MigrationLock;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Database;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let held = Mutex::new(None);
    cli::run_cli_with_connection(migration::Migrator, async |options| {
        let db = Database::connect(options).await?;
        *held.lock().expect("never poisoned") = Some(MigrationLock::acquire(&db).await?);
        Ok(db)
    })
    .await;
}
