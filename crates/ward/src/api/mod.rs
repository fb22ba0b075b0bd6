//! The HTTP interface: one router for the JSON API under `/api/v1`, the
//! ingest endpoints of [`crate::source`], `/metrics`, `/healthz`, `/readyz`
//! and the web page at `/`.

pub mod alerts;
pub mod error;
pub mod events;
pub mod health;
pub mod owners;
pub mod receivers;
pub mod silences;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::ApiError;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::source::Tokens;

/// What every handler can reach.
pub struct AppState {
    pub config: Arc<Config>,
    pub pipeline: Pipeline,
    pub store: Arc<ward_store::Store>,
    pub tokens: Arc<Tokens>,
    pub metrics: Arc<Metrics>,
    pub limits: ward_event::Limits,
    pub redact: Arc<crate::redact::Stage>,
    pub alerts: Arc<crate::alert::Alerts>,
}

/// The shared state as handlers receive it.
pub type State = Arc<AppState>;

/// Builds the whole router.
pub fn router(state: State) -> Router {
    let max_body = state.limits.max_request_bytes;
    let tokens = Arc::clone(&state.tokens);
    let alert_routes = state.alerts.routes(move |headers: &axum::http::HeaderMap| {
        tokens
            .authenticate(headers)
            .map(|id| format!("{}@{}", id.source, id.tenant))
    });
    let ingest = Router::new()
        .route("/api/v1/ingest", post(crate::source::http::ingest))
        .route(
            "/_bulk",
            post(crate::source::bulk::bulk).put(crate::source::bulk::bulk),
        )
        .route(
            "/{index}/_bulk",
            post(crate::source::bulk::bulk_index).put(crate::source::bulk::bulk_index),
        )
        .route("/services/collector", post(crate::source::hec::event))
        .route("/services/collector/event", post(crate::source::hec::event))
        .route(
            "/services/collector/event/1.0",
            post(crate::source::hec::event),
        )
        .route("/services/collector/raw", post(crate::source::hec::raw))
        .route("/services/collector/raw/1.0", post(crate::source::hec::raw))
        .route(
            "/services/collector/health",
            get(crate::source::hec::health),
        )
        .route(
            "/services/collector/health/1.0",
            get(crate::source::hec::health),
        )
        .route("/v1/logs", post(crate::source::otlp::logs))
        .layer(DefaultBodyLimit::max(max_body));
    Router::new()
        .merge(ingest)
        .route(
            "/",
            get(crate::source::bulk::root).head(crate::source::bulk::root_head),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/v1/events/search", get(events::search))
        .route("/api/v1/events/{id}", get(events::get_event))
        .route("/api/v1/events/{id}/proof", get(events::proof))
        .route("/api/v1/store/checkpoint", get(events::checkpoint))
        .route("/api/v1/store/consistency", get(events::consistency))
        .route("/api/v1/store/public-key", get(events::public_key))
        .merge(alert_routes)
        .with_state(state)
}

/// The web page served at `/` to browsers.
pub const PAGE: &str = include_str!("page.html");
