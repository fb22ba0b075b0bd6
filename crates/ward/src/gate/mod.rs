//! Scan results in, a deploy gate out. A SARIF import ([`sarif`]) becomes
//! one event per finding, each with Ward's own fingerprint and its state
//! against the previous import of the same service and repository
//! (`ward.scan.state`: new, unchanged, fixed). The gate answers allow or
//! deny for a service (and commit) from the service's open alerts, the
//! commit's new error-level findings and, when asked, a security
//! sign-off. Every import, sign-off and decision is an event in the
//! tamper-evident log.
//!
//! An SBOM import ([`sbom`]) matches the service's components against
//! the OSV records of `[gate] osv_dir` ([`osv`]); its vulnerabilities are
//! tracked the same way, and a critical one without a VEX statement
//! denies.
//!
//! State lives in `<data>/gate/<tenant as hex>/`: `scan-<hash>.json` per
//! (service, repository) (the fingerprints of the last import and of the
//! baseline it was compared with; never messages), `sbom-<hash>.json` per
//! service (its vulnerabilities, tracked alike), `vex-<hash>.json` per
//! service (the VEX statements imported on their own), and
//! `signoffs.json`.
//! Files are replaced atomically.

pub mod ai;
pub mod osv;
pub mod policy;
pub mod provenance;
pub mod sarif;
pub mod sbom;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Longest service, repository or commit name.
pub const MAX_NAME: usize = 200;
/// Most sign-offs kept per tenant (the oldest go first; every one is also
/// an event in the log).
pub const MAX_SIGNOFFS: usize = 10_000;

/// Checks a service, repository or commit name: 1 to [`MAX_NAME`] bytes,
/// no control characters.
pub fn check_name(what: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > MAX_NAME || v.chars().any(char::is_control) {
        return Err(format!(
            "{what}: 1 to {MAX_NAME} bytes without control characters"
        ));
    }
    Ok(())
}

/// One finding as the state remembers it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Known {
    pub tool: String,
    pub rule: String,
    pub level: String,
    pub file: String,
    pub line: Option<u64>,
    /// A vulnerable package's name and version (SBOM imports).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub package: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The vulnerability's other ids (a CVE for a GHSA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// The scan state of one (service, repository).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanState {
    pub service: String,
    pub repository: String,
    /// The tool (SARIF `driver.name`) whose findings these are: each tool
    /// of a (service, repository) is tracked on its own, so importing one
    /// tool's log never reports another's findings as fixed. Empty in state
    /// written before tools were apart.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tool: String,
    /// The commit of the last import.
    pub commit: String,
    pub imported_at: String,
    /// The findings of the last import.
    pub current: BTreeMap<String, Known>,
    /// The commit the last import was compared with ("" for none).
    pub base_commit: String,
    /// The findings of that commit: what `new` and `fixed` are against.
    pub base: BTreeMap<String, Known>,
}

impl ScanState {
    /// Fingerprints of the last import absent from its baseline.
    pub fn new_findings(&self) -> impl Iterator<Item = (&String, &Known)> {
        self.current
            .iter()
            .filter(|(fp, _)| !self.base.contains_key(*fp))
    }
}

/// What an import changed.
#[derive(Debug, Default, Serialize)]
pub struct Diff {
    pub new: usize,
    pub unchanged: usize,
    pub fixed: usize,
    /// Findings of the baseline gone now, to report as fixed.
    #[serde(skip)]
    pub gone: Vec<(String, Known)>,
}

/// A tenant's gate directory.
pub fn tenant_dir(data: &Path, tenant: &str) -> PathBuf {
    data.join("gate").join(hex::encode(tenant.as_bytes()))
}

/// What a state file tracks: SARIF findings or SBOM vulnerabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scan,
    Sbom,
}

fn state_file(kind: Kind, service: &str, repository: &str) -> String {
    let mut h = Sha256::new();
    h.update(service.as_bytes());
    h.update([0]);
    h.update(repository.as_bytes());
    let hash = hex::encode(&h.finalize()[..12]);
    match kind {
        // Per tool: named after the service too, so that the gate reads
        // only the service's own files.
        Kind::Scan if repository.contains('\0') => {
            format!("scan-{}-{hash}.json", service_prefix(service))
        }
        Kind::Scan => format!("scan-{hash}.json"),
        Kind::Sbom => format!("sbom-{hash}.json"),
    }
}

