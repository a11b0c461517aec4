use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;

use crate::auth::session_lookups::SessionLookups;
use crate::capabilities::Capabilities;
use crate::config::Settings;
use crate::rate_limit::RateLimiter;
use crate::realtime::Realtime;
use crate::trigrams::TrigramStats;
use crate::workspaces::events::DomainEvents;

/// What every handler can reach: settings, the pool and one implementation per capability.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub capabilities: Capabilities,
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// Resolves the session of each authenticated request (coalescing concurrent lookups).
    pub session_lookups: SessionLookups,
    /// Whether the last magic link mailed to each address is kept for
    /// `/v1/dev/last-magic-link`; never in production.
    pub keeps_dev_links: bool,
    /// Where committed workspace changes are announced (the realtime hub listens).
    pub events: DomainEvents,
    /// The WebSocket hub and presence.
    pub realtime: Realtime,
    /// Renders the Prometheus metrics, when they are on.
    pub metrics: Option<PrometheusHandle>,
    /// Which trigrams the searched columns share, for substring searches.
    pub trigram_stats: Arc<TrigramStats>,
}

impl AppState {
    pub fn new(settings: Settings, db: DatabaseConnection, capabilities: Capabilities) -> Self {
        let keeps_dev_links = !settings.env.is_production();
        let session_lookups = SessionLookups::start(db.clone());
        let events = DomainEvents::default();
        let offline_grace = settings.realtime.offline_grace;
        let realtime = Realtime::start(capabilities.hub.clone(), &events, offline_grace);
        let metrics = settings.metrics.enabled().then(crate::metrics::install);
        Self {
            settings: Arc::new(settings),
            db,
            rate_limiter: capabilities.rate_limiter.clone(),
            capabilities,
            session_lookups,
            keeps_dev_links,
            realtime,
            events,
            metrics,
            trigram_stats: Arc::default(),
        }
    }
}
