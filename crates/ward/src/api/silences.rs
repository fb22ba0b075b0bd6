//! `/api/v1/silences`: list, create, expire (also as `DELETE`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use ward_alert::alert::silence::NewSilence;

use super::ApiError;
use super::alerts::{AlertApi, ApiResult, body, to_json};

pub(crate) async fn list(State(api): State<AlertApi>, headers: HeaderMap) -> ApiResult {
    api.actor(&headers)?;
    Ok(Json(json!({ "silences": api.engine.silences() })))
}

pub(crate) async fn add(
    State(api): State<AlertApi>,
    headers: HeaderMap,
    b: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = api.actor(&headers)?;
    let req: NewSilence = body(&b)?;
    let s = api.engine.add_silence(req, &actor).await?;
    Ok((StatusCode::CREATED, to_json(&s)?))
}

pub(crate) async fn expire(
    State(api): State<AlertApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let actor = api.actor(&headers)?;
    to_json(&api.engine.expire_silence(&id, &actor).await?)
}
