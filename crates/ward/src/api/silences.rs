//! `/api/v1/silences`: list, create, expire (also as `DELETE`). A silence
//! never crosses its tenant: one created by a caller bound to a tenant gets
//! the matcher `tenant="<its tenant>"`, and callers see and expire only the
//! silences of their tenant. Each tenant has at most
//! [`SilenceLimits::max_per_tenant`] silences in force, each at most
//! [`SilenceLimits::max_duration`] long.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use ward_alert::alert::matcher::MatchOp;
use ward_alert::alert::silence::{self, MatcherInput, MatcherSpec, NewSilence, Silence};

use super::ApiError;
use super::alerts::{AlertApi, ApiResult, body, to_json};
use crate::access::{Caller, Principal};

/// How many silences a tenant may have and for how long.
#[derive(Debug, Clone, Copy)]
pub struct SilenceLimits {
    /// Longest a silence may last, counted from now.
    pub max_duration: Duration,
    /// Most silences pending or active per tenant.
    pub max_per_tenant: usize,
}

impl Default for SilenceLimits {
    fn default() -> Self {
        SilenceLimits {
            max_duration: Duration::from_secs(30 * 86_400),
            max_per_tenant: 100,
        }
    }
}

/// The tenant a silence is bound to: its `tenant="…"` matcher.
pub(crate) fn tenant_of(s: &Silence) -> Option<&str> {
    s.matchers
        .iter()
        .find(|m| m.name == "tenant" && m.op == MatchOp::Equal)
        .map(|m| m.value.as_str())
}

pub(crate) fn visible(caller: &Principal, s: &Silence) -> bool {
    caller
        .tenant_scope()
        .is_none_or(|t| tenant_of(s) == Some(t))
}

pub(crate) async fn list(State(api): State<AlertApi>, caller: Caller) -> ApiResult {
    let silences: Vec<_> = api
        .engine
        .silences()
        .into_iter()
        .filter(|v| visible(&caller, &v.silence))
        .collect();
    Ok(Json(json!({ "silences": silences })))
}

pub(crate) async fn add(
    State(api): State<AlertApi>,
    caller: Caller,
    b: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req: NewSilence = body(&b)?;
    let s = create(&api, &caller, req).await?;
    Ok((StatusCode::CREATED, to_json(&s)?))
}

/// Creates a silence for `caller`, bound to its tenant, within the limits.
pub(crate) async fn create(
    api: &AlertApi,
    caller: &Principal,
    mut req: NewSilence,
) -> Result<Silence, ApiError> {
    if let Some(t) = caller.tenant_scope() {
        req.matchers.push(MatcherInput::Spec(MatcherSpec {
            name: "tenant".into(),
            op: MatchOp::Equal,
            value: t.to_owned(),
        }));
    }
    let now = api.engine.now();
    let preview = silence::create(req.clone(), "", String::new(), now)?;
    let limits = api.silence_limits;
    let longest =
        jiff::SignedDuration::try_from(limits.max_duration).unwrap_or(jiff::SignedDuration::MAX);
    if preview.ends_at.duration_since(now) > longest {
        return Err(ApiError::BadRequest(format!(
            "a silence may last at most {} days from now",
            limits.max_duration.as_secs() / 86_400
        )));
    }
    let tenant = tenant_of(&preview).map(str::to_owned);
    let in_force = api
        .engine
        .silences()
        .iter()
        .filter(|v| v.state != silence::SilenceState::Expired)
        .filter(|v| tenant_of(&v.silence).map(str::to_owned) == tenant)
        .count();
    if in_force >= limits.max_per_tenant {
        return Err(ApiError::Conflict(format!(
            "this tenant already has {in_force} silences in force (the most allowed); expire some first"
        )));
    }
    Ok(api.engine.add_silence(req, &caller.actor()).await?)
}

pub(crate) async fn expire(
    State(api): State<AlertApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let hidden = api
        .engine
        .silences()
        .iter()
        .any(|v| v.silence.id == id && !visible(&caller, &v.silence));
    if hidden {
        return Err(ApiError::NotFound(format!("silence {id}")));
    }
    to_json(&api.engine.expire_silence(&id, &caller.actor()).await?)
}
