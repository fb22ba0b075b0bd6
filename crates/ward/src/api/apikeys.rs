//! API keys over HTTP for people logged in to the web page:
//! `POST /api/v1/apikeys` creates one (shown once), `GET /api/v1/apikeys`
//! lists them, `DELETE /api/v1/apikeys/{id}` revokes one. A key is never
//! wider than the person who makes it: its role's permissions are a subset
//! of theirs, and its tenant is theirs (any tenant only for a caller with
//! `tenants:all`). Keys made here expire, after 90 days unless `expires`
//! says less, and at most after a year. Only a browser session may make a
//! key: a leaked key cannot breed keys that outlive its revocation.

use std::sync::LazyLock;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiState};
use crate::access::apikey::{self, KeyRecord, NewKey};
use crate::access::{Caller, Permission, Principal};

/// Longest lifetime of a key made over the API.
const MAX_EXPIRY: Duration = Duration::from_secs(365 * 86_400);

/// One change of the keys file at a time from the server.
static WRITING: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(Default::default);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    name: String,
    /// Default: the caller's role.
    role: Option<String>,
    /// Default: the caller's tenant.
    tenant: Option<String>,
    /// Lifetime, e.g. "30d"; default 90d, at most 365d.
    expires: Option<String>,
}

fn describe(k: &KeyRecord) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "role": k.role,
        "tenant": k.tenant,
        "created_at": k.created_at,
        "created_by": k.created_by,
        "expires_at": k.expires_at,
        "revoked_at": k.revoked_at,
    })
}

/// Whether `caller` may see or revoke key `k`: their own, or any of their
/// tenants' with the admin permission.
fn mine(caller: &Principal, k: &KeyRecord) -> bool {
    caller.sees(&k.tenant) && (k.created_by == caller.actor() || caller.can(Permission::Admin))
}

fn forbidden(why: String) -> ApiError {
    ApiError::Forbidden(why)
}

/// `POST /api/v1/apikeys`
pub async fn create(
    State(st): State<ApiState>,
    caller: Caller,
    body: Result<Json<NewKeyBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) =
        body.map_err(|e| ApiError::BadRequest(format!("the key request: {}", e.body_text())))?;
    if caller.kind != "session" {
        return Err(forbidden(
            "API keys are made by a person logged in to the web page, or with `ward apikey create`"
                .into(),
        ));
    }
    let role = body.role.unwrap_or_else(|| caller.role.clone());
    let Some(perms) = st.access.roles.get(&role) else {
        return Err(ApiError::BadRequest(format!("unknown role {role:?}")));
    };
    let tenant = body.tenant.unwrap_or_else(|| caller.tenant.clone());
    if caller.perms.covers(perms) && !crate::access::valid_tenant(&tenant) {
        return Err(ApiError::BadRequest(format!(
            "tenant: {}",
            crate::access::TENANT_RULE
        )));
    }
    caller
        .may_delegate(&role, perms, &tenant)
        .map_err(forbidden)?;
    let expires = match body.expires.as_deref() {
        None => apikey::DEFAULT_EXPIRY,
        Some(e) => crate::config::parse_duration(e)
            .map_err(|why| ApiError::BadRequest(format!("expires: {why}")))?,
    };
    if expires.is_zero() || expires > MAX_EXPIRY {
        return Err(ApiError::BadRequest(
            "expires: give a lifetime between 1s and 365d (keys made over the API always expire)"
                .into(),
        ));
    }
    let created_by = caller.actor();
    let data_dir = st.data_dir.clone();
    let _one = WRITING.lock().await;
    let made = tokio::task::spawn_blocking(move || {
        apikey::create(
            &data_dir,
            &NewKey {
                name: &body.name,
                role: &role,
                tenant: &tenant,
                created_by: &created_by,
                expires: Some(expires),
            },
        )
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    let (key, rec) = made.map_err(|e| ApiError::BadRequest(format!("{e:#}")))?;
    let mut out = describe(&rec);
    if let Some(o) = out.as_object_mut() {
        o.insert("key".into(), json!(key));
    }
    let mut resp = (StatusCode::CREATED, Json(out)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /api/v1/apikeys`: the caller's keys (an admin: every key of their
/// tenants), never the keys themselves.
pub async fn list(State(st): State<ApiState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let data_dir = st.data_dir.clone();
    let keys = tokio::task::spawn_blocking(move || apikey::read(&data_dir))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?
        .map_err(ApiError::Internal)?;
    let keys: Vec<Value> = keys
        .iter()
        .filter(|k| mine(&caller, k))
        .map(describe)
        .collect();
    Ok(Json(json!({ "keys": keys })))
}

/// `DELETE /api/v1/apikeys/{id}`
pub async fn revoke(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let data_dir = st.data_dir.clone();
    let _one = WRITING.lock().await;
    let keys = {
        let d = data_dir.clone();
        tokio::task::spawn_blocking(move || apikey::read(&d))
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?
            .map_err(ApiError::Internal)?
    };
    // Someone else's key is as unknown as a key that does not exist.
    if !keys
        .iter()
        .any(|k| k.id == id && k.revoked_at.is_none() && mine(&caller, k))
    {
        return Err(ApiError::NotFound(format!(
            "API key {}",
            crate::cli::escape::cell(&id)
        )));
    }
    let rec = tokio::task::spawn_blocking(move || apikey::revoke(&data_dir, &id))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?
        .map_err(|e| ApiError::BadRequest(format!("{e:#}")))?;
    Ok(Json(describe(&rec)))
}
