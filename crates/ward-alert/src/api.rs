//! The HTTP API under `/api/v1`: alerts (list, get, ack, resolve, assign,
//! comment, response metrics), silences, owners, receivers' delivery logs.
//! Every route asks the application's `auth` function for the actor; answers
//! are JSON, errors `{"error": "..."}` with a fitting status code, and
//! internal errors are logged and answered with a generic message.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::admin::NewSilence;
use crate::alert::Resolution;
use crate::alert::owner::OwnedKind;
use crate::config::TeamConfig;
use crate::engine::{AlertFilter, Engine};
use crate::error::AlertError;

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

type Auth = Arc<dyn Fn(&HeaderMap) -> Option<String> + Send + Sync>;

#[derive(Clone)]
struct Api {
    engine: Arc<Engine>,
    auth: Auth,
}

/// An API error: status code and message.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    NotFound(String),
    BadRequest(String),
    Conflict(String),
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, msg) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "authentication required".to_string(),
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error, see the server log".to_string(),
            ),
        };
        (code, Json(json!({ "error": msg }))).into_response()
    }
}

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::UnknownAlert(_)
            | AlertError::UnknownSilence(_)
            | AlertError::UnknownReceiver(_) => ApiError::NotFound(e.to_string()),
            AlertError::Invalid(_) | AlertError::InvalidFinding { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            AlertError::Conflict(_) => ApiError::Conflict(e.to_string()),
            other => {
                tracing::error!(error = %other, "alert API internal error");
                ApiError::Internal
            }
        }
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

impl Api {
    fn actor(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        (self.auth)(headers).ok_or(ApiError::Unauthorized)
    }
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY {
        return Err(ApiError::BadRequest(format!(
            "request body is larger than {MAX_BODY} bytes"
        )));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> ApiResult {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|_| ApiError::Internal)
}

impl Engine {
    /// The alerting API, to merge into the application's router. `auth`
    /// returns the actor for a request, or None to answer 401.
    pub fn router<S>(
        self: &Arc<Self>,
        auth: impl Fn(&HeaderMap) -> Option<String> + Clone + Send + Sync + 'static,
    ) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let api = Api {
            engine: self.clone(),
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
            .route("/api/v1/silences", get(list_silences).post(add_silence))
            .route(
                "/api/v1/silences/{id}",
                axum::routing::delete(expire_silence),
            )
            .route("/api/v1/silences/{id}/expire", post(expire_silence))
            .route("/api/v1/owners", get(owners))
            .route("/api/v1/owners/teams/{name}", put(put_team))
            .route(
                "/api/v1/owners/{kind}/{key}",
                put(put_owner).delete(delete_owner),
            )
            .route("/api/v1/receivers", get(receivers))
            .route("/api/v1/receivers/{name}/deliveries", get(deliveries))
            .with_state(api)
    }
}

async fn list_alerts(
    State(api): State<Api>,
    headers: HeaderMap,
    q: Result<Query<AlertFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    api.actor(&headers)?;
    let Query(filter) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(s) = &filter.status
        && crate::alert::Status::parse(s).is_none()
        && s != "firing"
    {
        return Err(ApiError::BadRequest(
            "status must be open, acknowledged, resolved or firing".into(),
        ));
    }
    let alerts = api.engine.alerts(&filter);
    Ok(Json(json!({ "alerts": alerts, "count": alerts.len() })))
}

async fn alert_metrics(State(api): State<Api>, headers: HeaderMap) -> ApiResult {
    api.actor(&headers)?;
    Ok(Json(json!({ "stats": api.engine.response_stats() })))
}

async fn get_alert(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    api.actor(&headers)?;
    let a = api
        .engine
        .alert(&id)
        .ok_or(ApiError::NotFound(format!("no alert with id {id}")))?;
    to_json(&a)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AckBody {
    #[serde(default)]
    comment: Option<String>,
}

async fn ack(
    State(api): State<Api>,
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
struct ResolveBody {
    resolution: Resolution,
    #[serde(default)]
    comment: Option<String>,
}

async fn resolve(
    State(api): State<Api>,
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
struct AssignBody {
    assignee: String,
}

async fn assign(
    State(api): State<Api>,
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
struct CommentBody {
    text: String,
}

async fn comment(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = api.actor(&headers)?;
    let req: CommentBody = body(&b)?;
    to_json(&api.engine.comment(&id, &actor, &req.text).await?)
}

async fn list_silences(State(api): State<Api>, headers: HeaderMap) -> ApiResult {
    api.actor(&headers)?;
    Ok(Json(json!({ "silences": api.engine.silences() })))
}

async fn add_silence(
    State(api): State<Api>,
    headers: HeaderMap,
    b: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = api.actor(&headers)?;
    let req: NewSilence = body(&b)?;
    let s = api.engine.add_silence(req, &actor).await?;
    Ok((StatusCode::CREATED, to_json(&s)?))
}

async fn expire_silence(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let actor = api.actor(&headers)?;
    to_json(&api.engine.expire_silence(&id, &actor).await?)
}

async fn owners(State(api): State<Api>, headers: HeaderMap) -> ApiResult {
    api.actor(&headers)?;
    to_json(&api.engine.owners())
}

async fn put_team(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(name): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = api.actor(&headers)?;
    let team: TeamConfig = body(&b)?;
    api.engine.put_team(&name, team, &actor).await?;
    to_json(&api.engine.owners())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerBody {
    team: String,
}

fn kind(s: &str) -> Result<OwnedKind, ApiError> {
    OwnedKind::parse(s).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no owner registry {s:?}: use services, repositories, hosts, tenants or teams"
        ))
    })
}

async fn put_owner(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((k, key)): Path<(String, String)>,
    b: Bytes,
) -> ApiResult {
    let actor = api.actor(&headers)?;
    let kind = kind(&k)?;
    let req: OwnerBody = body(&b)?;
    api.engine
        .put_owner(kind, &key, Some(&req.team), &actor)
        .await?;
    to_json(&api.engine.owners())
}

async fn delete_owner(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((k, key)): Path<(String, String)>,
) -> ApiResult {
    let actor = api.actor(&headers)?;
    let kind = kind(&k)?;
    api.engine.put_owner(kind, &key, None, &actor).await?;
    to_json(&api.engine.owners())
}

async fn receivers(State(api): State<Api>, headers: HeaderMap) -> ApiResult {
    api.actor(&headers)?;
    Ok(Json(json!({ "receivers": api.engine.receivers() })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Limit {
    limit: Option<usize>,
}

async fn deliveries(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(name): Path<String>,
    q: Result<Query<Limit>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    api.actor(&headers)?;
    let Query(l) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = l.limit.unwrap_or(100).min(1000);
    let log = api.engine.deliveries(&name, limit)?;
    let queue = api.engine.queue(&name, limit)?;
    Ok(Json(
        json!({ "receiver": name, "deliveries": log, "queue": queue }),
    ))
}
