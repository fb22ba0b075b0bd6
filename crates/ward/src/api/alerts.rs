//! `/api/v1/alerts`: list (with filters), get, acknowledge, resolve,
//! assign, comment, and response figures; plus [`router`], which gathers
//! every alerting resource (alerts, [`super::silences`], [`super::owners`],
//! [`super::receivers`]) for the alert stage to hand out. Every route asks
//! the application's `auth` for the actor; errors are [`ApiError`]s.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use ward_alert::{AlertFilter, Resolution, Status};

use super::ApiError;
use crate::alert::Engine;

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

type Auth = Arc<dyn Fn(&HeaderMap) -> Option<String> + Send + Sync>;

/// What the alerting handlers share.
#[derive(Clone)]
pub(crate) struct AlertApi {
    pub engine: Arc<Engine>,
    auth: Auth,
}

pub(crate) type ApiResult = Result<Json<Value>, ApiError>;

impl AlertApi {
    /// The caller, or 401.
    pub fn actor(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        (self.auth)(headers).ok_or(ApiError::Unauthorized)
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

/// The alerting API, to merge into the application's router. `auth`
/// returns the actor for a request, or None to answer 401.
pub fn router<S>(
    engine: Arc<Engine>,
    auth: impl Fn(&HeaderMap) -> Option<String> + Clone + Send + Sync + 'static,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    use super::{owners, receivers, silences};
    let api = AlertApi {
        engine,
        auth: Arc::new(auth),
    };
    Router::new()
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/metrics", get(alert_metrics))
        .route("/api/v1/alerts/{id}", get(get_alert))
        .route("/api/v1/alerts/{id}/ack", post(ack))
        .route("/api/v1/alerts/{id}/resolve", post(resolve))
        .route("/api/v1/alerts/{id}/assign", post(assign))
        .route("/api/v1/alerts/{id}/comment", post(comment))
        .route("/api/v1/silences", get(silences::list).post(silences::add))
        .route("/api/v1/silences/{id}", delete(silences::expire))
        .route("/api/v1/silences/{id}/expire", post(silences::expire))
        .route("/api/v1/owners", get(owners::list))
        .route("/api/v1/owners/teams/{name}", put(owners::put_team))
        .route(
            "/api/v1/owners/{kind}/{key}",
            put(owners::put_owner).delete(owners::delete_owner),
        )
        .route("/api/v1/receivers", get(receivers::list))
        .route(
            "/api/v1/receivers/{name}/deliveries",
            get(receivers::deliveries),
        )
        .with_state(api)
}

async fn list_alerts(
    State(api): State<AlertApi>,
    headers: HeaderMap,
    q: Result<Query<AlertFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    api.actor(&headers)?;
    let Query(filter) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(s) = &filter.status
        && Status::parse(s).is_none()
        && s != "firing"
    {
        return Err(ApiError::BadRequest(
            "status must be open, acknowledged, resolved or firing".into(),
        ));
    }
    let alerts = api.engine.alerts(&filter);
    Ok(Json(json!({ "alerts": alerts, "count": alerts.len() })))
}

async fn alert_metrics(State(api): State<AlertApi>, headers: HeaderMap) -> ApiResult {
    api.actor(&headers)?;
    Ok(Json(json!({ "stats": api.engine.response_stats() })))
}

async fn get_alert(
    State(api): State<AlertApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    api.actor(&headers)?;
    let a = api
        .engine
        .alert(&id)
        .ok_or_else(|| ApiError::NotFound(format!("alert {id}")))?;
    to_json(&a)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckBody {
    #[serde(default)]
    comment: Option<String>,
}

async fn ack(
    State(api): State<AlertApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = api.actor(&headers)?;
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
    headers: HeaderMap,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = api.actor(&headers)?;
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
    headers: HeaderMap,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = api.actor(&headers)?;
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
    headers: HeaderMap,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = api.actor(&headers)?;
    let req: CommentBody = body(&b)?;
    to_json(&api.engine.comment(&id, &actor, &req.text).await?)
}
