//! `/api/v1/receivers`: the configured receivers and each one's delivery
//! log and outbox queue.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use super::alerts::{AlertApi, ApiResult};

pub(crate) async fn list(State(api): State<AlertApi>, headers: HeaderMap) -> ApiResult {
    api.actor(&headers)?;
    Ok(Json(json!({ "receivers": api.engine.receivers() })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Limit {
    limit: Option<usize>,
}

pub(crate) async fn deliveries(
    State(api): State<AlertApi>,
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
