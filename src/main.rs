use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::{MigrationLock, Migrator, MigratorTrait};
use orbit::capabilities::{Capabilities, http_client};
use orbit::config::{MigrateSettings, Settings};
use orbit::state::AppState;
use orbit::{db, openapi, server, telemetry};
use orbit_telemetry::Exporting;
use secrecy::ExposeSecret;

/// Orbit API server. With no command, serves the API.
#[derive(Parser)]
#[command(name = "orbit", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). Never migrates, except the embedded SQLite default.
    Serve,
    /// Work background jobs and schedules without serving the API; SIGTERM drains
    Worker,
    /// List, retry or cancel background jobs
    Jobs {
        #[command(subcommand)]
        action: JobsAction,
    },
    /// Apply, revert or inspect migrations on DATABASE_URL
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the OpenAPI document to stdout
    Openapi,
    /// Print the capability table and check that the database and every configured backend
    /// answer; exits non-zero when one does not
    Doctor,
}

#[derive(Subcommand)]
enum JobsAction {
    /// The newest jobs, one line each
    List {
        /// Only jobs that ran out of attempts
        #[arg(long)]
        failed: bool,
        /// How many
        #[arg(short, long, default_value_t = 50)]
        limit: u64,
    },
    /// Run a failed or canceled job again, with its attempts reset
    Retry { id: String },
    /// Cancel a pending job
    Cancel { id: String },
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply pending migrations
    Up {
        /// Apply only this many
        #[arg(short, long)]
        num: Option<u32>,
    },
    /// Revert applied migrations
    Down {
        /// Revert this many
        #[arg(short, long, default_value_t = 1)]
        num: u32,
    },
    /// List migrations and whether each is applied
    Status,
    /// Drop every table, then apply all migrations
    Fresh,
    /// Revert all migrations, then apply them again
    Refresh,
    /// Revert all migrations
    Reset,
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = dotenvy::dotenv();
    let result = match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Worker => worker().await,
        Command::Jobs { action } => manage_jobs(action).await,
        Command::Migrate { action } => migrate(action).await,
        Command::Openapi => {
            println!("{}", openapi::spec_json());
            Ok(())
        }
        Command::Doctor => doctor().await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("orbit: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Settings, logging, the pool (the embedded SQLite default migrated) and the capabilities:
/// what serving and working jobs both start from.
async fn boot() -> anyhow::Result<(AppState, Option<Exporting>)> {
    let settings = Settings::from_env()?;
    let exporting = telemetry::init(&settings.log, settings.traces.as_ref());
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let db = db::connect(&settings.database).await?;
    if settings.database.is_sqlite() {
        tracing::info!("embedded SQLite database: applying pending migrations");
        db::migrate_up(&db).await?;
    }
    let capabilities = Capabilities::connect(&settings, http_client(), &db).await?;
    capabilities.log_boot_table();
    Ok((AppState::new(settings, db, capabilities), exporting))
}

async fn serve() -> anyhow::Result<()> {
    let (state, exporting) = boot().await?;
    let settings = &state.settings;
    let (acceptor, addr) = server::bind(([0, 0, 0, 0], settings.port).into()).await?;
    tracing::info!(
        %addr,
        env = settings.env.as_str(),
        database = db::backend_name(&state.db),
        "listening; API docs at {}/docs",
        settings.origins.api
    );
    server::serve(acceptor, state, server::shutdown_signal()).await?;
    if let Some(exporting) = exporting {
        exporting.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn worker() -> anyhow::Result<()> {
    let (state, exporting) = boot().await?;
    let worker = orbit::jobs::start_worker(&state);
    tracing::info!(
        backend = state.capabilities.jobs.backend(),
        concurrency = state.settings.jobs.concurrency,
        "worker ready: working jobs and schedules"
    );
    server::shutdown_signal().await;
    worker.stop(state.settings.shutdown_timeout).await;
    state.db.close().await?;
    if let Some(exporting) = exporting {
        exporting.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn manage_jobs(action: JobsAction) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let db = db::connect(&settings.database).await?;
    let jobs = orbit_jobs::from_settings(&settings.jobs, &db);
    let jobs = jobs.as_ref();
    let result = match action {
        JobsAction::List { failed, limit } => orbit::jobs::cli::list(jobs, failed, limit).await,
        JobsAction::Retry { id } => orbit::jobs::cli::retry(jobs, &id).await,
        JobsAction::Cancel { id } => orbit::jobs::cli::cancel(jobs, &id).await,
    };
    db.close().await?;
    result
}

async fn migrate(action: MigrateAction) -> anyhow::Result<()> {
    let settings = MigrateSettings::from_env()?;
    telemetry::init(&settings.log, None);
    let db = db::connect(&settings.database).await?;
    let lock = MigrationLock::acquire(&db).await?;
    match action {
        MigrateAction::Up { num } => Migrator::up(&db, num).await?,
        MigrateAction::Down { num } => Migrator::down(&db, Some(num)).await?,
        MigrateAction::Status => Migrator::status(&db).await?,
        MigrateAction::Fresh => Migrator::fresh(&db).await?,
        MigrateAction::Refresh => Migrator::refresh(&db).await?,
        MigrateAction::Reset => Migrator::reset(&db).await?,
    }
    drop(lock);
    db.close().await?;
    Ok(())
}

async fn doctor() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let db = db::connect(&settings.database).await?;
    let capabilities = Capabilities::connect(&settings, http_client(), &db).await?;
    println!("environment: {}", settings.env.as_str());
    println!(
        "{:<10} {:<10} {:<12} NOTE",
        "CAPABILITY", "BACKEND", "STATUS"
    );

    let mut failures = 0;
    let database = match db.ping().await {
        Ok(()) => ("reachable", String::new()),
        Err(err) => {
            failures += 1;
            ("UNREACHABLE", err.to_string())
        }
    };
    let target = db::describe_target(settings.database.url.expose_secret());
    println!(
        "{:<10} {:<10} {:<12} {target} {}",
        "database",
        db::backend_name(&db),
        database.0,
        database.1
    );

    if let Ok(Some(room)) = db::connection_room(&db).await {
        let pool = settings.database.max_connections;
        let fit = room.instances_that_fit(pool);
        // A rolling deploy runs the old and the new instances side by side.
        let state = if fit < 2 { "WARNING" } else { "ok" };
        println!(
            "{:<10} {:<10} {:<12} {pool} per instance; the server has {} usable, {} open now: \
             room for {fit} more instance(s) of this pool{}",
            "pool",
            "postgres",
            state,
            room.usable,
            room.open,
            match fit < 2 {
                true => " (lower DATABASE_POOL_SIZE or raise max_connections)",
                false => "",
            }
        );
    }

    let checks = capabilities.check().await;
    for status in capabilities.statuses() {
        let (state, note) = match checks.iter().find(|(name, _)| *name == status.name) {
            Some((_, Ok(()))) => ("reachable", String::new()),
            Some((_, Err(err))) => {
                failures += 1;
                ("UNREACHABLE", err.clone())
            }
            None => (
                "fallback",
                format!("enable with {}", status.enable_with.join(" + ")),
            ),
        };
        println!(
            "{:<10} {:<10} {:<12} {note}",
            status.name, status.backend, state
        );
    }
    db.close().await?;
    anyhow::ensure!(
        failures == 0,
        "{failures} configured backend(s) did not answer"
    );
    Ok(())
}
