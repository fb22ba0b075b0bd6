//! The HTTP interface: one router for the JSON API under `/api/v1`, the
//! ingest endpoints of [`crate::source`], `/metrics`, `/healthz`, `/readyz`
//! and the web page at `/`. Each group of routes reaches only its own part
//! of [`ApiState`] (axum sub-states through `FromRef`); nothing below the
//! API depends on it.

pub mod alerts;
pub mod error;
pub mod events;
pub mod health;
pub mod owners;
pub mod receivers;
pub mod silences;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};

pub use error::ApiError;

use crate::source::{HttpSources, Tokens};

/// What the event, proof and checkpoint routes reach.
#[derive(Clone)]
pub struct EventsState {
    pub store: Arc<ward_store::Store>,
    pub tokens: Arc<Tokens>,
}

/// Everything the routes reach, split by who needs it.
#[derive(Clone)]
pub struct ApiState {
    pub ingest: HttpSources,
    pub events: EventsState,
    pub health: health::Health,
}

impl FromRef<ApiState> for HttpSources {
    fn from_ref(s: &ApiState) -> Self {
        s.ingest.clone()
    }
}

impl FromRef<ApiState> for EventsState {
    fn from_ref(s: &ApiState) -> Self {
        s.events.clone()
    }
}

impl FromRef<ApiState> for health::Health {
    fn from_ref(s: &ApiState) -> Self {
        s.health.clone()
    }
}

/// Builds the whole router; `extra` are routes of other stages (alerting)
/// that carry their own state.
pub fn router(state: ApiState, extra: Router) -> Router {
    let max_body = state.ingest.ctx.limits.max_request_bytes;
    let ingest = Router::new()
        .route("/api/v1/ingest", post(crate::source::http::ingest))
        .route(
            "/api/v1/ingest/github",
            post(crate::source::webhook::github),
        )
        .route(
            "/api/v1/ingest/k8s-audit",
            post(crate::source::webhook::k8s_audit),
        )
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
        .with_state(state)
        .merge(extra)
}

/// The web page served at `/` to browsers.
pub const PAGE: &str = include_str!("page.html");