/// The part of a scan state's file name that names its service.
fn service_prefix(service: &str) -> String {
    hex::encode(&Sha256::digest(service.as_bytes())[..4])
}

/// Reads a JSON state file, or `None` when there is none.
fn read_state<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .with_context(|| format!("{} is damaged", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The state of (service, repository, tool), or an empty one.
pub fn load_scan(
    dir: &Path,
    service: &str,
    repository: &str,
    tool: &str,
) -> anyhow::Result<ScanState> {
    let key = scan_key(repository, tool);
    let mut s = load_state(dir, Kind::Scan, service, &key)?;
    s.repository = repository.into();
    s.tool = tool.into();
    Ok(s)
}

/// What names a scan state's file beside its service.
fn scan_key(repository: &str, tool: &str) -> String {
    if tool.is_empty() {
        repository.into()
    } else {
        format!("{repository}\0{tool}")
    }
}

/// The state of `kind` for (service, repository), or an empty one.
pub fn load_state(
    dir: &Path,
    kind: Kind,
    service: &str,
    repository: &str,
) -> anyhow::Result<ScanState> {
    Ok(
        read_state(&dir.join(state_file(kind, service, repository)))?.unwrap_or_else(|| {
            ScanState {
                service: service.into(),
                repository: repository.into(),
                ..ScanState::default()
            }
        }),
    )
}

/// Every scan state of a tenant for `service`.
pub fn scans_of(dir: &Path, service: &str) -> anyhow::Result<Vec<ScanState>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mine = format!("scan-{}-", service_prefix(service));
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("scan-") && name.ends_with(".json")) {
            continue;
        }
        // Another service's per-tool state; files of older versions
        // (`scan-<hash>.json`) name no service and are read.
        if name[5..].contains('-') && !name.starts_with(&mine) {
            continue;
        }
        let b = std::fs::read(entry.path())?;
        let s: ScanState = serde_json::from_slice(&b)
            .with_context(|| format!("{} is damaged", entry.path().display()))?;
        if s.service == service {
            out.push(s);
        }
    }
    Ok(out)
}

/// The next state after an import of `findings` at `commit`, and what
/// changed. Re-importing the same commit compares with the same baseline,
/// so a finding new in a commit stays new however often it is scanned.
pub fn advance(
    prev: &ScanState,
    commit: &str,
    findings: impl IntoIterator<Item = (String, Known)>,
    now: &str,
) -> (ScanState, Diff) {
    let (base_commit, base) = if prev.commit == commit {
        (prev.base_commit.clone(), prev.base.clone())
    } else {
        (prev.commit.clone(), prev.current.clone())
    };
    let current: BTreeMap<String, Known> = findings.into_iter().collect();
    let mut diff = Diff::default();
    for fp in current.keys() {
        if base.contains_key(fp) {
            diff.unchanged += 1;
        } else {
            diff.new += 1;
        }
    }
    for (fp, k) in &base {
        if !current.contains_key(fp) {
            diff.fixed += 1;
            diff.gone.push((fp.clone(), k.clone()));
        }
    }
    let next = ScanState {
        service: prev.service.clone(),
        repository: prev.repository.clone(),
        tool: prev.tool.clone(),
        commit: commit.into(),
        imported_at: now.into(),
        current,
        base_commit,
        base,
    };
    (next, diff)
}

/// A SARIF finding as the state keeps it.
pub fn known(f: &sarif::Finding) -> (String, Known) {
    (
        f.fingerprint.clone(),
        Known {
            tool: f.tool.clone(),
            rule: f.rule.clone(),
            level: f.level.clone(),
            file: f.file.clone(),
            line: f.line,
            package: String::new(),
            version: String::new(),
            aliases: Vec::new(),
        },
    )
}

