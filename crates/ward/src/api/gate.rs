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
    /// `[gate.policy]`.
    pub policy: Arc<gate::policy::Policy>,
    /// `[[gate.keys]]`: what provenance is verified with.
    pub keys: Arc<Vec<gate::provenance::TrustedKey>>,
    /// The event store (the gate looks up prompt-injection test runs and
    /// the AI attribution of commits).
    pub store: Arc<ward_store::Store>,
    /// The compliance posture (failing controls are a reason).
    pub compliance: super::compliance::ComplianceState,
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

/// A finding as an event; one in a file an AI-generated commit changed is
/// marked (`code.origin: ai`, `ward.scan.ai_generated`).
fn finding_event(
    f: &gate::Known,
    fp: &str,
    message: Option<&str>,
    state: &str,
    q: &ImportQuery,
    ai_files: &[String],
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
    if !f.file.is_empty()
        && ai_files
            .iter()
            .any(|a| a == f.file.trim_start_matches("./"))
    {
        e.set("code.origin", "ai".into());
        e.set("ward.scan.ai_generated", true.into());
    }
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
    let (tools, findings) = tokio::task::spawn_blocking(move || sarif::parse_log(&body))
        .await
        .map_err(internal)?
        .map_err(|e| ApiError::BadRequest(format!("SARIF: {e}; nothing was stored")))?;
    let ai_files = {
        let events = attribution_events(&st, &caller.tenant, &q.commit).await?;
        gate::ai::attribute(&events, &q.commit, st.policy.ai_paths()).ai_files
    };
    let dir = gate::tenant_dir(&st.data_dir, &caller.tenant);
    let _one = st.lock.lock().await;
    let repo = q.repository.clone().unwrap_or_default();
    // Each tool's findings are tracked on their own.
    let mut by_tool: std::collections::BTreeMap<&str, Vec<&sarif::Finding>> =
        tools.iter().map(|t| (t.as_str(), Vec::new())).collect();
    for f in &findings {
        by_tool.entry(f.tool.as_str()).or_default().push(f);
    }
    let now = jiff::Timestamp::now().to_string();
    let ctx = normalize::context("sarif", &caller.name, &caller.tenant);
    let mut events = Vec::with_capacity(findings.len());
    let mut states = Vec::with_capacity(by_tool.len());
    let (mut new, mut unchanged, mut fixed) = (0, 0, 0);
    let mut compared_with = Value::Null;
    for (tool, list) in &by_tool {
        let prev = gate::load_scan(&dir, &q.service, &repo, tool).map_err(internal)?;
        let (next, diff) =
            gate::advance(&prev, &q.commit, list.iter().map(|f| gate::known(f)), &now);
        for f in list {
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
                &ai_files,
                &ctx,
            ));
        }
        for (fp, k) in &diff.gone {
            events.push(finding_event(k, fp, None, "fixed", &q, &ai_files, &ctx));
        }
        (new, unchanged, fixed) = (
            new + diff.new,
            unchanged + diff.unchanged,
            fixed + diff.fixed,
        );
        if compared_with.is_null() {
            compared_with = prev_commit(&prev, &q.commit);
        }
        states.push(next);
    }
    store(&st, &caller, "sarif", events, bytes, received).await?;
    let dir2 = dir.clone();
    tokio::task::spawn_blocking(move || {
        crate::access::private_dir(&dir2)?;
        for next in &states {
            gate::save_state(&dir2, gate::Kind::Scan, next)?;
        }
        Ok::<_, anyhow::Error>(())
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    Ok(Json(json!({
        "service": q.service,
        "repository": q.repository,
        "commit": q.commit,
        "results": findings.len(),
        "tools": by_tool.keys().collect::<Vec<_>>(),
        "new": new,
        "unchanged": unchanged,
        "fixed": fixed,
        "compared_with": compared_with,
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

/// A gate question as `GET /api/v1/gate` takes it in the query string
/// (`artifacts` comma-separated) and `POST /api/v1/gate/evaluate` in its
/// JSON body (`artifacts` a list).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct GateRequest {
    service: String,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    artifacts: Artifacts,
    /// Open alerts at or above this severity count (only ever lower than
    /// the policy's).
    #[serde(default)]
    max_severity: Option<String>,
    #[serde(default)]
    require_signoff: Option<bool>,
    #[serde(default)]
    require_provenance: Option<bool>,
    /// Break-glass: deploy whatever the reasons, saying why. Needs
    /// `gate:override`; recorded and alerted on.
    #[serde(default)]
    break_glass: Option<String>,
}

/// Artefact digests: a list, or one comma-separated string.
#[derive(Deserialize, Default)]
#[serde(untagged)]
pub(crate) enum Artifacts {
    #[default]
    None,
    One(String),
    List(Vec<String>),
}

impl Artifacts {
    fn parse(self) -> Result<Vec<String>, ApiError> {
        let list: Vec<String> = match self {
            Artifacts::None => Vec::new(),
            Artifacts::One(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            Artifacts::List(l) => l,
        };
        if list.len() > MAX_ARTIFACTS {
            return Err(ApiError::BadRequest(format!(
                "artifacts: at most {MAX_ARTIFACTS}"
            )));
        }
        let mut out = Vec::with_capacity(list.len());
        for a in list {
            let d = gate::provenance::parse_digest(&a).map_err(ApiError::BadRequest)?;
            if !out.contains(&d) {
                out.push(d);
            }
        }
        Ok(out)
    }
}

/// Most artefacts one question may name.
pub const MAX_ARTIFACTS: usize = 100;

/// `GET /api/v1/gate?service=S[&commit=SHA][&environment=E][&artifacts=sha256:…,…][&max_severity=high][&require_signoff=true][&require_provenance=true]`
pub(crate) async fn check(
    State(st): State<GateState>,
    caller: Caller,
    q: Result<Query<GateRequest>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if q.break_glass.is_some() {
        return Err(ApiError::BadRequest(
            "break_glass is accepted by POST /api/v1/gate/evaluate only".into(),
        ));
    }
    decide(&st, &caller, q).await
}

/// `POST /api/v1/gate/evaluate` with a JSON body: `service`, and
/// optionally `commit`, `environment`, `artifacts`, `max_severity`,
/// `require_signoff`, `require_provenance`, `break_glass`.
pub(crate) async fn evaluate(State(st): State<GateState>, caller: Caller, b: Bytes) -> ApiResult {
    let q: GateRequest = body(&b)?;
    decide(&st, &caller, q).await
}

/// The newest prompt-injection test run of `service` in `tenant`: the
/// newest event with `event.action: prompt_injection_test` in the last
/// [`PROMPT_TEST_WINDOW`].
async fn newest_prompt_test(
    st: &GateState,
    tenant: &str,
    service: &str,
) -> Result<Option<gate::TestRun>, ApiError> {
    use ward_store::query::{Expr, Query as Q};
    let expr = Expr::And(vec![
        Q::term("event.action", "prompt_injection_test").expr,
        Q::term("service.name", service).expr,
        Q::term("tenant.id", tenant).expr,
    ]);
    let query = Q {
        expr,
        ..Q::term("event.action", "prompt_injection_test")
    };
    let hits = recent(st, query, 1).await?;
    Ok(hits.first().map(test_run))
}

/// The newest `limit` events of the last [`PROMPT_TEST_WINDOW`] matching
/// `query`.
async fn recent(
    st: &GateState,
    query: ward_store::query::Query,
    limit: usize,
) -> Result<Vec<Value>, ApiError> {
    let store = st.store.clone();
    let since = jiff::Timestamp::now().as_millisecond() - PROMPT_TEST_WINDOW.as_millis() as i64;
    let result = tokio::task::spawn_blocking(move || {
        let opts = ward_store::SearchOptions {
            since: Some(since),
            until: None,
            limit,
            stop: ward_store::SearchStop::at(Instant::now() + std::time::Duration::from_secs(10)),
        };
        store.search(&query, &opts)
    })
    .await
    .map_err(internal)?
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(result.hits.into_iter().map(|h| h.event).collect())
}

/// The events of `tenant` in the last [`PROMPT_TEST_WINDOW`] that can
/// attribute `commit` to AI (see [`gate::ai`]): CI change sets of the
/// commit, attribution and code-generation events naming it, and GitHub
/// pushes ending at it. Every branch names an indexed term (its action), so
/// that the search skips the blocks holding none.
async fn attribution_events(
    st: &GateState,
    tenant: &str,
    commit: &str,
) -> Result<Vec<Value>, ApiError> {
    use ward_store::query::{Expr, Query as Q};
    let term = |f: &str, v: &str| Q::term(f, v).expr;
    let mut branches: Vec<Expr> = gate::ai::ACTIONS
        .iter()
        .map(|a| Expr::And(vec![term("event.action", a), term("commit", commit)]))
        .collect();
    branches.push(Expr::And(vec![
        term("event.action", "push"),
        term("github.webhook.event", "push"),
        term("after", commit),
    ]));
    let expr = Expr::And(vec![term("tenant.id", tenant), Expr::Or(branches)]);
    let query = Q { expr, ..Q::all() };
    recent(st, query, MAX_ATTRIBUTION_EVENTS).await
}

/// Most events read for one commit's AI attribution (the newest).
pub const MAX_ATTRIBUTION_EVENTS: usize = 500;

/// How far back the gate looks for a prompt-injection test run.
pub const PROMPT_TEST_WINDOW: std::time::Duration = std::time::Duration::from_secs(90 * 86_400);

fn test_run(e: &Value) -> gate::TestRun {
    let get = |path: &str| -> Option<&Value> {
        let mut cur = e;
        for k in path.split('.') {
            cur = cur.get(k)?;
        }
        Some(cur)
    };
    let s = |path: &str| get(path).and_then(Value::as_str).map(str::to_owned);
    let outcome = s("event.outcome").unwrap_or_default();
    let failures = get("failures").and_then(Value::as_u64);
    gate::TestRun {
        event_id: s("event.id").unwrap_or_default(),
        commit: s("commit"),
        // Anything but an explicit success fails: an unknown outcome is
        // no evidence that the service resists injection.
        failed: outcome != "success" || failures.is_some_and(|n| n > 0),
        at: s("@timestamp").unwrap_or_default(),
        // Ward files `tool` of an AI event under `ai.tool.name`.
        tool: s("ai.tool.name")
            .or_else(|| s("tool"))
            .unwrap_or_else(|| "a test".into()),
        failures,
    }
}

async fn decide(st: &GateState, caller: &Principal, q: GateRequest) -> ApiResult {
    let received = Instant::now();
    gate::check_name("service", &q.service).map_err(ApiError::BadRequest)?;
    if let Some(c) = &q.commit {
        gate::check_name("commit", c).map_err(ApiError::BadRequest)?;
    }
    if let Some(e) = &q.environment {
        gate::check_name("environment", e).map_err(ApiError::BadRequest)?;
    }
    let max_severity = match q.max_severity.as_deref() {
        None => None,
        Some(sev) => Some(ward_alert::Severity::parse(sev).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "max_severity: {:?} is not one of informational, low, medium, high, critical",
                sev.chars().take(32).collect::<String>()
            ))
        })?),
    };
    let break_glass = match q.break_glass.as_deref() {
        None => None,
        Some(r) => {
            if caller.kind == "token" || !caller.can(crate::access::Permission::GateOverride) {
                return Err(ApiError::Forbidden(
                    "break-glass needs a person's credential with gate:override".into(),
                ));
            }
            check_reason(r)?;
            Some(r.to_owned())
        }
    };
    let question = Question {
        service: q.service.clone(),
        commit: q.commit.clone(),
        environment: q.environment.clone(),
        artifacts: q.artifacts.parse()?,
        max_severity,
        require_signoff: q.require_signoff.unwrap_or(false),
        require_provenance: q.require_provenance.unwrap_or(false),
    };
    let policy = Arc::clone(&st.policy);
    let eff = question.effective(&policy);
    let tenant = caller.tenant.clone();
    let alerts: Vec<ward_alert::Alert> = st
        .alerts
        .firing()
        .into_iter()
        .filter(|a| super::alerts::tenant_of(a) == Some(tenant.as_str()))
        .collect();
    let dir = gate::tenant_dir(&st.data_dir, &tenant);
    let service = q.service.clone();
    let prompt_test = if eff.action("prompt_injection_test_failed") == gate::policy::Action::Off {
        None
    } else {
        newest_prompt_test(st, &tenant, &service).await?
    };
    let ai_reasons = ["ai_change_without_signoff", "ai_change_without_scan"];
    let attribution = match &q.commit {
        Some(c)
            if ai_reasons
                .iter()
                .any(|r| eff.action(r) != gate::policy::Action::Off) =>
        {
            let events = attribution_events(st, &tenant, c).await?;
            Some(gate::ai::attribute(&events, c, policy.ai_paths()))
        }
        _ => None,
    };
    let results = match (&st.compliance.0, eff.action("failing_control")) {
        (_, gate::policy::Action::Off) | (None, _) => None,
        (Some(live), _) => Some(live.compliance.results(jiff::Timestamp::now())),
    };
    let owner = st
        .alerts
        .engine()
        .owners()
        .map(ward_alert::alert::owner::OwnedKind::Services)
        .get(&q.service)
        .cloned();
    let posture = match &results {
        Some(results) => gate::Posture::Results {
            results,
            owner: owner.as_deref(),
        },
        None => gate::Posture::Disabled,
    };
    let (scans, signoffs, sbom, vex, prov) = tokio::task::spawn_blocking(move || {
        Ok::<_, anyhow::Error>((
            gate::scans_of(&dir, &service)?,
            gate::load_signoffs(&dir)?,
            gate::load_state(&dir, gate::Kind::Sbom, &service, "")?,
            gate::load_vex(&dir, &service)?,
            gate::provenance::Store::load(&dir)?,
        ))
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let reasons = gate::reasons(
        &question,
        &eff,
        &gate::Evidence {
            alerts: &alerts,
            scans: &scans,
            signoffs: &signoffs,
            sbom: &sbom,
            vex: &vex,
            provenance: &prov,
            prompt_test: prompt_test.as_ref(),
            attribution: attribution.as_ref(),
            compliance: posture,
        },
    );
    let verdict = gate::verdict(&reasons);
    let decision = if break_glass.is_some() {
        "pass"
    } else {
        verdict
    };
    let ctx = normalize::context("gate", &caller.name, &tenant);
    let mut events = Vec::new();
    // Missing or invalid provenance is an event whatever the policy says.
    let asked_provenance = eff.require_provenance || !question.artifacts.is_empty();
    if asked_provenance {
        for p in gate::provenance_problems(&question, &prov) {
            let mut e = Event::default();
            e.set("event.kind", "alert".into());
            e.set("event.category", json!(["configuration"]));
            e.set("event.type", json!(["info"]));
            e.set("event.module", "ward".into());
            e.set("event.dataset", "ward.gate".into());
            e.set("event.action", p.code.into());
            e.set("event.outcome", "failure".into());
            e.set("service.name", q.service.clone().into());
            if let Some(c) = &q.commit {
                e.set("ward.gate.commit", c.clone().into());
            }
            if let Some(ev) = &p.evidence {
                e.set("ward.gate.evidence", ev.clone().into());
            }
            e.set("message", p.detail.clone().into());
            events.push(normalize::finish(e, &ctx));
        }
    }
    let mut e = Event::default();
    e.set("event.kind", "event".into());
    e.set("event.category", json!(["configuration"]));
    e.set("event.type", json!(["info"]));
    e.set("event.module", "ward".into());
    e.set("event.dataset", "ward.gate".into());
    e.set(
        "event.action",
        if break_glass.is_some() {
            "gate_override"
        } else {
            "gate_decision"
        }
        .into(),
    );
    e.set(
        "event.outcome",
        if decision == "fail" {
            "failure"
        } else {
            "success"
        }
        .into(),
    );
    e.set("service.name", q.service.clone().into());
    e.set("user.name", caller.actor().into());
    e.set("ward.gate.decision", decision.into());
    e.set("ward.gate.verdict", verdict.into());
    if let Some(c) = &q.commit {
        e.set("ward.gate.commit", c.clone().into());
    }
    if let Some(env) = &q.environment {
        e.set("ward.gate.environment", env.clone().into());
    }
    if !question.artifacts.is_empty() {
        e.set("ward.gate.artifacts", json!(question.artifacts));
    }
    e.set("ward.gate.policy.version", policy.version.clone().into());
    e.set("ward.gate.policy.digest", policy.digest.clone().into());
    e.set("ward.gate.max_severity", eff.max_severity.as_str().into());
    e.set("ward.gate.require_signoff", eff.require_signoff.into());
    e.set(
        "ward.gate.require_provenance",
        eff.require_provenance.into(),
    );
    e.set(
        "ward.gate.reasons",
        serde_json::to_value(&reasons).map_err(internal)?,
    );
    if let Some(a) = attribution.as_ref().filter(|a| a.related()) {
        e.set("ward.gate.ai.tools", json!(a.tools()));
        let paths: Vec<&str> = a.paths.iter().take(100).map(|p| p.path.as_str()).collect();
        e.set("ward.gate.ai.paths", json!(paths));
    }
    if let Some(r) = &break_glass {
        e.set("ward.gate.override.reason", r.clone().into());
        e.set("ward.gate.override.by", caller.actor().into());
    }
    e.set(
        "message",
        match &break_glass {
            Some(r) => format!(
                "deploy gate BREAK-GLASS for {} by {} (the gate said {verdict}, {} reason(s)): {r}",
                q.service,
                caller.actor(),
                reasons.len()
            ),
            None => format!(
                "deploy gate {decision} for {}: {} reason(s)",
                q.service,
                reasons.len()
            ),
        }
        .into(),
    );
    events.push(normalize::finish(e, &ctx));
    let ids = store(st, caller, "gate", events, 0, received).await?;
    Ok(Json(json!({
        "decision": decision,
        "verdict": verdict,
        "service": q.service,
        "commit": q.commit,
        "environment": q.environment,
        "artifacts": question.artifacts.iter().map(|d| format!("sha256:{d}")).collect::<Vec<_>>(),
        "policy": {
            "version": policy.version,
            "digest": policy.digest,
            "environment": eff.environment,
        },
        "max_severity": eff.max_severity.as_str(),
        "require_signoff": eff.require_signoff,
        "require_provenance": eff.require_provenance,
        "reasons": reasons,
        "ai": attribution,
        "override": break_glass.map(|r| json!({"by": caller.actor(), "reason": r})),
        "event_id": ids.last(),
    })))
}

/// A reason a person gives (sign-off, break-glass): 1 to 2000 bytes, no
/// control characters but newlines.
fn check_reason(r: &str) -> Result<(), ApiError> {
    if r.trim().is_empty() || r.len() > 2000 || r.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::BadRequest(
            "reason: 1 to 2000 bytes saying why, without control characters".into(),
        ));
    }
    Ok(())
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
    check_reason(&req.reason)?;
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

/// `POST /api/v1/import/provenance?service=S[&commit=SHA]`: a DSSE envelope
/// of an in-toto attestation (SLSA provenance or another in-toto Statement,
/// or in-toto link metadata). Verified against `[[gate.keys]]`: a verified
/// one records its subjects' digests as attested for the service (200); a
/// refused one is an event `provenance_invalid` and is remembered against
/// the digests it claims, so the gate can say why (422). Bytes that are no
/// DSSE envelope are refused (400) and nothing is stored.
pub(crate) async fn import_provenance(
    State(st): State<GateState>,
    caller: Caller,
    q: Result<Query<SbomQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let received = Instant::now();
    let (q, body) = import_input(&st, q, &headers, raw)?;
    let bytes = body.len();
    let keys = Arc::clone(&st.keys);
    let checked = tokio::task::spawn_blocking(move || gate::provenance::check(&body, &keys))
        .await
        .map_err(internal)?
        .map_err(|e| ApiError::BadRequest(format!("provenance: {e}; nothing was stored")))?;
    let a = &checked.attestation;
    let (valid, detail) = match &checked.verdict {
        gate::provenance::Verdict::Valid { keyid } => (true, keyid.clone()),
        gate::provenance::Verdict::Invalid { why } => (false, why.clone()),
    };
    // A verified attestation's source commit stands in for a missing one.
    let commit = q
        .commit
        .clone()
        .or_else(|| valid.then(|| a.source_commit.clone()).flatten());
    let ctx = normalize::context("provenance", &caller.name, &caller.tenant);
    let mut e = Event::default();
    e.set("event.kind", if valid { "event" } else { "alert" }.into());
    e.set("event.category", json!(["configuration"]));
    e.set("event.type", json!(["info"]));
    e.set("event.module", "ward".into());
    e.set("event.dataset", "ward.provenance".into());
    e.set(
        "event.action",
        if valid {
            "provenance_verified"
        } else {
            "provenance_invalid"
        }
        .into(),
    );
    e.set(
        "event.outcome",
        if valid { "success" } else { "failure" }.into(),
    );
    e.set("service.name", q.service.clone().into());
    if let Some(c) = &commit {
        e.set("ward.provenance.commit", c.clone().into());
    }
    let digests: Vec<String> = a.subjects.iter().map(|s| s.sha256.clone()).collect();
    e.set(
        "ward.provenance.subjects",
        json!(
            a.subjects
                .iter()
                .take(100)
                .map(|s| json!({"name": s.name, "sha256": s.sha256}))
                .collect::<Vec<_>>()
        ),
    );
    if !a.predicate_type.is_empty() {
        e.set(
            "ward.provenance.predicate_type",
            a.predicate_type.clone().into(),
        );
    }
    if let Some(b) = &a.builder {
        e.set("ward.provenance.builder", b.clone().into());
    }
    if valid {
        e.set("ward.provenance.keyid", detail.clone().into());
    } else {
        e.set("error.message", detail.clone().into());
    }
    e.set(
        "message",
        if valid {
            format!(
                "provenance of {} artefact(s) of {} verified with key {detail}",
                digests.len(),
                q.service
            )
        } else {
            format!("provenance for {} refused: {detail}", q.service)
        }
        .into(),
    );
    let e = normalize::finish(e, &ctx);
    let _one = st.lock.lock().await;
    let ids = store(&st, &caller, "provenance", vec![e], bytes, received).await?;
    let record = gate::provenance::Record {
        service: q.service.clone(),
        commit: commit.clone().unwrap_or_default(),
        valid,
        detail: detail.clone(),
        predicate_type: a.predicate_type.clone(),
        builder: a.builder.clone().unwrap_or_default(),
        at: jiff::Timestamp::now().to_string(),
        event_id: ids.first().cloned().unwrap_or_default(),
    };
    let dir = gate::tenant_dir(&st.data_dir, &caller.tenant);
    let d2 = digests.clone();
    tokio::task::spawn_blocking(move || {
        crate::access::private_dir(&dir)?;
        let mut s = gate::provenance::Store::load(&dir)?;
        s.add(&d2, &record);
        s.save(&dir)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let answer = json!({
        "service": q.service,
        "commit": commit,
        "verified": valid,
        "keyid": if valid { Some(&detail) } else { None },
        "error": if valid { None } else { Some(format!("provenance refused: {detail}")) },
        "predicate_type": a.predicate_type,
        "builder": a.builder,
        "subjects": a.subjects,
        "event_id": ids.first(),
    });
    let status = if valid {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(answer)).into_response())
}
