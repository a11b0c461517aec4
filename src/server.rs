//! Wires the HTTP app (routes, docs, middleware) and runs it until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use tokio::time::Instant;

use poem::endpoint::BoxEndpoint;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, Response, Route, Server};
use poem_openapi::{OpenApi, OpenApiService};

use crate::auth::{self, origin::TrustedOrigin};
use crate::config::Settings;
use crate::http::body_limit::BodyLimit;
use crate::http::cors::Cors;
use crate::http::errors::{JsonErrors, PanicToInternal};
use crate::http::reject_nul::reject_nul;
use crate::http::request_context;
use crate::openapi;
use crate::realtime;
use crate::state::AppState;

/// The whole HTTP app over `state`. A production process mounts no development route.
pub fn app(state: AppState) -> BoxEndpoint<'static, Response> {
    match state.settings.env.is_production() {
        true => mounted(openapi::production_service(), state),
        false => mounted(openapi::service(), state),
    }
}

fn mounted<T: OpenApi + 'static>(
    api: OpenApiService<T, ()>,
    state: AppState,
) -> BoxEndpoint<'static, Response> {
    let spec = api.spec();
    let routes = Route::new()
        .nest("/docs", api.swagger_ui())
        .at("/openapi.json", api.spec_endpoint())
        .at("/v1/ws", poem::get(realtime::socket::upgrade))
        .nest("/", api);
    edge(routes, &spec, &state.settings).data(state).boxed()
}

/// The middleware every route sits behind, outermost first: request context and log, CORS,
/// JSON error bodies, the origin check, panic guard, body limit, NUL rejection. `spec` is the
/// OpenAPI document of `routes`.
pub fn edge<E: Endpoint + 'static>(
    routes: E,
    spec: &str,
    settings: &Settings,
) -> impl Endpoint<Output = Response> + use<E> {
    let cors = Cors::new(settings.origins.cors_allowed());
    let body_limit = BodyLimit {
        default_bytes: settings.body_limit_bytes,
        by_prefix: vec![("/v1/auth/", auth::AUTH_BODY_LIMIT_BYTES)],
    };
    routes
        .around(reject_nul)
        .with(body_limit)
        .with(CatchPanic::new().with_handler(PanicToInternal))
        .with(TrustedOrigin::new(settings.origins.trusted()))
        .with(JsonErrors::from_spec(spec))
        .with(cors)
        .around(request_context::handle)
}

/// Binds `addr` now, so the caller learns the port (tests bind port 0) before serving.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpAcceptor, SocketAddr)> {
    let acceptor = TcpListener::bind(addr).into_acceptor().await?;
    let local = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().copied())
        .unwrap_or(addr);
    Ok((acceptor, local))
}

/// Serves (and works jobs, unless `JOBS_IN_PROCESS=false`) until `shutdown` resolves, then
/// stops accepting, lets in-flight requests and running jobs finish and closes the pool, all
/// within the configured timeout (what the platform waits before it
/// kills the process).
pub async fn serve(
    acceptor: TcpAcceptor,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let timeout = state.settings.shutdown_timeout;
    let db = state.db.clone();
    let worker = (state.settings.jobs.work_in_process || !state.capabilities.jobs.durable())
        .then(|| crate::jobs::start_worker(&state));
    let private_metrics = match (state.settings.metrics.port, state.metrics.clone()) {
        (Some(port), Some(handle)) => {
            Some(crate::metrics::serve_private(port, state.clone(), handle).await?)
        }
        _ => None,
    };
    let deadline = Arc::new(OnceLock::new());
    let signalled = deadline.clone();
    let shutdown = async move {
        shutdown.await;
        let _ = signalled.set(Instant::now() + timeout);
    };
    let result = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app(state), shutdown, Some(timeout))
        .await;
    let deadline = deadline
        .get()
        .copied()
        .unwrap_or_else(|| Instant::now() + timeout);
    if let Some(worker) = worker {
        worker
            .stop(deadline.saturating_duration_since(Instant::now()))
            .await;
    }
    if let Some(metrics) = private_metrics {
        metrics.abort();
    }
    match tokio::time::timeout_at(deadline, db.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "closing the database pool"),
        Err(_) => tracing::warn!("the database pool did not close within SHUTDOWN_TIMEOUT_SECS"),
    }
    result
}

/// Resolves on SIGTERM (what platforms send to stop a container) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received: finishing in-flight requests");
}