/// Writes a state of `kind` atomically.
pub fn save_state(dir: &Path, kind: Kind, s: &ScanState) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(s)?;
    let key = match kind {
        Kind::Scan => scan_key(&s.repository, &s.tool),
        Kind::Sbom => s.repository.clone(),
    };
    crate::access::replace_file(dir, &state_file(kind, &s.service, &key), &bytes)
}

fn vex_file(service: &str) -> String {
    state_file(Kind::Sbom, service, "\0vex").replacen("sbom-", "vex-", 1)
}

/// The VEX statements imported on their own for `service`.
pub fn load_vex(dir: &Path, service: &str) -> anyhow::Result<Vec<sbom::Statement>> {
    Ok(read_state(&dir.join(vex_file(service)))?.unwrap_or_default())
}

/// Adds statements for `service`: a later statement about the same
/// vulnerability and product replaces the earlier one.
pub fn add_vex(dir: &Path, service: &str, new: Vec<sbom::Statement>) -> anyhow::Result<usize> {
    let mut all = load_vex(dir, service)?;
    for s in new {
        all.retain(|x| !(x.vulnerability == s.vulnerability && x.product == s.product));
        all.push(s);
    }
    let over = all.len().saturating_sub(sbom::MAX_STATEMENTS);
    all.drain(..over);
    crate::access::replace_file(dir, &vex_file(service), &serde_json::to_vec(&all)?)?;
    Ok(all.len())
}

/// A security sign-off of a service's commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Signoff {
    pub service: String,
    pub commit: String,
    pub by: String,
    pub reason: String,
    pub at: String,
}

