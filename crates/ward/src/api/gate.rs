//! `POST /api/v1/import/sarif`, `GET /api/v1/gate`, `POST
//! /api/v1/gate/signoff`: scan results in, a deploy decision out (see
//! [`crate::gate`]). Everything is the caller's own tenant: its scans, its
//! alerts, its sign-offs; a credential with `tenants:all` answers for its
//! own tenant too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use super::alerts::{ApiResult, body};
use crate::access::{Caller, Principal};
use crate::gate::{self, Question, ScanState, Signoff, sarif};
use crate::model::Event;
use crate::normalize;
use crate::source::{HttpSources, Origin, Wait};

/// What the gate routes reach.
#[derive(Clone)]
pub struct GateState {
    pub sources: HttpSources,
    pub alerts: Arc<crate::alert::Alerts>,
    pub data_dir: PathBuf,
    /// One import or sign-off at a time: each reads, then replaces, a state file.
    pub lock: Arc<tokio::sync::Mutex<()>>,
    /// `[gate] osv_dir`: the OSV records SBOMs are matched against.
    pub osv_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportQuery {
    service: String,
    commit: String,
    #[serde(default)]
    repository: Option<String>,
}

fn internal(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::Internal(e.into())
}

/// Stores Ward-made events of the caller's tenant, durably, before answering.
async fn store(
    st: &GateState,
    caller: &Principal,
    input: &'static str,
    events: Vec<Event>,
    bytes: usize,
    received: Instant,
) -> Result<Vec<String>, ApiError> {
    let origin = Origin {
        input,
        source: &caller.name,
        tenant: &caller.tenant,
    };
    let ack = st
        .sources
        .ctx
        .deliver(origin, events, 0, bytes, received, Wait::No)
        .await
        .map_err(|e| {
            let e = crate::source::http::IngestError::from(e);
            match e.status().as_u16() {
                429 | 503 | 507 => ApiError::Busy,
                _ => ApiError::Internal(anyhow::anyhow!("{e}")),
            }
        })?;
    Ok(ack.ids.iter().map(ToString::to_string).collect())
}

/// The common part of a finding or vulnerability event.
fn scan_event(module: &str, dataset: &str, action: &str, service: &str) -> Event {
    let mut e = Event::default();
    e.set("event.kind", "alert".into());
    e.set("event.category", json!(["vulnerability"]));
    e.set("event.type", json!(["info"]));
    e.set("event.module", module.into());
    e.set("event.dataset", dataset.into());
    e.set("event.action", action.into());
    e.set("event.outcome", "unknown".into());
    e.set("service.name", service.into());
    e
}

fn finding_event(
    f: &gate::Known,
    fp: &str,
    message: Option<&str>,
    state: &str,
    q: &ImportQuery,
    ctx: &ward_event::Context,
) -> Event {
    let action = if state == "fixed" {
        "scan_finding_fixed"
    } else {
        "scan_finding"
    };
    let mut e = scan_event("sarif", "sarif.finding", action, &q.service);
    if let Some(r) = &q.repository {
        e.set("repository.name", r.clone().into());
    }
    e.set("rule.id", f.rule.clone().into());
    e.set("vulnerability.scanner.vendor", f.tool.clone().into());
    e.set("vulnerability.id", f.rule.clone().into());
    e.set("log.level", f.level.clone().into());
    if !f.file.is_empty() {
        e.set("file.path", f.file.clone().into());
    }
    if let Some(l) = f.line {
        e.set("ward.scan.line", l.into());
    }
    e.set(
        "message",
        match message {
            Some(m) => m.into(),
            None => format!("{} {} fixed in {}", f.tool, f.rule, f.file).into(),
        },
    );
    e.set("ward.scan.tool", f.tool.clone().into());
    e.set("ward.scan.level", f.level.clone().into());
    e.set("ward.scan.commit", q.commit.clone().into());
    e.set("ward.scan.fingerprint", fp.into());
    e.set("ward.scan.state", state.into());
    normalize::finish(e, ctx)
}

/// `POST /api/v1/import/sarif?service=S&commit=SHA[&repository=R]`
pub(crate) async fn import_sarif(
    State(st): State<GateState>,
    caller: Caller,
    q: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    raw: Bytes,
) -> ApiResult {
    let received = Instant::now();
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    gate::check_name("service", &q.service).map_err(ApiError::BadRequest)?;
    gate::check_name("commit", &q.commit).map_err(ApiError::BadRequest)?;
    if let Some(r) = &q.repository {
        gate::check_name("repository", r).map_err(ApiError::BadRequest)?;
    }
    let max = st.sources.ctx.limits.max_request_bytes;
    let body = crate::source::read_body(&headers, raw, max)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let bytes = body.len();
    let findings = tokio::task::spawn_blocking(move || sarif::parse(&body))
        .await
        .map_err(internal)?
        .map_err(|e| ApiError::BadRequest(format!("SARIF: {e}; nothing was stored")))?;
    let dir = gate::tenant_dir(&st.data_dir, &caller.tenant);
    let _one = st.lock.lock().await;
    let repo = q.repository.clone().unwrap_or_default();
    let prev = gate::load_scan(&dir, &q.service, &repo).map_err(internal)?;
    let now = jiff::Timestamp::now().to_string();
    let (next, diff) = gate::advance(&prev, &q.commit, findings.iter().map(gate::known), &now);
    let ctx = normalize::context("sarif", &caller.name, &caller.tenant);
    let mut events = Vec::with_capacity(findings.len() + diff.gone.len());
    for f in &findings {
        let state = if next.base.contains_key(&f.fingerprint) {
            "unchanged"
        } else {
            "new"
        };
        let known = &next.current[&f.fingerprint];
        events.push(finding_event(
            known,
            &f.fingerprint,
            Some(&f.message),
            state,
            &q,
            &ctx,
        ));
    }
    for (fp, k) in &diff.gone {
        events.push(finding_event(k, fp, None, "fixed", &q, &ctx));
    }
    store(&st, &caller, "sarif", events, bytes, received).await?;
    let dir2 = dir.clone();
    tokio::task::spawn_blocking(move || {
        crate::access::private_dir(&dir2)?;
        gate::save_state(&dir2, gate::Kind::Scan, &next)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    Ok(Json(json!({
        "service": q.service,
        "repository": q.repository,
        "commit": q.commit,
        "results": findings.len(),
        "new": diff.new,
        "unchanged": diff.unchanged,
        "fixed": diff.fixed,
        "compared_with": prev_commit(&prev, &q.commit),
    })))
}

fn prev_commit(prev: &ScanState, commit: &str) -> Value {
    let c = if prev.commit == commit {
        &prev.base_commit
    } else {
        &prev.commit
    };
    if c.is_empty() {
        Value::Null
    } else {
        c.as_str().into()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GateQuery {
    service: String,
    #[serde(default)]
    commit: Option<String>,
    /// Open alerts at or above this severity deny (default high).
    #[serde(default)]
    max_severity: Option<String>,
    #[serde(default)]
    require_signoff: Option<bool>,
}

/// `GET /api/v1/gate?service=S[&commit=SHA][&max_severity=high][&require_signoff=true]`
pub(crate) async fn check(
    State(st): State<GateState>,
    caller: Caller,
    q: Result<Query<GateQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let received = Instant::now();
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    gate::check_name("service", &q.service).map_err(ApiError::BadRequest)?;
    if let Some(c) = &q.commit {
        gate::check_name("commit", c).map_err(ApiError::BadRequest)?;
    }
    let sev = q.max_severity.as_deref().unwrap_or("high");
    let max_severity = ward_alert::Severity::parse(sev).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "max_severity: {:?} is not one of informational, low, medium, high, critical",
            sev.chars().take(32).collect::<String>()
        ))
    })?;
    let question = Question {
        service: q.service.clone(),
        commit: q.commit.clone(),
        max_severity,
        require_signoff: q.require_signoff.unwrap_or(false),
    };
    let tenant = caller.tenant.clone();
    let alerts: Vec<ward_alert::Alert> = st
        .alerts
        .firing()
        .into_iter()
        .filter(|a| super::alerts::tenant_of(a) == Some(tenant.as_str()))
        .collect();
    let dir = gate::tenant_dir(&st.data_dir, &tenant);
    let service = q.service.clone();
    let (scans, signoffs, sbom, vex) = tokio::task::spawn_blocking(move || {
        Ok::<_, anyhow::Error>((
            gate::scans_of(&dir, &service)?,
            gate::load_signoffs(&dir)?,
            gate::load_state(&dir, gate::Kind::Sbom, &service, "")?,
            gate::load_vex(&dir, &service)?,
        ))
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let reasons = gate::reasons(
        &question,
        &gate::Evidence {
            alerts: &alerts,
            scans: &scans,
            signoffs: &signoffs,
            sbom: &sbom,
            vex: &vex,
        },
    );
    let decision = if reasons.is_empty() { "allow" } else { "deny" };
    let ctx = normalize::context("gate", &caller.name, &tenant);
    let mut e = Event::default();
    e.set("event.kind", "event".into());
    e.set("event.category", json!(["configuration"]));
    e.set("event.type", json!(["info"]));
    e.set("event.module", "ward".into());
    e.set("event.dataset", "ward.gate".into());
    e.set("event.action", "gate_decision".into());
    e.set(
        "event.outcome",
        if decision == "allow" {
            "success"
        } else {
            "failure"
        }
        .into(),
    );
    e.set("service.name", q.service.clone().into());
    e.set("user.name", caller.actor().into());
    e.set("ward.gate.decision", decision.into());
    if let Some(c) = &q.commit {
        e.set("ward.gate.commit", c.clone().into());
    }
    e.set("ward.gate.max_severity", max_severity.as_str().into());
    e.set("ward.gate.require_signoff", question.require_signoff.into());
    e.set(
        "ward.gate.reasons",
        serde_json::to_value(&reasons).map_err(internal)?,
    );
    e.set(
        "message",
        format!(
            "deploy gate {decision} for {}: {} reason(s)",
            q.service,
            reasons.len()
        )
        .into(),
    );
    let e = normalize::finish(e, &ctx);
    let ids = store(&st, &caller, "gate", vec![e], 0, received).await?;
    Ok(Json(json!({
        "decision": decision,
        "service": q.service,
        "commit": q.commit,
        "max_severity": max_severity.as_str(),
        "require_signoff": question.require_signoff,
        "reasons": reasons,
        "event_id": ids.first(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignoffBody {
    service: String,
    commit: String,
    reason: String,
}

/// `POST /api/v1/gate/signoff`: `{"service", "commit", "reason"}`.
pub(crate) async fn signoff(State(st): State<GateState>, caller: Caller, b: Bytes) -> ApiResult {
    let received = Instant::now();
    if caller.kind == "token" {
        return Err(ApiError::Forbidden(
            "a sign-off is given by a person (a user or a named API key), not an ingest token"
                .into(),
        ));
    }
    let req: SignoffBody = body(&b)?;
    gate::check_name("service", &req.service).map_err(ApiError::BadRequest)?;
    gate::check_name("commit", &req.commit).map_err(ApiError::BadRequest)?;
    if req.reason.trim().is_empty()
        || req.reason.len() > 2000
        || req.reason.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(ApiError::BadRequest(
            "reason: 1 to 2000 bytes saying what was reviewed, without control characters".into(),
        ));
    }
    let s = Signoff {
        service: req.service.clone(),
        commit: req.commit.clone(),
        by: caller.actor(),
        reason: req.reason.clone(),
        at: jiff::Timestamp::now().to_string(),
    };
    let ctx = normalize::context("gate", &caller.name, &caller.tenant);
    let mut e = Event::default();
    e.set("event.kind", "event".into());
    e.set("event.category", json!(["configuration"]));
    e.set("event.type", json!(["change"]));
    e.set("event.module", "ward".into());
    e.set("event.dataset", "ward.gate".into());
    e.set("event.action", "gate_signoff".into());
    e.set("event.outcome", "success".into());
    e.set("service.name", s.service.clone().into());
    e.set("user.name", s.by.clone().into());
    e.set("ward.gate.commit", s.commit.clone().into());
    e.set("message", s.reason.clone().into());
    let e = normalize::finish(e, &ctx);
    let _one = st.lock.lock().await;
    let ids = store(&st, &caller, "gate", vec![e], 0, received).await?;
    let dir = gate::tenant_dir(&st.data_dir, &caller.tenant);
    let rec = s.clone();
    tokio::task::spawn_blocking(move || {
        crate::access::private_dir(&dir)?;
        gate::add_signoff(&dir, rec)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    Ok(Json(json!({
        "service": s.service,
        "commit": s.commit,
        "by": s.by,
        "at": s.at,
        "event_id": ids.first(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SbomQuery {
    service: String,
    #[serde(default)]
    commit: Option<String>,
}

/// Checks the query of an SBOM or VEX import and reads its body.
fn import_input(
    st: &GateState,
    q: Result<Query<SbomQuery>, axum::extract::rejection::QueryRejection>,
    headers: &HeaderMap,
    raw: Bytes,
) -> Result<(SbomQuery, Bytes), ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    gate::check_name("service", &q.service).map_err(ApiError::BadRequest)?;
    if let Some(c) = &q.commit {
        gate::check_name("commit", c).map_err(ApiError::BadRequest)?;
    }
    let max = st.sources.ctx.limits.max_request_bytes;
    let body = crate::source::read_body(headers, raw, max)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok((q, body))
}

fn vulnerability_event(
    k: &gate::Known,
    fp: &str,
    summary: Option<&str>,
    state: &str,
    service: &str,
    commit: &str,
    ctx: &ward_event::Context,
) -> Event {
    let action = if state == "fixed" {
        "vulnerability_fixed"
    } else {
        "vulnerability_found"
    };
    let mut e = scan_event("osv", "sbom.vulnerability", action, service);
    e.set("vulnerability.id", k.rule.clone().into());
    e.set("vulnerability.severity", k.level.clone().into());
    e.set("vulnerability.scanner.vendor", "ward".into());
    if !k.aliases.is_empty() {
        e.set("vulnerability.reference", json!(k.aliases));
    }
    e.set("package.name", k.package.clone().into());
    e.set("package.version", k.version.clone().into());
    if !k.file.is_empty() {
        e.set("package.reference", k.file.clone().into());
    }
    let what = format!("{} {} {}", k.rule, k.package, k.version);
    e.set(
        "message",
        match (state, summary) {
            ("fixed", _) => format!("{what}: gone from the SBOM of {commit}"),
            (_, Some(s)) if !s.is_empty() => format!("{what}: {s}"),
            _ => what,
        }
        .into(),
    );
    e.set("ward.scan.tool", "osv".into());
    e.set("ward.scan.level", k.level.clone().into());
    e.set("ward.scan.commit", commit.into());
    e.set("ward.scan.fingerprint", fp.into());
    e.set("ward.scan.state", state.into());
    normalize::finish(e, ctx)
}

/// `POST /api/v1/import/sbom?service=S[&commit=SHA]`: a CycloneDX (1.4 to
/// 1.6) or SPDX 2.3 JSON SBOM. Its components are matched against the
/// OSV records of `[gate] osv_dir`; VEX statements (in the SBOM, or
/// imported on their own) suppress; each critical or high vulnerability is
/// an event marked new, unchanged or fixed against the service's previous
/// SBOM.
pub(crate) async fn import_sbom(
    State(st): State<GateState>,
    caller: Caller,
    q: Result<Query<SbomQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    raw: Bytes,
) -> ApiResult {
    let received = Instant::now();
    let (q, body) = import_input(&st, q, &headers, raw)?;
    let Some(osv_dir) = st.osv_dir.clone() else {
        return Err(ApiError::Conflict(
            "SBOM imports need an OSV database: set [gate] osv_dir (filled by `ward osv sync`); nothing was stored"
                .into(),
        ));
    };
    let bytes = body.len();
    let dir = gate::tenant_dir(&st.data_dir, &caller.tenant);
    let _one = st.lock.lock().await;
    let (dir2, service) = (dir.clone(), q.service.clone());
    let (doc, matches, stored_vex) = tokio::task::spawn_blocking(move || {
        let doc = gate::sbom::parse(&body)
            .map_err(|e| ApiError::BadRequest(format!("SBOM: {e}; nothing was stored")))?;
        let records = gate::osv::load_dir(&osv_dir).map_err(internal)?;
        let matches = gate::osv::matches(&records, &doc.components);
        let vex = gate::load_vex(&dir2, &service).map_err(internal)?;
        Ok::<_, ApiError>((doc, matches, vex))
    })
    .await
    .map_err(internal)??;
    let mut findings = Vec::new();
    let mut summaries = std::collections::BTreeMap::new();
    let mut suppressed = 0usize;
    for m in &matches {
        let c = &doc.components[m.component];
        let purl = c.purl.as_deref();
        if gate::sbom::suppressed(&doc.statements, &m.id, &m.aliases, purl)
            || gate::sbom::suppressed(&stored_vex, &m.id, &m.aliases, purl)
        {
            suppressed += 1;
            continue;
        }
        let package = match &c.ecosystem {
            Some(_) => c.osv_name.clone(),
            None => c.name.clone(),
        };
        let fp = sarif::fingerprint("osv", &m.id, &package, &c.version);
        summaries.insert(fp.clone(), m.summary.clone());
        findings.push((
            fp,
            gate::Known {
                tool: "osv".into(),
                rule: m.id.clone(),
                level: m.severity.clone(),
                file: c.purl.clone().unwrap_or_default(),
                line: None,
                package,
                version: c.version.clone(),
                aliases: m.aliases.clone(),
            },
        ));
    }
    let prev = gate::load_state(&dir, gate::Kind::Sbom, &q.service, "").map_err(internal)?;
    let now = jiff::Timestamp::now().to_string();
    let commit = q.commit.clone().unwrap_or_else(|| now.clone());
    let (next, diff) = gate::advance(&prev, &commit, findings, &now);
    let ctx = normalize::context("sbom", &caller.name, &caller.tenant);
    let alerting = |k: &gate::Known| matches!(k.level.as_str(), "critical" | "high");
    let mut events = Vec::new();
    for (fp, k) in next.current.iter().filter(|(_, k)| alerting(k)) {
        let state = if next.base.contains_key(fp) {
            "unchanged"
        } else {
            "new"
        };
        let summary = summaries.get(fp).map(String::as_str);
        events.push(vulnerability_event(
            k, fp, summary, state, &q.service, &commit, &ctx,
        ));
    }
    for (fp, k) in diff.gone.iter().filter(|(_, k)| alerting(k)) {
        events.push(vulnerability_event(
            k, fp, None, "fixed", &q.service, &commit, &ctx,
        ));
    }
    let event_count = events.len();
    store(&st, &caller, "sbom", events, bytes, received).await?;
    let critical = next
        .current
        .values()
        .filter(|k| k.level == "critical")
        .count();
    tokio::task::spawn_blocking(move || {
        crate::access::private_dir(&dir)?;
        gate::save_state(&dir, gate::Kind::Sbom, &next)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    Ok(Json(json!({
        "service": q.service,
        "commit": commit,
        "format": doc.format,
        "components": doc.components.len(),
        "vulnerabilities": matches.len(),
        "suppressed": suppressed,
        "critical": critical,
        "new": diff.new,
        "unchanged": diff.unchanged,
        "fixed": diff.fixed,
        "events": event_count,
        "compared_with": prev_commit(&prev, &commit),
    })))
}

/// `POST /api/v1/import/vex?service=S`: a CycloneDX VEX or OpenVEX
/// document whose statements hold for the service's SBOMs from now on
/// (and for the gate at once).
pub(crate) async fn import_vex(
    State(st): State<GateState>,
    caller: Caller,
    q: Result<Query<SbomQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    raw: Bytes,
) -> ApiResult {
    let received = Instant::now();
    let (q, body) = import_input(&st, q, &headers, raw)?;
    let bytes = body.len();
    let statements = tokio::task::spawn_blocking(move || gate::sbom::parse_vex(&body))
        .await
        .map_err(internal)?
        .map_err(|e| ApiError::BadRequest(format!("VEX: {e}; nothing was stored")))?;
    let ctx = normalize::context("vex", &caller.name, &caller.tenant);
    let mut e = Event::default();
    e.set("event.kind", "event".into());
    e.set("event.category", json!(["configuration"]));
    e.set("event.type", json!(["change"]));
    e.set("event.module", "ward".into());
    e.set("event.dataset", "ward.gate".into());
    e.set("event.action", "vex_import".into());
    e.set("event.outcome", "success".into());
    e.set("service.name", q.service.clone().into());
    e.set("user.name", caller.actor().into());
    let mut ids: Vec<&str> = statements
        .iter()
        .map(|s| s.vulnerability.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.truncate(100);
    e.set("vulnerability.id", json!(ids));
    e.set(
        "message",
        format!("{} VEX statement(s) for {}", statements.len(), q.service).into(),
    );
    let e = normalize::finish(e, &ctx);
    let _one = st.lock.lock().await;
    store(&st, &caller, "vex", vec![e], bytes, received).await?;
    let dir = gate::tenant_dir(&st.data_dir, &caller.tenant);
    let (n, service) = (statements.len(), q.service.clone());
    let kept = tokio::task::spawn_blocking(move || {
        crate::access::private_dir(&dir)?;
        gate::add_vex(&dir, &service, statements)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    Ok(Json(json!({
        "service": q.service,
        "statements": n,
        "kept": kept,
    })))
}
