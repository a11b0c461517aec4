use std::collections::BTreeMap;
use std::time::Duration;

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::auth::origin::bearer_token;
use crate::auth::tokens::hash_token;
use crate::error::{ApiError, ApiResult};
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::time::iso_now;
use secrecy::ExposeSecret;

/// How long a readiness probe waits for the database before calling it down.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct SystemApi;

#[derive(Debug, Object)]
struct Banner {
    name: String,
    ok: bool,
}

#[derive(Debug, Object)]
struct Health {
    ok: bool,
    /// Always `ok`: the process is up.
    status: String,
    /// Server time, ISO-8601 UTC with milliseconds.
    ts: String,
}

#[derive(Debug, Object)]
struct Readiness {
    ok: bool,
    /// One entry per dependency: `database`, and each configured backend.
    checks: BTreeMap<String, Check>,
}

#[derive(Debug, Object)]
struct Check {
    ok: bool,
    /// Why the dependency is considered down; absent when it answered.
    #[oai(skip_serializing_if_is_none)]
    error: Option<String>,
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// Every dependency answered.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// A dependency did not answer; `checks` says which.
    #[oai(status = 503)]
    NotReady(Json<Readiness>),
}

#[derive(Debug, Object)]
struct RuntimeConfig {
    /// `development`, `production` or `test`.
    environment: String,
    /// Which optional capabilities are live on this deploy.
    capabilities: BTreeMap<String, CapabilityFlag>,
    /// The providers one can sign in with (`sign-in/social`, or `sign-in/oauth2` when generic).
    #[oai(rename = "socialProviders")]
    social_providers: Vec<SocialProvider>,
}

#[derive(Debug, Object)]
struct SocialProvider {
    id: String,
    /// An OpenID Connect provider configured by issuer (better-auth's generic OAuth routes).
    generic: bool,
}

#[derive(Debug, Object)]
struct CapabilityFlag {
    /// False when the capability runs on its logging fallback.
    enabled: bool,
    backend: String,
}

/// Whether a dependency answers `ping` within [`READY_TIMEOUT`]; why not is logged, and
/// only named vaguely in the (public) answer.
async fn probe<E: std::fmt::Display>(
    name: &str,
    ping: impl std::future::Future<Output = Result<(), E>>,
) -> Check {
    let error = match tokio::time::timeout(READY_TIMEOUT, ping).await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => {
            tracing::warn!(dependency = name, error = %err, "readiness: unreachable");
            Some("unreachable".to_owned())
        }
        Err(_) => Some(format!("no answer within {}s", READY_TIMEOUT.as_secs())),
    };
    Check {
        ok: error.is_none(),
        error,
    }
}

#[OpenApi(tag = "ApiTags::System")]
impl SystemApi {
    /// Service banner
    ///
    /// Some platforms (Flux) health-check `/`; it answers without touching the database.
    #[oai(path = "/", method = "get", operation_id = "banner")]
    async fn banner(&self) -> ApiResult<Json<Banner>> {
        Ok(Json(Banner {
            name: "orbit-api".into(),
            ok: true,
        }))
    }

    /// Liveness
    ///
    /// 200 while the process serves HTTP. Touches nothing else and is not logged, so probes
    /// may call it as often as they like.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> ApiResult<Json<Health>> {
        Ok(Json(Health {
            ok: true,
            status: "ok".into(),
            ts: iso_now(),
        }))
    }

    /// Prometheus metrics
    ///
    /// Text exposition format, to `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise).
    /// 404 when metrics are off, or served on the private `METRICS_PORT` instead.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self, state: Data<&AppState>, req: &Request) -> ApiResult<PlainText<String>> {
        let settings = &state.settings.metrics;
        let (Some(handle), None, Some(token)) = (&state.metrics, settings.port, &settings.token)
        else {
            return Err(ApiError::no_route());
        };
        // Digests, so the comparison takes the same time wherever the tokens differ.
        let presented = bearer_token(req).map(hash_token);
        if presented != Some(hash_token(token.expose_secret())) {
            return Err(ApiError::unauthorized());
        }
        Ok(PlainText(crate::metrics::scrape(&state, handle).await))
    }

    /// Readiness
    ///
    /// 200 when the database, the job queue and the realtime bus between instances (if any)
    /// answer within two seconds, else 503 naming what failed. Load balancers should route on this;
    /// restarts should key on `/health`. The object storage (when configured) is checked and
    /// reported too, but does not make the instance unready.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self, state: Data<&AppState>) -> ApiResult<ReadyResponse> {
        let mut checks = BTreeMap::new();
        checks.insert(
            "database".to_owned(),
            probe("database", state.db.ping()).await,
        );
        if let Some(bus) = state.capabilities.shared_bus() {
            checks.insert("realtime".to_owned(), probe("realtime", bus.ping()).await);
        }
        let jobs = &state.capabilities.jobs;
        if jobs.durable() {
            checks.insert("jobs".to_owned(), probe("jobs", jobs.check()).await);
        }
        let ok = checks.values().all(|check| check.ok);
        // Reported, never a reason to leave the load balancer: without the bucket only
        // uploads fail, and every instance shares the same bucket.
        let storage = &state.capabilities.storage;
        if storage.enabled() {
            checks.insert(
                "uploads".to_owned(),
                probe("uploads", storage.check()).await,
            );
        }
        let readiness = Readiness { ok, checks };
        Ok(match ok {
            true => ReadyResponse::Ready(Json(readiness)),
            false => ReadyResponse::NotReady(Json(readiness)),
        })
    }

    /// Public runtime configuration
    ///
    /// What the web client may know about this deploy: the environment and which optional
    /// capabilities are live. Never carries a secret.
    #[oai(path = "/v1/config", method = "get", operation_id = "runtimeConfig")]
    async fn config(&self, state: Data<&AppState>) -> ApiResult<Json<RuntimeConfig>> {
        let capabilities = state
            .capabilities
            .statuses()
            .into_iter()
            .map(|status| {
                let flag = CapabilityFlag {
                    enabled: status.enabled,
                    backend: status.backend.to_owned(),
                };
                (status.name.to_owned(), flag)
            })
            .collect();
        let social_providers = state
            .capabilities
            .oauth
            .providers()
            .into_iter()
            .map(|provider| SocialProvider {
                id: provider.id,
                generic: provider.generic,
            })
            .collect();
        Ok(Json(RuntimeConfig {
            environment: state.settings.env.as_str().to_owned(),
            capabilities,
            social_providers,
        }))
    }
}
