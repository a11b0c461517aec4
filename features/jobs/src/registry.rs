use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::Schedule;

/// What a handler knows of the run it is in.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub id: String,
    pub name: String,
    /// 1 on the first run.
    pub attempt: u32,
    pub max_attempts: u32,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (a provider outage, a timeout).
    #[error("{0}")]
    Retry(String),
    /// Will fail again however often it runs (a rejected payload): the job fails now.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn retry(err: impl std::fmt::Display) -> Self {
        JobError::Retry(err.to_string())
    }

    pub fn permanent(err: impl std::fmt::Display) -> Self {
        JobError::Permanent(err.to_string())
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
type Run = Arc<dyn Fn(JobContext, serde_json::Value) -> BoxFuture + Send + Sync>;

/// One kind of job: its name, how it runs and how often it may be tried.
#[derive(Clone)]
pub struct Handler {
    pub name: String,
    pub max_attempts: u32,
    pub timeout: Duration,
    /// First retry delay; each further retry doubles it (with jitter), up to an hour.
    pub backoff: Duration,
    pub schedule: Option<Schedule>,
    run: Run,
}

impl Handler {
    /// A handler of `name` with 5 attempts, a 60 s timeout and a 2 s first backoff.
    pub fn new<F, Fut>(name: &str, run: F) -> Self
    where
        F: Fn(JobContext, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        Self {
            name: name.to_owned(),
            max_attempts: 5,
            timeout: Duration::from_secs(60),
            backoff: Duration::from_secs(2),
            schedule: None,
            run: Arc::new(move |context, payload| Box::pin(run(context, payload))),
        }
    }

    /// A handler whose payload deserialises into `T`; a payload that does not fails at once.
    pub fn typed<T, F, Fut>(name: &str, run: F) -> Self
    where
        T: serde::de::DeserializeOwned + Send + 'static,
        F: Fn(JobContext, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let run = Arc::new(run);
        Self::new(name, move |context, payload| {
            let run = run.clone();
            async move {
                let payload = serde_json::from_value(payload).map_err(|err| {
                    JobError::Permanent(format!("the payload does not fit this job: {err}"))
                })?;
                run(context, payload).await
            }
        })
    }

    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn backoff(mut self, first_retry: Duration) -> Self {
        self.backoff = first_retry;
        self
    }

    /// Enqueues this job (with an empty payload) at each tick of `schedule`, once across
    /// every worker.
    pub fn every(mut self, schedule: Schedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    pub(crate) fn call(&self, context: JobContext, payload: serde_json::Value) -> BoxFuture {
        (self.run)(context, payload)
    }
}

/// The handlers a worker knows, by name.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
}

impl Registry {
    pub fn register(&mut self, handler: Handler) -> &mut Self {
        self.handlers.insert(handler.name.clone(), handler);
        self
    }

    pub fn with(mut self, handler: Handler) -> Self {
        self.register(handler);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Handler> {
        self.handlers.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    /// Gives every handler this first retry delay.
    pub fn override_backoff(&mut self, first_retry: Duration) {
        for handler in self.handlers.values_mut() {
            handler.backoff = first_retry;
        }
    }

    /// Replaces the schedules of the named handlers; returns the names no handler has.
    pub fn override_schedules(&mut self, overrides: &[(String, Schedule)]) -> Vec<String> {
        let mut unknown = Vec::new();
        for (name, schedule) in overrides {
            match self.handlers.get_mut(name) {
                Some(handler) => handler.schedule = Some(schedule.clone()),
                None => unknown.push(name.clone()),
            }
        }
        unknown
    }

    pub(crate) fn scheduled(&self) -> impl Iterator<Item = (&Handler, &Schedule)> {
        self.handlers
            .values()
            .filter_map(|handler| Some((handler, handler.schedule.as_ref()?)))
    }
}
