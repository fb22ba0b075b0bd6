//! The HTTP interface: one router for the JSON API under `/api/v1`, the
//! ingest endpoints of [`crate::source`], `/metrics`, `/healthz`, `/readyz`,
//! the analyst console ([`crate::console`]) and the login form at `/login`. Every route is declared with the permission it
//! needs ([`crate::access::Routes`]) and one middleware checks it
//! ([`crate::access::guard::check`]). Each group of routes reaches only its
//! own part of [`ApiState`] (axum sub-states through `FromRef`); nothing
//! below the API depends on it.

pub mod alerts;
pub mod apikeys;
pub mod compliance;
pub mod error;
pub mod events;
pub mod gate;
pub mod health;
pub mod login;
pub mod me;
pub mod oidc;
pub mod owners;
pub mod receivers;
pub mod silences;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::StatusCode;
use axum::response::Response;

pub use error::ApiError;

use crate::access::audit::AuditTrail;
use crate::access::guard::Guard;
use crate::access::{Access, Need, Permission, RouteSpec, Routes};
use crate::source::HttpSources;

/// What the event, proof and checkpoint routes reach.
#[derive(Clone)]
pub struct EventsState {
    pub store: Arc<ward_store::Store>,
    /// The cluster's sealed segments in the bucket, when
    /// `cluster.segments_bucket` is set (`cluster=true` searches them).
    pub remote: Option<Arc<crate::cluster::search::Remote>>,
}

/// Everything the routes reach, split by who needs it.
#[derive(Clone)]
pub struct ApiState {
    pub ingest: HttpSources,
    pub events: EventsState,
    pub health: health::Health,
    pub access: Arc<Access>,
    /// Ward's audit trail of people: actions and refusals.
    pub audit: Arc<AuditTrail>,
    /// Single sign-on, when `[access.oidc]` is configured.
    pub oidc: Option<Arc<crate::access::oidc::Oidc>>,
    /// The data directory (API keys).
    pub data_dir: std::path::PathBuf,
    pub compliance: compliance::ComplianceState,
    /// The analyst console's pages.
    pub console: crate::console::ConsoleState,
    pub gate: gate::GateState,
}

impl FromRef<ApiState> for gate::GateState {
    fn from_ref(s: &ApiState) -> Self {
        s.gate.clone()
    }
}

impl FromRef<ApiState> for compliance::ComplianceState {
    fn from_ref(s: &ApiState) -> Self {
        s.compliance.clone()
    }
}

