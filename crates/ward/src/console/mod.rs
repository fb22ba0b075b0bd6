//! The analyst console: server-rendered pages from askama templates
//! (`templates/`), enhanced by htmx (vendored, embedded, [`asset`]) and one
//! script of Ward's own (keyboard shortcuts, live updates). No page holds
//! inline script or style, so the Content-Security-Policy allows nothing
//! but this server's own files; every console answer, refusals included,
//! carries it ([`secure`]).
//!
//! The console uses the browser session of [`crate::access::session`]: a
//! caller without one is sent to `/login`, and every change sends the
//! session's CSRF token (the script adds it to htmx's requests). Each page
//! calls the same internals as the JSON API ([`crate::api::alerts`],
//! [`crate::api::events`]) and sees exactly what the caller's tenant sees.
//!
//! - [`queue`]: the alert queue (`/`, `/console/alerts`), grouping, live
//!   updates; [`bulk`]: bulk actions by selection or by query, saved views;
//! - [`prefs`]: each person's theme, density and saved views, on the server;
//! - [`detail`]: one alert, its evidence proved against the signed
//!   checkpoint, and the analyst's actions;
//! - [`search`]: event search (field sidebar, saved searches) and one
//!   event with all its fields; [`histogram`]: matches over time, with
//!   brushing; [`export`]: a search's events as NDJSON or CSV;
//! - [`entity`]: one user, host, IP, service or AI tool on a time axis;
//! - [`rules`]: the loaded rules with their coverage, alerts and noise,
//!   load errors, silences;
//! - [`operations`]: store health, detection lag, readiness, sources,
//!   MTTA/MTTR/SLA per team and severity, the compliance posture.

mod asset;
pub mod bulk;
pub mod detail;
pub mod entity;
pub mod export;
pub mod histogram;
pub mod operations;
mod page;
pub mod prefs;
pub mod queue;
pub mod rules;
pub mod search;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use crate::access::guard::SessionCsrf;
use crate::access::{Caller, Need, Permission, Routes};
use crate::api::alerts::AlertApi;
use crate::api::{ApiState, EventsState};

pub use page::{refusal, secure};

/// Where the console's routes live (besides `/`).
pub const PREFIX: &str = "/console";

/// What the console's pages reach.
#[derive(Clone)]
pub struct ConsoleState {
    pub alerts: AlertApi,
    pub events: EventsState,
    pub health: crate::api::health::Health,
    /// Each person's theme, density, saved views and searches.
    pub prefs: std::sync::Arc<prefs::Prefs>,
    /// The compliance posture (none when compliance is disabled).
    pub compliance: crate::api::compliance::ComplianceState,
}

/// Adds the console's routes, each with the permission it needs.
pub fn routes(r: Routes<ApiState>) -> Routes<ApiState> {
    use Permission as P;
    let read = Need::Perm(P::AlertsRead);
    let respond = Need::Perm(P::AlertsRespond);
    let events = Need::Perm(P::EventsRead);
    r.get("/console/alerts", read, queue::page)
        .get("/console/live", read, queue::live)
        .post("/console/alerts/bulk", respond, bulk::bulk)
        .post("/console/views", read, bulk::save_view)
        .post("/console/prefs", Need::Authenticated, prefs::set)
        .get("/console/alerts/{id}", read, detail::page)
        .post("/console/alerts/{id}/ack", respond, detail::ack)
        .post("/console/alerts/{id}/assign", respond, detail::assign)
        .post("/console/alerts/{id}/comment", respond, detail::comment)
        .post("/console/alerts/{id}/resolve", respond, detail::resolve)
        .post(
            "/console/alerts/{id}/silence",
            Need::Perm(P::SilencesWrite),
            detail::silence,
        )
        .get("/console/search", events, search::page)
        .get("/console/search/histogram", events, histogram::fragment)
        .get("/console/search/export", events, export::export)
        .post("/console/searches", events, search::save)
        .post("/console/searches/delete", events, search::delete)
        .get("/console/events/{id}", events, search::event)
        .get("/console/entity", events, entity::page)
        .get("/console/rules", Need::Perm(P::RulesRead), rules::page)
        .get(
            "/console/operations",
            Need::Perm(P::MetricsRead),
            operations::page,
        )
        .get("/console/assets/{name}", Need::Public, asset::serve)
}

/// `GET /`: the console for a browser (the alert queue; `/login` first
/// without a session), the node banner for an Elasticsearch client.
pub async fn root(
    st: State<ConsoleState>,
    caller: Option<Caller>,
    csrf: Option<Extension<SessionCsrf>>,
    headers: HeaderMap,
    q: queue::Params<queue::QueueParams>,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if !wants_html {
        return crate::source::bulk::root();
    }
    let Some(caller) = caller else {
        return refusal(StatusCode::UNAUTHORIZED, "log in first");
    };
    if !caller.can(Permission::AlertsRead) {
        return refusal(
            StatusCode::FORBIDDEN,
            &format!("forbidden: this needs {}", Permission::AlertsRead.as_str()),
        );
    }
    queue::page(st, caller, csrf, q).await
}
