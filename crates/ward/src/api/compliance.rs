//! `/api/v1/compliance`: the posture (scores per framework, every
//! control's state), one control with its definition and history, and
//! attestations of manual controls.
//!
//! The posture is Ward-wide: controls evaluate the whole store. A caller
//! bound to a tenant sees states, reasons and mappings, but not the
//! figures and queries behind them (`observed`, `queries`), which can name
//! other tenants' services or sources.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use super::alerts::{ApiResult, body};
use crate::access::{Caller, Principal};
use crate::compliance::control::{Check, MAX_TEXT};
use crate::compliance::{Attestation, ControlResult, Live, history, scores};

/// What the compliance routes reach: nothing when compliance is disabled.
#[derive(Clone, Default)]
pub struct ComplianceState(pub Option<Live>);

impl ComplianceState {
    pub(crate) fn live(&self) -> Result<&Live, ApiError> {
        self.0.as_ref().ok_or_else(|| {
            ApiError::NotFound("compliance evaluation (disabled by compliance.enabled)".into())
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    framework: Option<String>,
}

fn scoped(caller: &Principal, mut r: ControlResult) -> ControlResult {
    if caller.tenant_scope().is_some() {
        r.observed = Value::Null;
        r.queries = Vec::new();
    }
    r
}

pub(crate) async fn list(
    State(s): State<ComplianceState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    let live = s.live()?;
    let pack = live.compliance.pack();
    if let Some(f) = &q.framework
        && !pack.catalogs.contains_key(f)
    {
        return Err(ApiError::NotFound(format!(
            "framework {f:?} (known: {})",
            pack.catalogs.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let results = live.compliance.results(jiff::Timestamp::now());
    let mut frameworks = scores(pack, &results);
    let mut controls: Vec<ControlResult> = results
        .into_iter()
        .filter(|r| {
            q.framework
                .as_ref()
                .is_none_or(|f| r.mappings.iter().any(|m| &m.framework == f))
        })
        .map(|r| scoped(&caller, r))
        .collect();
    if let Some(f) = &q.framework {
        frameworks.retain(|s| &s.framework == f);
    }
    controls.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(axum::Json(json!({
        "frameworks": frameworks,
        "controls": controls,
        "load_errors": pack.errors,
    })))
}

pub(crate) async fn show(
    State(s): State<ComplianceState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let live = s.live()?;
    let pack = live.compliance.pack();
    let control = pack
        .control(&id)
        .ok_or_else(|| ApiError::NotFound(format!("control {}", printable(&id))))?;
    let result = live
        .compliance
        .results(jiff::Timestamp::now())
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("control {}", printable(&id))))?;
    let mut hist = history::read(live.compliance.data_dir(), &id, None)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let keep = hist.len().saturating_sub(200);
    hist.drain(..keep);
    if caller.tenant_scope().is_some() {
        for h in &mut hist {
            h.observed = Value::Null;
        }
    }
    let requirements: Vec<Value> = control
        .mappings
        .iter()
        .map(|m| {
            let cat = pack.catalogs.get(&m.framework);
            json!({
                "framework": m.framework,
                "version": cat.map(|c| c.version.clone()),
                "id": m.id,
                "relationship": m.relationship,
                "summary": cat.and_then(|c| c.ids.get(&m.id)),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "control": scoped(&caller, result),
        "definition": control.definition,
        "file": control.file,
        "requirements": requirements,
        "exceptions": control.exceptions,
        "history": hist,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttestBody {
    /// `pass` or `fail`.
    result: String,
    note: String,
    /// How long the attestation holds, e.g. "90d" (at most the control's
    /// `max_validity`, which is also the default).
    #[serde(default)]
    expires_in: Option<String>,
}

pub(crate) async fn attest(
    State(s): State<ComplianceState>,
    caller: Caller,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult {
    let live = s.live()?;
    let pack = live.compliance.pack();
    let control = pack
        .control(&id)
        .ok_or_else(|| ApiError::NotFound(format!("control {}", printable(&id))))?;
    let Check::Manual { max_validity } = control.check else {
        return Err(ApiError::Conflict(format!(
            "control {id} is checked by {} data, not attested",
            control.check.kind()
        )));
    };
    let req: AttestBody = body(&b)?;
    let result = match req.result.as_str() {
        "pass" => crate::compliance::State::Pass,
        "fail" => crate::compliance::State::Fail,
        _ => {
            return Err(ApiError::BadRequest(
                "result: must be \"pass\" or \"fail\"".into(),
            ));
        }
    };
    if req.note.trim().is_empty()
        || req.note.len() > MAX_TEXT
        || req.note.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(ApiError::BadRequest(format!(
            "note: 1 to {MAX_TEXT} bytes saying what was checked, without control characters"
        )));
    }
    let valid = match &req.expires_in {
        None => max_validity,
        Some(t) => {
            let d = crate::config::parse_duration(t)
                .map_err(|e| ApiError::BadRequest(format!("expires_in: {e}")))?;
            if d.is_zero() || d > max_validity {
                return Err(ApiError::BadRequest(format!(
                    "expires_in: must be more than zero and at most {} for {id}",
                    crate::compliance::evaluate::human(max_validity)
                )));
            }
            d
        }
    };
    let now = jiff::Timestamp::now();
    let expires = jiff::SignedDuration::try_from(valid)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .ok_or_else(|| ApiError::BadRequest("expires_in: too long".into()))?;
    let a = Attestation {
        control: id.clone(),
        result,
        by: caller.actor(),
        note: req.note,
        at: now,
        expires,
    };
    let dir = live.compliance.data_dir().to_owned();
    tokio::task::spawn_blocking(move || history::attest(&dir, &a))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(e.into()))?;
    live.evaluate(Some(id.clone())).await?;
    let r = live
        .compliance
        .results(jiff::Timestamp::now())
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("control {id}")))?;
    Ok(axum::Json(json!({ "control": scoped(&caller, r) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    framework: Option<String>,
    /// Start of the period, e.g. "90d" (default) or a date.
    since: Option<String>,
}

/// An evidence bundle: `{"files": {path: text}}`, the manifest signed with
/// the store's key. The population holds every tenant's events, so only a
/// caller with `tenants:all` exports; the export is in the audit trail
/// like every evidence read.
pub(crate) async fn export(
    State(s): State<ComplianceState>,
    caller: Caller,
    Query(q): Query<ExportQuery>,
) -> ApiResult {
    let live = s.live()?.clone();
    if caller.tenant_scope().is_some() {
        return Err(ApiError::Forbidden(
            "an evidence bundle holds every tenant's events: this needs tenants:all".into(),
        ));
    }
    if let Some(f) = &q.framework
        && !live.compliance.pack().catalogs.contains_key(f)
    {
        return Err(ApiError::NotFound(format!("framework {}", printable(f))));
    }
    let now = jiff::Timestamp::now();
    let since = crate::store::parse_time_bound(q.since.as_deref().unwrap_or("90d"), now)
        .map_err(|e| ApiError::BadRequest(format!("since: {e}")))?;
    let since = jiff::Timestamp::from_millisecond(since)
        .map_err(|e| ApiError::BadRequest(format!("since: {e}")))?;
    let files = tokio::task::spawn_blocking(move || {
        crate::compliance::evidence::export(
            &live.compliance,
            &live.store,
            q.framework.as_deref(),
            since,
            now,
        )
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    let mut out = serde_json::Map::new();
    for (path, bytes) in files {
        let text = String::from_utf8(bytes).map_err(|e| ApiError::Internal(e.into()))?;
        out.insert(path, Value::String(text));
    }
    Ok(axum::Json(json!({ "files": out })))
}

/// An id from the URL, safe to echo in an error.
fn printable(id: &str) -> String {
    let s: String = id.chars().take(64).filter(|c| !c.is_control()).collect();
    format!("{s:?}")
}