impl FromRef<ApiState> for crate::console::ConsoleState {
    fn from_ref(s: &ApiState) -> Self {
        s.console.clone()
    }
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

/// The routes of this module and of the ingest sources, each with its need.
fn routes() -> Routes<ApiState> {
    use crate::source::{bulk, hec, http, otlp, scan, webhook, xccdf};
    let ingest = Need::Perm(Permission::IngestWrite);
    let events = Need::Perm(Permission::EventsRead);
    let evidence = Need::Perm(Permission::EvidenceRead);
    crate::console::routes(Routes::default())
        .post("/api/v1/ingest", ingest, http::ingest)
        .post(xccdf::ROUTE, ingest, xccdf::ingest)
        .post(scan::ROUTE, ingest, scan::ingest)
        // The webhooks' senders present their own credential, which the
        // handler checks.
        .post(webhook::GITHUB_ROUTE, Need::OwnCredential, webhook::github)
        .post(
            webhook::K8S_AUDIT_ROUTE,
            Need::OwnCredential,
            webhook::k8s_audit,
        )
        .post("/_bulk", ingest, bulk::bulk)
        .put("/_bulk", ingest, bulk::bulk)
        .post("/{index}/_bulk", ingest, bulk::bulk_index)
        .put("/{index}/_bulk", ingest, bulk::bulk_index)
        .post("/services/collector", ingest, hec::event)
        .post("/services/collector/event", ingest, hec::event)
        .post("/services/collector/event/1.0", ingest, hec::event)
        .post("/services/collector/raw", ingest, hec::raw)
        .post("/services/collector/raw/1.0", ingest, hec::raw)
        .get("/services/collector/health", Need::Public, hec::health)
        .get("/services/collector/health/1.0", Need::Public, hec::health)
        .post("/v1/logs", ingest, otlp::logs)
        .get("/", Need::Public, crate::console::root)
        .get("/healthz", Need::Public, health::healthz)
        .get("/readyz", Need::Public, health::readyz)
        .get(
            "/metrics",
            Need::Perm(Permission::MetricsRead),
            health::metrics,
        )
        .get("/api/v1/me", Need::Authenticated, me::me)
        .get("/login", Need::Public, login::login_page)
        .post("/api/v1/login", Need::Public, login::login)
        .post("/api/v1/logout", Need::Authenticated, login::logout)
        .get(crate::access::oidc::LOGIN_ROUTE, Need::Public, oidc::start)
        .get(
            crate::access::oidc::CALLBACK_ROUTE,
            Need::Public,
            oidc::callback,
        )
        .get("/api/v1/apikeys", Need::Authenticated, apikeys::list)
        .post("/api/v1/apikeys", Need::Authenticated, apikeys::create)
        .delete("/api/v1/apikeys/{id}", Need::Authenticated, apikeys::revoke)
        .get("/api/v1/events/search", events, events::search)
        .get("/api/v1/events/{id}", events, events::get_event)
        .get("/api/v1/events/{id}/proof", evidence, events::proof)
        .get("/api/v1/store/checkpoint", evidence, events::checkpoint)
        .get("/api/v1/store/consistency", evidence, events::consistency)
        .get("/api/v1/store/public-key", Need::Public, events::public_key)
        .get(
            "/api/v1/rules/coverage",
            Need::Perm(Permission::RulesRead),
            health::rules_coverage,
        )
        .get(
            "/api/v1/audit",
            Need::Perm(Permission::AuditRead),
            events::audit,
        )
        .get(
            "/api/v1/compliance",
            Need::Perm(Permission::ComplianceRead),
            compliance::list,
        )
        .get(
            "/api/v1/compliance/{id}",
            Need::Perm(Permission::ComplianceRead),
            compliance::show,
        )
        .get("/api/v1/evidence/export", evidence, compliance::export)
        .post("/api/v1/import/sarif", ingest, gate::import_sarif)
        .post("/api/v1/import/sbom", ingest, gate::import_sbom)
        .post("/api/v1/import/vex", ingest, gate::import_vex)
        .post("/api/v1/import/provenance", ingest, gate::import_provenance)
        .get(
            "/api/v1/gate",
            Need::Perm(Permission::AlertsRead),
            gate::check,
        )
        .post(
            "/api/v1/gate/evaluate",
            Need::Perm(Permission::AlertsRead),
            gate::evaluate,
        )
        .post(
            "/api/v1/gate/signoff",
            Need::Perm(Permission::GateSignoff),
            gate::signoff,
        )
        .post(
            "/api/v1/compliance/{id}/attest",
            Need::Perm(Permission::ComplianceAttest),
            compliance::attest,
        )
}

/// Builds the whole router; `extra` are routes of other stages (alerting)
/// that carry their own state, with their declarations. Every route goes
/// through the permission check.
pub fn router(state: ApiState, extra: (Router, Vec<RouteSpec>)) -> Router {
    let max_body = state.ingest.ctx.limits.max_request_bytes;
    let (own, mut specs) = routes()
        .get("/api/v1/routes", Need::Authenticated, me::routes)
        .build();
    specs.extend(extra.1);
    let (access, audit) = (Arc::clone(&state.access), Arc::clone(&state.audit));
    let table = Arc::new(specs.clone());
    let routes = own
        .layer(axum::Extension(me::RouteTable(table)))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
        .merge(extra.0);
    protect(routes, &specs, access, audit)
}

/// Puts the permission check in front of every route of `router`, whose
/// declarations are `specs`.
pub fn protect(
    router: Router,
    specs: &[RouteSpec],
    access: Arc<Access>,
    audit: Arc<AuditTrail>,
) -> Router {
    let guard = Guard::new(access, specs, refusal, audit);
    router.route_layer(axum::middleware::from_fn_with_state(
        guard,
        crate::access::guard::check,
    ))
}

/// A refusal in the dialect of the route's clients: Splunk HEC and
/// Elasticsearch clients read their own error shapes.
fn refusal(path: &str, status: StatusCode, message: String) -> Response {
    if path.starts_with(crate::console::PREFIX) {
        return crate::console::refusal(status, &message);
    }
    if status == StatusCode::UNAUTHORIZED {
        if path.starts_with("/services/collector") {
            return crate::source::hec::unauthorized();
        }
        if path.ends_with("/_bulk") {
            return crate::source::bulk::unauthorized();
        }
    }
    crate::access::guard::json_refusal(status, message)
}
