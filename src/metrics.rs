//! Prometheus metrics (`metrics` + `metrics-exporter-prometheus`), on when `METRICS_PORT` or
//! `METRICS_TOKEN` is set: `GET /metrics` on that private port, else on the main port behind
//! the token. Off, nothing is recorded (the `metrics` macros are no-ops without a recorder).

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Histogram, SharedString};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::Method;

use crate::http::request_context::STANDARD_METHODS;
use crate::state::AppState;

const REQUEST_SECONDS: &str = "http_request_duration_seconds";
/// 1 ms to 10 s: the API answers most requests in a few milliseconds.
const REQUEST_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use (tests boot many servers in one process).
pub fn install() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.into()), &REQUEST_BUCKETS)
                .expect("the buckets are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            metrics::gauge!("orbit_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// Folds the latency samples recorded since the last pass into their buckets, as a scrape
/// does: unscraped, the recorder would keep every sample (8 bytes a request, for ever). A
/// thread of its own, as the recorder outlives any one runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        })
        .expect("a thread can be started at boot");
}

const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The request series' method slots: each standard method, then `OTHER`.
const METHOD_SLOTS: usize = STANDARD_METHODS.len() + 1;
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One route's request series, by method (and status class for the counter).
#[derive(Default)]
struct RouteSeries {
    requests: [[Option<Counter>; STATUS_CLASSES.len()]; METHOD_SLOTS],
    seconds: [Option<Histogram>; METHOD_SLOTS],
}

thread_local! {
    /// The request series this thread has recorded to, by route template: building labelled
    /// keys and finding them in the recorder's registry cost each request two allocations and
    /// about a thousand instructions. Handles share the recorder's storage, so every thread's
    /// counts land in the same series; routes are templates, so the map stays small.
    static REQUEST_SERIES: RefCell<foldhash::HashMap<Arc<str>, RouteSeries>> = RefCell::default();
}

/// Counts one answered request by route template (never the raw path: bounded label values),
/// method and status class, and records its latency.
pub fn record_request(method: &Method, route: &Arc<str>, status: u16, elapsed: Duration) {
    if RECORDER.get().is_none() {
        return;
    }
    let class = usize::from(status / 100).clamp(1, STATUS_CLASSES.len()) - 1;
    let method = STANDARD_METHODS
        .iter()
        .position(|standard| standard == method)
        .unwrap_or(STANDARD_METHODS.len());
    let method_label = STANDARD_METHODS.get(method).map_or("OTHER", Method::as_str);
    REQUEST_SERIES.with_borrow_mut(|series| match series.get_mut(&**route) {
        Some(route_series) => route_series.record(method, method_label, class, route, elapsed),
        None => {
            let mut route_series = RouteSeries::default();
            route_series.record(method, method_label, class, route, elapsed);
            series.insert(route.clone(), route_series);
        }
    });
}

impl RouteSeries {
    /// Counts a request in its series, registering each with the recorder the first time.
    fn record(
        &mut self,
        method: usize,
        method_label: &'static str,
        class: usize,
        route: &Arc<str>,
        elapsed: Duration,
    ) {
        let route_label = || SharedString::from(route.clone());
        self.requests[method][class]
            .get_or_insert_with(|| {
                metrics::counter!(
                    "http_requests_total",
                    "method" => method_label,
                    "route" => route_label(),
                    "status" => STATUS_CLASSES[class]
                )
            })
            .increment(1);
        self.seconds[method]
            .get_or_insert_with(|| {
                metrics::histogram!(REQUEST_SECONDS, "method" => method_label, "route" => route_label())
            })
            .record(elapsed.as_secs_f64());
    }
}

/// Reads what is measured when scraped (the database pool, the job queue's depth, realtime
/// cut-offs), then renders every series.
pub async fn scrape(state: &AppState, handle: &PrometheusHandle) -> String {
    if let Some((in_use, idle, max)) = crate::db::pool_usage(&state.db) {
        metrics::gauge!("db_pool_connections", "state" => "in_use").set(in_use as f64);
        metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
        metrics::gauge!("db_pool_max_connections").set(max as f64);
    }
    match state.capabilities.jobs.counts().await {
        Ok(counts) => {
            for (name, count) in [
                ("pending", counts.pending),
                ("running", counts.running),
                ("failed", counts.failed),
            ] {
                metrics::gauge!("jobs_queue_depth", "state" => name).set(count as f64);
            }
        }
        Err(err) => tracing::warn!(error = %err, "metrics: the job queue's depth is unknown"),
    }
    metrics::counter!("realtime_subscribers_cut_off_total").absolute(state.realtime.hub.cut_off());
    handle.render()
}

/// Serves `/metrics` alone on `port`, on every interface (the platform's private network
/// scrapes it; only the main port is published), until the task is aborted.
pub async fn serve_private(
    port: u16,
    state: AppState,
    handle: PrometheusHandle,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use poem::listener::{Acceptor, Listener, TcpListener};

    let acceptor = TcpListener::bind(("0.0.0.0", port)).into_acceptor().await?;
    let bound = acceptor.local_addr();
    let render = poem::endpoint::make(move |_| {
        let (state, handle) = (state.clone(), handle.clone());
        async move { scrape(&state, &handle).await }
    });
    let app = poem::Route::new().at("/metrics", poem::get(render));
    Ok(tokio::spawn(async move {
        if let Err(err) = poem::Server::new_with_acceptor(acceptor).run(app).await {
            tracing::error!(error = %err, ?bound, "the metrics port stopped");
        }
    }))
}
