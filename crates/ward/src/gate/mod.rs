//! Scan results in, a deploy gate out. A SARIF import ([`sarif`]) becomes
//! one event per finding, each with Ward's own fingerprint and its state
//! against the previous import of the same service and repository
//! (`ward.scan.state`: new, unchanged, fixed). The gate answers allow or
//! deny for a service (and commit) from the service's open alerts, the
//! commit's new error-level findings and, when asked, a security
//! sign-off. Every import, sign-off and decision is an event in the
//! tamper-evident log.
//!
//! State lives in `<data>/gate/<tenant as hex>/`: `scan-<hash>.json` per
//! (service, repository) (the fingerprints of the last import and of the
//! baseline it was compared with; never messages), and `signoffs.json`.
//! Files are replaced atomically.

pub mod sarif;

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
}

/// The scan state of one (service, repository).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanState {
    pub service: String,
    pub repository: String,
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

fn scan_file(service: &str, repository: &str) -> String {
    let mut h = Sha256::new();
    h.update(service.as_bytes());
    h.update([0]);
    h.update(repository.as_bytes());
    format!("scan-{}.json", hex::encode(&h.finalize()[..12]))
}

/// The state of (service, repository), or an empty one.
pub fn load_scan(dir: &Path, service: &str, repository: &str) -> anyhow::Result<ScanState> {
    let path = dir.join(scan_file(service, repository));
    match std::fs::read(&path) {
        Ok(b) => {
            serde_json::from_slice(&b).with_context(|| format!("{} is damaged", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ScanState {
            service: service.into(),
            repository: repository.into(),
            ..ScanState::default()
        }),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Every scan state of a tenant for `service`.
pub fn scans_of(dir: &Path, service: &str) -> anyhow::Result<Vec<ScanState>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("scan-") && name.ends_with(".json")) {
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
    findings: &[sarif::Finding],
    now: &str,
) -> (ScanState, Diff) {
    let (base_commit, base) = if prev.commit == commit {
        (prev.base_commit.clone(), prev.base.clone())
    } else {
        (prev.commit.clone(), prev.current.clone())
    };
    let current: BTreeMap<String, Known> = findings
        .iter()
        .map(|f| {
            (
                f.fingerprint.clone(),
                Known {
                    tool: f.tool.clone(),
                    rule: f.rule.clone(),
                    level: f.level.clone(),
                    file: f.file.clone(),
                    line: f.line,
                },
            )
        })
        .collect();
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
        commit: commit.into(),
        imported_at: now.into(),
        current,
        base_commit,
        base,
    };
    (next, diff)
}

/// Writes a scan state atomically.
pub fn save_scan(dir: &Path, s: &ScanState) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(s)?;
    crate::access::replace_file(dir, &scan_file(&s.service, &s.repository), &bytes)
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

/// One reason to deny.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reason {
    /// `open_alert`, `new_error_finding`, `no_signoff`.
    pub code: &'static str,
    pub detail: String,
    /// The alert id or finding fingerprint behind it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

/// A gate question.
#[derive(Debug, Clone)]
pub struct Question {
    pub service: String,
    pub commit: Option<String>,
    pub max_severity: ward_alert::Severity,
    pub require_signoff: bool,
}

/// The reasons to deny `q`, from the tenant's open alerts (already
/// filtered to the tenant), scan states and sign-offs.
pub fn reasons(
    q: &Question,
    alerts: &[ward_alert::Alert],
    scans: &[ScanState],
    signoffs: &[Signoff],
) -> Vec<Reason> {
    let mut out = Vec::new();
    for a in alerts {
        if a.is_firing()
            && a.severity >= q.max_severity
            && a.labels.get("service").map(String::as_str) == Some(q.service.as_str())
        {
            out.push(Reason {
                code: "open_alert",
                detail: format!(
                    "{} alert {:?} is {}",
                    a.severity.as_str(),
                    a.rule_title,
                    a.status.as_str()
                ),
                evidence: Some(a.id.to_string()),
            });
        }
    }
    for s in scans {
        if q.commit.as_deref().is_some_and(|c| c != s.commit) {
            continue;
        }
        for (fp, k) in s.new_findings().filter(|(_, k)| k.level == "error") {
            out.push(Reason {
                code: "new_error_finding",
                detail: format!(
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
                evidence: Some(fp.clone()),
            });
        }
    }
    if q.require_signoff {
        let signed = q.commit.as_deref().is_some_and(|c| {
            signoffs
                .iter()
                .any(|s| s.service == q.service && s.commit == c)
        });
        if !signed {
            out.push(Reason {
                code: "no_signoff",
                detail: match &q.commit {
                    Some(c) => format!("no security sign-off of {} at {c}", q.service),
                    None => {
                        "a sign-off is required, and it is given for a commit: pass --commit".into()
                    }
                },
                evidence: None,
            });
        }
    }
    out
}