pub fn load_signoffs(dir: &Path) -> anyhow::Result<Vec<Signoff>> {
    let path = dir.join("signoffs.json");
    match std::fs::read(&path) {
        Ok(b) => {
            serde_json::from_slice(&b).with_context(|| format!("{} is damaged", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn add_signoff(dir: &Path, s: Signoff) -> anyhow::Result<()> {
    let mut all = load_signoffs(dir)?;
    all.push(s);
    let over = all.len().saturating_sub(MAX_SIGNOFFS);
    all.drain(..over);
    crate::access::replace_file(dir, "signoffs.json", &serde_json::to_vec(&all)?)
}

/// One reason against the deploy.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reason {
    /// One of [`policy::REASONS`].
    pub code: &'static str,
    /// What the policy makes of it: `fail` or `warn`.
    pub action: &'static str,
    pub detail: String,
    /// The alert id, finding fingerprint, artefact digest or event behind it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

/// A gate question.
#[derive(Debug, Clone, Default)]
pub struct Question {
    pub service: String,
    pub commit: Option<String>,
    /// The deploy environment the policy's section is chosen by.
    pub environment: Option<String>,
    /// SHA-256 digests (lower-case hex) of the artefacts to deploy.
    pub artifacts: Vec<String>,
    /// The caller may only tighten the policy: a lower severity, and more
    /// requirements.
    pub max_severity: Option<ward_alert::Severity>,
    pub require_signoff: bool,
    pub require_provenance: bool,
}

impl Question {
    /// The policy for this question, tightened as asked.
    pub fn effective(&self, p: &policy::Policy) -> policy::Effective {
        let mut e = p.effective(self.environment.as_deref());
        if let Some(s) = self.max_severity {
            e.max_severity = e.max_severity.min(s);
        }
        e.require_signoff |= self.require_signoff;
        e.require_provenance |= self.require_provenance;
        e
    }
}

/// The newest prompt-injection test run of a service, as its event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    pub event_id: String,
    pub commit: Option<String>,
    pub failed: bool,
    pub at: String,
    pub tool: String,
    pub failures: Option<u64>,
}

/// What the gate reads of one tenant: its open alerts (already filtered
/// to the tenant), scan states, sign-offs, the service's latest SBOM
/// state with the VEX statements imported on their own, provenance
/// records, the service's newest prompt-injection test run, the AI
/// attribution of the commit (`None`: not looked up) and the compliance
/// posture.
pub struct Evidence<'a> {
    pub alerts: &'a [ward_alert::Alert],
    pub scans: &'a [ScanState],
    pub signoffs: &'a [Signoff],
    pub sbom: &'a ScanState,
    pub vex: &'a [sbom::Statement],
    pub provenance: &'a provenance::Store,
    pub prompt_test: Option<&'a TestRun>,
    pub attribution: Option<&'a ai::Attribution>,
    pub compliance: Posture<'a>,
}

/// The compliance posture as the gate sees it.
#[derive(Debug, Clone, Copy)]
pub enum Posture<'a> {
    /// Compliance evaluation is off (`[compliance] enabled = false`).
    Disabled,
    /// Every control's result, and the team owning the service.
    Results {
        results: &'a [crate::compliance::ControlResult],
        owner: Option<&'a str>,
    },
}

/// Control states that fail the deploy: a control that fails, or whose
/// evaluation failed.
fn failing(state: crate::compliance::State) -> bool {
    matches!(
        state,
        crate::compliance::State::Fail | crate::compliance::State::Error
    )
}

/// Why each selected control counts, for the reason's text.
fn why_selected(
    r: &crate::compliance::ControlResult,
    eff: &policy::Effective,
    owner: Option<&str>,
) -> Vec<String> {
    let mut why = Vec::new();
    if eff.compliance_controls.iter().any(|c| c == &r.id) {
        why.push("named by the policy".to_owned());
    }
    for f in &eff.compliance_frameworks {
        if r.mappings.iter().any(|m| &m.framework == f) {
            why.push(format!("maps to {f}"));
        }
    }
    if eff.compliance_owner_controls && owner.is_some_and(|o| o == r.owner) {
        why.push(format!("owned by {}, the service's team", r.owner));
    }
    why
}

/// The `failing_control` reasons: selected controls that fail, and what
/// the policy names but cannot be checked.
fn control_problems(
    eff: &policy::Effective,
    posture: Posture<'_>,
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let Posture::Results { results, owner } = posture else {
        if !(eff.compliance_controls.is_empty() && eff.compliance_frameworks.is_empty()) {
            out.push((
                "compliance evaluation is disabled ([compliance] enabled = false): the controls and frameworks the policy names cannot be checked".into(),
                None,
            ));
        }
        return out;
    };
    for r in results {
        let why = why_selected(r, eff, owner);
        if why.is_empty() || !failing(r.state) {
            continue;
        }
        out.push((
            format!(
                "compliance control {} ({}) is {}{} ({})",
                r.id,
                r.title,
                r.state.as_str(),
                if r.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.reason)
                },
                why.join(", ")
            ),
            Some(format!("control:{}", r.id)),
        ));
    }
    for id in &eff.compliance_controls {
        if !results.iter().any(|r| &r.id == id) {
            out.push((
                format!("compliance control {id} named by the policy is not loaded"),
                Some(format!("control:{id}")),
            ));
        }
    }
    for f in &eff.compliance_frameworks {
        if !results
            .iter()
            .any(|r| r.mappings.iter().any(|m| &m.framework == f))
        {
            out.push((
                format!("framework {f} named by the policy has no loaded control"),
                Some(format!("framework:{f}")),
            ));
        }
    }
    out
}

/// The distinct event ids behind a list of signals, comma-separated (at
/// most 10).
fn event_ids<'a>(ids: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for id in ids.filter(|i| !i.is_empty()) {
        if out.len() < 10 && !out.contains(&id) {
            out.push(id);
        }
    }
    (!out.is_empty()).then(|| out.join(","))
}

/// What an attribution says, for a reason's text.
fn describe(a: &ai::Attribution) -> String {
    let mut parts = Vec::new();
    if !a.generated.is_empty() {
        let commits: Vec<String> = a
            .generated
            .iter()
            .take(10)
            .map(|g| {
                format!(
                    "{} by {} ({})",
                    g.commit.chars().take(12).collect::<String>(),
                    g.tool,
                    g.how
                )
            })
            .collect();
        parts.push(format!(
            "AI-generated: {}{}",
            commits.join(", "),
            if a.generated.len() > 10 { ", …" } else { "" }
        ));
    }
    if !a.paths.is_empty() {
        let paths: Vec<&str> = a.paths.iter().take(10).map(|p| p.path.as_str()).collect();
        parts.push(format!(
            "AI-related files: {}{}",
            paths.join(", "),
            if a.paths.len() > 10 { ", …" } else { "" }
        ));
    }
    parts.join("; ")
}

