//! `/api/v1/owners`: the owner registry; teams and the services,
//! repositories, hosts and tenants they own.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use ward_alert::alert::owner::OwnedKind;
use ward_alert::config::TeamConfig;

use super::ApiError;
use super::alerts::{AlertApi, ApiResult, body, to_json};

pub(crate) async fn list(State(api): State<AlertApi>, headers: HeaderMap) -> ApiResult {
    api.actor(&headers)?;
    to_json(&api.engine.owners())
}

pub(crate) async fn put_team(
    State(api): State<AlertApi>,
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
pub(crate) struct OwnerBody {
    team: String,
}

fn kind(s: &str) -> Result<OwnedKind, ApiError> {
    OwnedKind::parse(s).ok_or_else(|| {
        ApiError::NotFound(format!(
            "owner registry {s:?} (use services, repositories, hosts, tenants or teams)"
        ))
    })
}

pub(crate) async fn put_owner(
    State(api): State<AlertApi>,
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

pub(crate) async fn delete_owner(
    State(api): State<AlertApi>,
    headers: HeaderMap,
    Path((k, key)): Path<(String, String)>,
) -> ApiResult {
    let actor = api.actor(&headers)?;
    let kind = kind(&k)?;
    api.engine.put_owner(kind, &key, None, &actor).await?;
    to_json(&api.engine.owners())
}
