//! `/api/v1/receivers`: the configured receivers and each one's delivery
//! log and outbox queue. A receiver's log holds the notifications of every
//! tenant, so it is shown to callers with `tenants:all` only.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use super::alerts::{AlertApi, ApiResult};
use crate::access::{Caller, Permission};

pub(crate) async fn list(State(api): State<AlertApi>) -> ApiResult {
    Ok(Json(json!({ "receivers": api.engine.receivers() })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Limit {
    limit: Option<usize>,
}

pub(crate) async fn deliveries(
    State(api): State<AlertApi>,
    caller: Caller,
    Path(name): Path<String>,
    q: Result<Query<Limit>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    if !caller.can(Permission::TenantsAll) {
        return Err(ApiError::Forbidden(
            "delivery logs hold every tenant's notifications: this needs tenants:all".into(),
        ));
    }
    let Query(l) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = l.limit.unwrap_or(100).min(1000);
    let log = api.engine.deliveries(&name, limit)?;
    let queue = api.engine.queue(&name, limit)?;
    Ok(Json(
        json!({ "receiver": name, "deliveries": log, "queue": queue }),
    ))
}
