//! The log section: `LOG_FORMAT` and `RUST_LOG`.

use super::{AppEnv, LogFormat, Vars};

const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=info";

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

impl Vars {
    pub(super) fn log(&mut self, env: AppEnv) -> LogSettings {
        let format = match (self.get("LOG_FORMAT"), env) {
            (Some("json"), _) | (None, AppEnv::Production) => LogFormat::Json,
            (Some("pretty"), _) | (None, _) => LogFormat::Pretty,
            (Some(other), _) => {
                let problem = format!("LOG_FORMAT must be json or pretty (got {other:?})");
                self.problems.push(problem);
                LogFormat::Pretty
            }
        };
        let filter = self
            .get("RUST_LOG")
            .unwrap_or(DEFAULT_LOG_FILTER)
            .to_owned();
        if tracing_subscriber::EnvFilter::try_new(&filter).is_err() {
            self.problems
                .push(format!("RUST_LOG is not a valid filter (got {filter:?})"));
        }
        LogSettings { format, filter }
    }
}