/// The verdict of a list of reasons: `fail` when one fails, else `warn`
/// when one warns, else `pass`.
pub fn verdict(reasons: &[Reason]) -> &'static str {
    if reasons.iter().any(|r| r.action == "fail") {
        "fail"
    } else if reasons.is_empty() {
        "pass"
    } else {
        "warn"
    }
}

/// The reasons against `q` under `policy` (reasons the policy turns off
/// are not checked).
pub fn reasons(q: &Question, eff: &policy::Effective, ev: &Evidence<'_>) -> Vec<Reason> {
    let Evidence {
        alerts,
        scans,
        signoffs,
        sbom: latest,
        vex,
        provenance: prov,
        prompt_test,
        attribution,
        compliance,
    } = *ev;
    let mut out = Vec::new();
    let mut push = |code: &'static str, detail: String, evidence: Option<String>| {
        let action = eff.action(code);
        if action != policy::Action::Off {
            out.push(Reason {
                code,
                action: action.as_str(),
                detail,
                evidence,
            });
        }
    };
    for a in alerts {
        if a.is_firing()
            && a.severity >= eff.max_severity
            && a.labels.get("service").map(String::as_str) == Some(q.service.as_str())
        {
            push(
                "open_alert",
                format!(
                    "{} alert {:?} is {}",
                    a.severity.as_str(),
                    a.rule_title,
                    a.status.as_str()
                ),
                Some(a.id.to_string()),
            );
        }
    }
    for s in scans {
        if q.commit.as_deref().is_some_and(|c| c != s.commit) {
            continue;
        }
        for (fp, k) in s.new_findings().filter(|(_, k)| k.level == "error") {
            push(
                "new_error_finding",
                format!(
                    "{} {} in {}{} (new in {}{})",
                    k.tool,
                    k.rule,
                    if k.file.is_empty() { "?" } else { &k.file },
                    k.line.map(|l| format!(":{l}")).unwrap_or_default(),
                    s.commit,
                    if s.repository.is_empty() {
                        String::new()
                    } else {
                        format!(" of {}", s.repository)
                    }
                ),
                Some(fp.clone()),
            );
        }
    }
    for (fp, k) in latest.current.iter().filter(|(_, k)| k.level == "critical") {
        let purl = (!k.file.is_empty()).then_some(k.file.as_str());
        if sbom::suppressed(vex, &k.rule, &k.aliases, purl) {
            continue;
        }
        push(
            "unhandled_vulnerability",
            format!(
                "critical {} in {} {} (SBOM of {}) without a VEX statement",
                k.rule, k.package, k.version, latest.commit
            ),
            Some(fp.clone()),
        );
    }
    let signed = q.commit.as_deref().is_some_and(|c| {
        signoffs
            .iter()
            .any(|s| s.service == q.service && s.commit == c)
    });
    if eff.require_signoff && !signed {
        push(
            "no_signoff",
            match &q.commit {
                Some(c) => format!("no security sign-off of {} at {c}", q.service),
                None => {
                    "a sign-off is required, and it is given for a commit: pass --commit".into()
                }
            },
            None,
        );
    }
    if let (Some(a), Some(c)) = (attribution, q.commit.as_deref()) {
        if a.related() && !signed {
            push(
                "ai_change_without_signoff",
                format!(
                    "{} at {c} is an AI-related change without a security sign-off ({})",
                    q.service,
                    describe(a)
                ),
                event_ids(
                    a.generated
                        .iter()
                        .map(|g| g.event_id.as_str())
                        .chain(a.paths.iter().map(|p| p.event_id.as_str())),
                ),
            );
        }
        if !a.generated.is_empty() && !scans.iter().any(|s| s.commit == c) {
            push(
                "ai_change_without_scan",
                format!(
                    "{} at {c} has AI-generated changes ({}) and no scan result (no SARIF import of the commit)",
                    q.service,
                    a.tools().join(", ")
                ),
                event_ids(a.generated.iter().map(|g| g.event_id.as_str())),
            );
        }
    }
    if eff.require_provenance {
        for p in provenance_problems(q, prov) {
            push(p.code, p.detail, p.evidence);
        }
    }
    if let Some(t) = prompt_test.filter(|t| t.failed) {
        push(
            "prompt_injection_test_failed",
            format!(
                "the newest prompt-injection test run of {} ({}{}, {}) failed{}",
                q.service,
                t.tool,
                t.commit
                    .as_deref()
                    .map(|c| format!(" at {c}"))
                    .unwrap_or_default(),
                t.at,
                t.failures
                    .map(|n| format!(": {n} attack(s) got through"))
                    .unwrap_or_default()
            ),
            Some(t.event_id.clone()),
        );
    }
    for (detail, evidence) in control_problems(eff, compliance) {
        push("failing_control", detail, evidence);
    }
    out
}

