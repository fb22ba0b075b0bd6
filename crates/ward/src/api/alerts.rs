//! `/api/v1/alerts`: list (with filters), get, acknowledge, resolve,
//! assign, comment, and response figures; plus [`router`], which gathers
//! every alerting resource (alerts, [`super::silences`], [`super::owners`],
//! [`super::receivers`]) for the alert stage to hand out. Every route
//! declares its permission; the caller ([`Caller`]) is the actor, and sees
//! only the alerts of its tenant (label `tenant`) unless it holds
//! `tenants:all`. Errors are [`ApiError`]s.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use ward_alert::{Alert, AlertFilter, Resolution, Status};

use super::ApiError;
use crate::access::{Caller, Need, Permission, Principal, RouteSpec, Routes};
use crate::alert::Engine;

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

/// What the alerting handlers share.
#[derive(Clone)]
pub struct AlertApi {
    pub engine: Arc<Engine>,
    pub silence_limits: super::silences::SilenceLimits,
}

pub(crate) type ApiResult = Result<Json<Value>, ApiError>;

/// The tenant of an alert: its `tenant` label.
pub(crate) fn tenant_of(a: &Alert) -> Option<&str> {
    a.labels.get("tenant").map(String::as_str)
}

/// Whether the caller sees this alert: its tenant's, or every one with
/// `tenants:all`. An alert without a tenant is visible to `tenants:all`
/// only.
pub(crate) fn visible(caller: &Principal, a: &Alert) -> bool {
    match caller.tenant_scope() {
        None => true,
        Some(t) => tenant_of(a) == Some(t),
    }
}

impl AlertApi {
    /// The alert if the caller may see it; 404 alike for absent and hidden.
    fn alert_for(&self, caller: &Principal, id: &str) -> Result<Alert, ApiError> {
        self.engine
            .alert(id)
            .filter(|a| visible(caller, a))
            .ok_or_else(|| ApiError::NotFound(format!("alert {id}")))
    }
}

/// A JSON request body, at most [`MAX_BODY`] bytes.
pub(crate) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY {
        return Err(ApiError::BadRequest(format!(
            "request body is larger than {MAX_BODY} bytes"
        )));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> ApiResult {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.into()))
}

/// The alerting API, to merge into the application's router, with the
/// permission of each route.
pub fn router<S>(
    engine: Arc<Engine>,
    silence_limits: super::silences::SilenceLimits,
) -> (Router<S>, Vec<RouteSpec>)
where
    S: Clone + Send + Sync + 'static,
{
    use super::{owners, receivers, silences};
    use Permission as P;
    let api = AlertApi {
        engine,
        silence_limits,
    };
    let read = Need::Perm(P::AlertsRead);
    let respond = Need::Perm(P::AlertsRespond);
    let routing_read = Need::Perm(P::RoutingRead);
    let routing_write = Need::Perm(P::RoutingWrite);
    let silences_write = Need::Perm(P::SilencesWrite);
    let (router, specs) = Routes::default()
        .get("/api/v1/alerts", read, list_alerts)
        .get("/api/v1/alerts/metrics", read, alert_metrics)
        .get("/api/v1/alerts/{id}", read, get_alert)
        .post("/api/v1/alerts/{id}/ack", respond, ack)
        .post("/api/v1/alerts/{id}/resolve", respond, resolve)
        .post("/api/v1/alerts/{id}/assign", respond, assign)
        .post("/api/v1/alerts/{id}/comment", respond, comment)
        .get(
            "/api/v1/silences",
            Need::Perm(P::SilencesRead),
            silences::list,
        )
        .post("/api/v1/silences", silences_write, silences::add)
        .delete("/api/v1/silences/{id}", silences_write, silences::expire)
        .post(
            "/api/v1/silences/{id}/expire",
            silences_write,
            silences::expire,
        )
        .get("/api/v1/owners", routing_read, owners::list)
        .put(
            "/api/v1/owners/teams/{name}",
            routing_write,
            owners::put_team,
        )
        .put(
            "/api/v1/owners/{kind}/{key}",
            routing_write,
            owners::put_owner,
        )
        .delete(
            "/api/v1/owners/{kind}/{key}",
            routing_write,
            owners::delete_owner,
        )
        .get("/api/v1/receivers", routing_read, receivers::list)
        .get(
            "/api/v1/receivers/{name}/deliveries",
            routing_read,
            receivers::deliveries,
        )
        .build();
    (router.with_state(api), specs)
}

async fn list_alerts(
    State(api): State<AlertApi>,
    caller: Caller,
    q: Result<Query<AlertFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(filter) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(s) = &filter.status
        && Status::parse(s).is_none()
        && s != "firing"
    {
        return Err(ApiError::BadRequest(
            "status must be open, acknowledged, resolved or firing".into(),
        ));
    }
    let limit = filter.limit;
    let unlimited = AlertFilter {
        limit: None,
        ..filter
    };
    let mut alerts: Vec<Alert> = api
        .engine
        .alerts(&unlimited)
        .into_iter()
        .filter(|a| visible(&caller, a))
        .collect();
    if let Some(n) = limit {
        alerts.truncate(n);
    }
    Ok(Json(json!({ "alerts": alerts, "count": alerts.len() })))
}

async fn alert_metrics(State(api): State<AlertApi>, caller: Caller) -> ApiResult {
    let stats = api.engine.response_stats_where(|a| visible(&caller, a));
    Ok(Json(json!({ "stats": stats })))
}

async fn get_alert(
    State(api): State<AlertApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    to_json(&api.alert_for(&caller, &id)?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckBody {
    #[serde(default)]
    comment: Option<String>,
}

async fn ack(
    State(api): State<AlertApi>,
    caller: Caller,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult {
    api.alert_for(&caller, &id)?;
    let actor = caller.actor();
    let req: AckBody = if b.is_empty() {
        AckBody::default()
    } else {
        body(&b)?
    };
    to_json(
        &api.engine
            .acknowledge(&id, &actor, req.comment.as_deref())
            .await?,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveBody {
    resolution: Resolution,
    #[serde(default)]
    comment: Option<String>,
}

async fn resolve(
    State(api): State<AlertApi>,
    caller: Caller,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult {
    api.alert_for(&caller, &id)?;
    let actor = caller.actor();
    let req: ResolveBody = body(&b)?;
    to_json(
        &api.engine
            .resolve(&id, &actor, req.resolution, req.comment.as_deref())
            .await?,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignBody {
    assignee: String,
}

async fn assign(
    State(api): State<AlertApi>,
    caller: Caller,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult {
    api.alert_for(&caller, &id)?;
    let actor = caller.actor();
    let req: AssignBody = body(&b)?;
    to_json(&api.engine.assign(&id, &actor, &req.assignee).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommentBody {
    text: String,
}

async fn comment(
    State(api): State<AlertApi>,
    caller: Caller,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult {
    api.alert_for(&caller, &id)?;
    let actor = caller.actor();
    let req: CommentBody = body(&b)?;
    to_json(&api.engine.comment(&id, &actor, &req.text).await?)
}
