//! `/api/v1/owners`: the owner registry; teams and the services,
//! repositories, hosts and tenants they own. The registry decides who is
//! paged for every tenant, so only a caller with `tenants:all` changes
//! teams, services, repositories and hosts; a caller bound to a tenant
//! sees and changes only the `tenants` entry of its own tenant (and sees
//! the team it names).

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::json;
use ward_alert::alert::owner::OwnedKind;
use ward_alert::config::TeamConfig;

use super::ApiError;
use super::alerts::{AlertApi, ApiResult, body, to_json};
use crate::access::{Caller, Permission, Principal};

fn registry_for(api: &AlertApi, caller: &Principal) -> ApiResult {
    let owners = api.engine.owners();
    let Some(tenant) = caller.tenant_scope() else {
        return to_json(&owners);
    };
    let all = serde_json::to_value(&owners).map_err(|e| ApiError::Internal(e.into()))?;
    let team = all["tenants"].get(tenant).cloned();
    let mut teams = serde_json::Map::new();
    if let Some(name) = team.as_ref().and_then(|t| t.as_str())
        && let Some(t) = all["teams"].get(name)
    {
        teams.insert(name.to_owned(), t.clone());
    }
    let mut tenants = serde_json::Map::new();
    if let Some(t) = team {
        tenants.insert(tenant.to_owned(), t);
    }
    Ok(axum::Json(json!({
        "teams": teams,
        "services": {},
        "repositories": {},
        "hosts": {},
        "tenants": tenants,
    })))
}

pub(crate) async fn list(State(api): State<AlertApi>, caller: Caller) -> ApiResult {
    registry_for(&api, &caller)
}

/// Refuses a change of the registry outside the caller's own tenant entry.
fn may_change(caller: &Principal, kind: Option<OwnedKind>, key: &str) -> Result<(), ApiError> {
    if caller.can(Permission::TenantsAll)
        || (kind == Some(OwnedKind::Tenants) && caller.tenant_scope() == Some(key))
    {
        return Ok(());
    }
    Err(ApiError::Forbidden(
        "only tenants:all changes teams and entries other than your own tenant's".into(),
    ))
}

pub(crate) async fn put_team(
    State(api): State<AlertApi>,
    caller: Caller,
    Path(name): Path<String>,
    b: Bytes,
) -> ApiResult {
    may_change(&caller, None, &name)?;
    let team: TeamConfig = body(&b)?;
    api.engine.put_team(&name, team, &caller.actor()).await?;
    registry_for(&api, &caller)
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
    caller: Caller,
    Path((k, key)): Path<(String, String)>,
    b: Bytes,
) -> ApiResult {
    let kind = kind(&k)?;
    may_change(&caller, Some(kind), &key)?;
    let req: OwnerBody = body(&b)?;
    api.engine
        .put_owner(kind, &key, Some(&req.team), &caller.actor())
        .await?;
    registry_for(&api, &caller)
}

pub(crate) async fn delete_owner(
    State(api): State<AlertApi>,
    caller: Caller,
    Path((k, key)): Path<(String, String)>,
) -> ApiResult {
    let kind = kind(&k)?;
    may_change(&caller, Some(kind), &key)?;
    api.engine
        .put_owner(kind, &key, None, &caller.actor())
        .await?;
    registry_for(&api, &caller)
}