/// Missing or invalid provenance of the question's artefacts (or, when it
/// names none, of its commit), whatever the policy says: the caller records
/// each as an event, and the policy decides whether it is a reason.
pub fn provenance_problems(q: &Question, prov: &provenance::Store) -> Vec<Reason> {
    let mut out = Vec::new();
    let mut one =
        |status: provenance::Status<'_>, what: String, evidence: Option<String>| match status {
            provenance::Status::Valid(_) => {}
            provenance::Status::Invalid(r) => out.push(Reason {
                code: "provenance_invalid",
                action: "fail",
                detail: format!("the provenance of {what} was refused: {}", r.detail),
                evidence: evidence.or_else(|| (!r.event_id.is_empty()).then(|| r.event_id.clone())),
            }),
            provenance::Status::Missing => out.push(Reason {
                code: "provenance_missing",
                action: "fail",
                detail: format!("no verified provenance of {what}"),
                evidence,
            }),
        };
    if q.artifacts.is_empty() {
        match &q.commit {
            Some(c) => one(
                prov.status_of_commit(&q.service, c),
                format!("{} at {c}", q.service),
                None,
            ),
            None => one(
                provenance::Status::Missing,
                format!(
                    "{}: name the artefacts (--artifact) or the commit",
                    q.service
                ),
                None,
            ),
        }
    }
    for d in &q.artifacts {
        one(
            prov.status(d, &q.service),
            format!("artefact sha256:{d}"),
            Some(format!("sha256:{d}")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_with_new_error() -> ScanState {
        let mut s = ScanState {
            service: "shop".into(),
            commit: "c2".into(),
            ..ScanState::default()
        };
        s.current.insert(
            "fp1".into(),
            Known {
                tool: "semgrep".into(),
                rule: "python-eval".into(),
                level: "error".into(),
                file: "app.py".into(),
                line: Some(20),
                package: String::new(),
                version: String::new(),
                aliases: Vec::new(),
            },
        );
        s
    }

    fn record(valid: bool, commit: &str) -> provenance::Record {
        provenance::Record {
            service: "shop".into(),
            commit: commit.into(),
            valid,
            detail: if valid {
                "k1".into()
            } else {
                "tampered".into()
            },
            predicate_type: "https://slsa.dev/provenance/v1".into(),
            builder: String::new(),
            at: "2026-12-06T00:00:00Z".into(),
            event_id: "e1".into(),
        }
    }

    #[test]
    fn the_policy_decides_what_each_reason_does() {
        let scans = [scan_with_new_error()];
        let empty = ScanState::default();
        let prov = provenance::Store::default();
        let run = TestRun {
            event_id: "t1".into(),
            commit: None,
            failed: true,
            at: "now".into(),
            tool: "promptfoo".into(),
            failures: Some(2),
        };
        let ev = Evidence {
            alerts: &[],
            scans: &scans,
            signoffs: &[],
            sbom: &empty,
            vex: &[],
            provenance: &prov,
            prompt_test: Some(&run),
            attribution: None,
            compliance: Posture::Disabled,
        };
        let q = Question {
            service: "shop".into(),
            commit: Some("c2".into()),
            artifacts: vec!["a".repeat(64)],
            ..Question::default()
        };
        let policy = policy::Policy::new(
            toml::from_str(
                r#"
                [environments.production]
                require_provenance = true
                [environments.staging]
                new_error_finding = "warn"
                prompt_injection_test_failed = "off"
                "#,
            )
            .unwrap(),
        )
        .unwrap();
        let prod = Question {
            environment: Some("production".into()),
            ..q.clone()
        };
        let r = reasons(&prod, &prod.effective(&policy), &ev);
        let codes: Vec<_> = r.iter().map(|r| (r.code, r.action)).collect();
        assert_eq!(
            codes,
            vec![
                ("new_error_finding", "fail"),
                ("provenance_missing", "fail"),
                ("prompt_injection_test_failed", "fail")
            ]
        );
        assert_eq!(verdict(&r), "fail");
        let staging = Question {
            environment: Some("staging".into()),
            ..q.clone()
        };
        let r = reasons(&staging, &staging.effective(&policy), &ev);
        assert_eq!(
            r.iter().map(|r| (r.code, r.action)).collect::<Vec<_>>(),
            vec![("new_error_finding", "warn")]
        );
        assert_eq!(verdict(&r), "warn");
        assert_eq!(verdict(&[]), "pass");
        // The caller tightens, never loosens.
        let asked = Question {
            environment: Some("staging".into()),
            require_provenance: true,
            max_severity: Some(ward_alert::Severity::Critical),
            ..q
        };
        let eff = asked.effective(&policy);
        assert!(eff.require_provenance);
        assert_eq!(eff.max_severity, ward_alert::Severity::High);
    }

    fn control(
        id: &str,
        owner: &str,
        framework: &str,
        state: crate::compliance::State,
    ) -> crate::compliance::ControlResult {
        crate::compliance::ControlResult {
            id: id.into(),
            title: format!("{id} title"),
            owner: owner.into(),
            severity: crate::compliance::control::Severity::High,
            check: "events".into(),
            mappings: vec![crate::compliance::control::Mapping {
                framework: framework.into(),
                id: "1.1".into(),
                relationship: crate::compliance::control::Relationship::Intersects,
            }],
            state,
            reason: "why".into(),
            evaluated_at: None,
            observed: serde_json::Value::Null,
            queries: Vec::new(),
        }
    }

    #[test]
    fn ai_changes_need_a_signoff_and_a_scan_and_controls_must_not_fail() {
        use crate::compliance::State;
        let empty = ScanState::default();
        let prov = provenance::Store::default();
        let generated = ai::Attribution {
            generated: vec![ai::Generated {
                commit: "c2".into(),
                tool: "copilot".into(),
                how: "trailer",
                event_id: "ev1".into(),
            }],
            paths: Vec::new(),
            ai_files: Vec::new(),
        };
        let instructions = ai::Attribution {
            generated: Vec::new(),
            paths: vec![ai::Path {
                path: "AGENTS.md".into(),
                event_id: "ev2".into(),
            }],
            ai_files: Vec::new(),
        };
        let human = ai::Attribution::default();
        let results = [
            control("LOG-01", "platform", "iso27001", State::Fail),
            control("SCN-01", "secops", "pci-dss", State::Error),
            control("DET-01", "secops", "soc2", State::Pass),
            control("IR-01", "secops", "soc2", State::Unknown),
        ];
        let scanned = [ScanState {
            service: "shop".into(),
            commit: "c2".into(),
            ..ScanState::default()
        }];
        let signed = [Signoff {
            service: "shop".into(),
            commit: "c2".into(),
            by: "sec".into(),
            reason: "ok".into(),
            at: "now".into(),
        }];
        let q = Question {
            service: "shop".into(),
            commit: Some("c2".into()),
            ..Question::default()
        };
        let eff = q.effective(&policy::Policy::default());
        let codes =
            |a: Option<&ai::Attribution>, scans: &[ScanState], signoffs: &[Signoff], posture| {
                let ev = Evidence {
                    alerts: &[],
                    scans,
                    signoffs,
                    sbom: &empty,
                    vex: &[],
                    provenance: &prov,
                    prompt_test: None,
                    attribution: a,
                    compliance: posture,
                };
                reasons(&q, &eff, &ev)
                    .into_iter()
                    .map(|r| (r.code, r.evidence.unwrap_or_default()))
                    .collect::<Vec<_>>()
            };
        let off = Posture::Disabled;
        assert_eq!(
            codes(Some(&generated), &[], &[], off),
            vec![
                ("ai_change_without_signoff", "ev1".to_owned()),
                ("ai_change_without_scan", "ev1".to_owned())
            ]
        );
        // AI instructions changed by a person: a sign-off, no scan needed.
        assert_eq!(
            codes(Some(&instructions), &[], &[], off),
            vec![("ai_change_without_signoff", "ev2".to_owned())]
        );
        assert!(codes(Some(&generated), &scanned, &signed, off).is_empty());
        assert!(codes(Some(&human), &[], &[], off).is_empty());
        assert!(codes(None, &[], &[], off).is_empty());
        // Controls: the service's team's failing ones count, passing and
        // unknown ones do not, other teams' neither.
        let posture = Posture::Results {
            results: &results,
            owner: Some("secops"),
        };
        assert_eq!(
            codes(None, &[], &[], posture),
            vec![("failing_control", "control:SCN-01".to_owned())]
        );
        let by_policy = policy::Policy::new(
            toml::from_str(
                "[default]\ncompliance_controls = [\"LOG-01\", \"NOPE-9\"]\ncompliance_frameworks = [\"soc2\", \"eu-ai-act\"]\ncompliance_owner_controls = false\n",
            )
            .unwrap(),
        )
        .unwrap();
        let eff2 = q.effective(&by_policy);
        let r: Vec<_> = control_problems(&eff2, posture)
            .into_iter()
            .map(|(d, e)| (e.unwrap_or_default(), d))
            .collect();
        assert_eq!(
            r.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
            vec!["control:LOG-01", "control:NOPE-9", "framework:eu-ai-act"],
            "{r:?}"
        );
        assert!(
            r[0].1.contains("is fail: why (named by the policy)"),
            "{r:?}"
        );
        // Compliance off: what the policy names cannot pass unchecked.
        assert_eq!(control_problems(&eff2, Posture::Disabled).len(), 1);
        assert!(control_problems(&eff, Posture::Disabled).is_empty());
    }

    #[test]
    fn a_refused_attestation_never_outweighs_a_verified_one() {
        let d = "b".repeat(64);
        let mut s = provenance::Store::default();
        s.add(std::slice::from_ref(&d), &record(false, "c1"));
        assert!(matches!(
            s.status(&d, "shop"),
            provenance::Status::Invalid(_)
        ));
        assert!(matches!(s.status(&d, "other"), provenance::Status::Missing));
        s.add(std::slice::from_ref(&d), &record(true, "c1"));
        s.add(std::slice::from_ref(&d), &record(false, "c1"));
        assert!(matches!(s.status(&d, "shop"), provenance::Status::Valid(_)));
        assert!(matches!(
            s.status_of_commit("shop", "c1"),
            provenance::Status::Valid(_)
        ));
        assert!(matches!(
            s.status_of_commit("shop", "c9"),
            provenance::Status::Missing
        ));
        // Bounded per digest.
        for _ in 0..20 {
            s.add(std::slice::from_ref(&d), &record(false, "c1"));
        }
        assert_eq!(s.digests[&d].len(), provenance::MAX_RECORDS_PER_DIGEST);
    }

    #[test]
    fn each_tool_and_service_has_its_own_scan_file() {
        let a = state_file(Kind::Scan, "shop", &scan_key("acme/shop", "Semgrep OSS"));
        let b = state_file(Kind::Scan, "shop", &scan_key("acme/shop", "Bandit"));
        let c = state_file(Kind::Scan, "cart", &scan_key("acme/shop", "Bandit"));
        assert_ne!(a, b);
        let prefix = format!("scan-{}-", service_prefix("shop"));
        assert!(a.starts_with(&prefix) && b.starts_with(&prefix), "{a} {b}");
        assert!(!c.starts_with(&prefix));
        // Files of older versions keep their names.
        assert!(!state_file(Kind::Scan, "shop", "acme/shop")[5..].contains('-'));
    }
}
