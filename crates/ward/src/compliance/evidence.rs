//! Evidence bundles: what an auditor can check offline with only the
//! store's public key.
//!
//! ```text
//! manifest.json                     every other file with its SHA-256 and size
//! manifest.sig                      C2SP signed note by the store's key over
//!                                   "ward-evidence-manifest/1\nmanifest-sha256 <hex>\n"
//! oscal/assessment-results.json     the posture as OSCAL assessment results
//! controls/<ID>/definition.json     the control as written, its requirements
//! controls/<ID>/results.ndjson      every evaluation in the period
//! controls/<ID>/query.json          the exact queries and windows of the last evaluation,
//!                                   and the population query
//! controls/<ID>/population.ndjson   the matching events, byte for byte as stored
//! controls/<ID>/population.json     population query, window, row count, matched, truncated
//! controls/<ID>/proofs.ndjson       an inclusion proof per population row, same order,
//!                                   against a signed checkpoint
//! ```
//!
//! [`verify`] names every file that does not match: a changed byte in any
//! file fails its hash (or, for the manifest, the signature).

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use ward_store::{SearchOptions, Store};

use super::control::Check;
use super::{Compliance, ControlResult, State, history};

/// The kind line of a signed manifest.
pub const MANIFEST_KIND: &str = "ward-evidence-manifest/1";
/// Most events exported per control population.
pub const MAX_POPULATION: usize = 1_000;
/// Largest file [`verify`] reads.
pub const MAX_FILE: u64 = 256 << 20;
/// Most files [`verify`] accepts in a bundle.
pub const MAX_FILES: usize = 100_000;

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Builds a bundle: file path → contents.
pub fn export(
    c: &Compliance,
    store: &Store,
    framework: Option<&str>,
    since: jiff::Timestamp,
    now: jiff::Timestamp,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let pack = c.pack();
    let results: BTreeMap<String, ControlResult> = c
        .results(now)
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut exported = Vec::new();
    for control in pack
        .controls
        .iter()
        .filter(|ctl| framework.is_none_or(|f| ctl.maps_to(f)))
    {
        let Some(r) = results.get(&control.id) else {
            continue;
        };
        let base = format!("controls/{}", control.id);
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
        files.insert(
            format!("{base}/definition.json"),
            serde_json::to_vec_pretty(&json!({
                "id": control.id,
                "file": control.file,
                "definition": control.definition,
                "requirements": requirements,
                "current": r,
            }))?,
        );
        let mut lines = Vec::new();
        for e in history::read(c.data_dir(), &control.id, Some(since))? {
            lines.extend(serde_json::to_vec(&e)?);
            lines.push(b'\n');
        }
        files.insert(format!("{base}/results.ndjson"), lines);
        let end = r.evaluated_at.unwrap_or(now);
        let population = match &control.check {
            Check::Events(e) => Some((e.query.clone(), e.window)),
            Check::Scanner(s) => Some((s.query.clone(), s.window)),
            _ => None,
        };
        let pop_window = population.as_ref().map(|(q, w)| {
            let start = jiff::SignedDuration::try_from(*w)
                .ok()
                .and_then(|d| end.checked_sub(d).ok())
                .unwrap_or(jiff::Timestamp::MIN);
            json!({"query": q, "since": start, "until": end})
        });
        files.insert(
            format!("{base}/query.json"),
            serde_json::to_vec_pretty(&json!({
                "check": control.check.kind(),
                "evaluated_at": r.evaluated_at,
                "queries": r.queries,
                "population": pop_window,
            }))?,
        );
        if let Some((query, window)) = population {
            let (rows, proofs, meta) = population_of(store, &query, window, end)?;
            files.insert(format!("{base}/population.ndjson"), rows);
            files.insert(format!("{base}/proofs.ndjson"), proofs);
            files.insert(
                format!("{base}/population.json"),
                serde_json::to_vec_pretty(&meta)?,
            );
        }
        exported.push((control, r));
    }
    files.insert(
        "oscal/assessment-results.json".into(),
        serde_json::to_vec_pretty(&oscal(&exported, pack, since, now))?,
    );
    let listed: BTreeMap<&String, Value> = files
        .iter()
        .map(|(p, b)| (p, json!({"sha256": sha256_hex(b), "bytes": b.len()})))
        .collect();
    let manifest = serde_json::to_vec_pretty(&json!({
        "format": MANIFEST_KIND,
        "created": now,
        "framework": framework,
        "since": since,
        "until": now,
        "public_key": store.public_key(),
        "files": listed,
    }))?;
    let note = store.sign_note(&format!(
        "{MANIFEST_KIND}\nmanifest-sha256 {}\n",
        sha256_hex(&manifest)
    ));
    files.insert("manifest.json".into(), manifest);
    files.insert("manifest.sig".into(), note.into_bytes());
    Ok(files)
}

type Population = (Vec<u8>, Vec<u8>, Value);

/// The events `query` matches in the window ending at `end`, each with an
/// inclusion proof; rows are the stored bodies, byte for byte.
fn population_of(
    store: &Store,
    query: &str,
    window: std::time::Duration,
    end: jiff::Timestamp,
) -> anyhow::Result<Population> {
    let filter = query.trim();
    let q = if filter == "*" || filter.is_empty() {
        ward_store::Query::all()
    } else {
        ward_store::query::parse(filter)?
    };
    let until = end.as_millisecond();
    let since = until.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
    let res = store.search(
        &q,
        &SearchOptions {
            since: Some(since),
            until: Some(until),
            limit: MAX_POPULATION,
            ..SearchOptions::default()
        },
    )?;
    let (mut rows, mut proofs) = (Vec::new(), Vec::new());
    for hit in &res.hits {
        let proof = store.inclusion_proof(&hit.id)?;
        let record =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &proof.record)?;
        let decoded = ward_store::format::decode_record(&record).map_err(anyhow::Error::msg)?;
        rows.extend_from_slice(&decoded.body);
        rows.push(b'\n');
        proofs.extend(serde_json::to_vec(&proof)?);
        proofs.push(b'\n');
    }
    let meta = json!({
        "query": query,
        "since": jiff::Timestamp::from_millisecond(since)?,
        "until": end,
        "rows": res.hits.len(),
        "matched": res.matched,
        "truncated": (res.matched as usize) > res.hits.len(),
        "limit": MAX_POPULATION,
    });
    Ok((rows, proofs, meta))
}

/// An OSCAL token from a framework and requirement id (`pci-dss_10.2.1`).
fn token(framework: &str, id: &str) -> String {
    format!("{framework}_{id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// OSCAL 1.1 assessment results: one observation per control, one finding
/// per mapped requirement of a control that passed or failed.
fn oscal(
    exported: &[(&super::Control, &ControlResult)],
    pack: &super::Pack,
    since: jiff::Timestamp,
    now: jiff::Timestamp,
) -> Value {
    // OSCAL accepts version 4 and 5 UUIDs only.
    let uuid = || {
        uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .to_string()
    };
    let ns = "https://github.com/ward-security/ward/ns/oscal";
    let mut observations = Vec::new();
    let mut findings = Vec::new();
    for (c, r) in exported {
        let obs = uuid();
        let mut evidence = vec![json!({
            "href": format!("controls/{}/results.ndjson", c.id),
            "description": "every evaluation of the control in the period",
        })];
        if matches!(c.check, Check::Events(_) | Check::Scanner(_)) {
            evidence.push(json!({
                "href": format!("controls/{}/population.ndjson", c.id),
                "description": "the events the control's query matched, with inclusion proofs in proofs.ndjson",
            }));
        }
        observations.push(json!({
            "uuid": obs,
            "title": format!("{} {}", c.id, c.title),
            "description": format!("{}: {}", r.state.as_str(), r.reason),
            "props": [
                {"name": "control-id", "ns": ns, "value": c.id},
                {"name": "state", "ns": ns, "value": r.state.as_str()},
                {"name": "owner", "ns": ns, "value": c.owner},
            ],
            "methods": [if matches!(c.check, Check::Manual { .. }) { "EXAMINE" } else { "TEST" }],
            "types": ["control-objective"],
            "collected": r.evaluated_at.unwrap_or(now).to_string(),
            "relevant-evidence": evidence,
        }));
        let status = match r.state {
            State::Pass => "satisfied",
            State::Fail | State::Error => "not-satisfied",
            _ => continue,
        };
        for m in &c.mappings {
            let version = pack
                .catalogs
                .get(&m.framework)
                .map_or("", |cat| cat.version.as_str());
            findings.push(json!({
                "uuid": uuid(),
                "title": format!("{} {} {}", m.framework, m.id, c.id),
                "description": format!("{} ({:?}) by control {}: {}", m.id, m.relationship, c.id, r.reason),
                "props": [
                    {"name": "framework", "ns": ns, "value": m.framework},
                    {"name": "framework-version", "ns": ns, "value": if version.is_empty() { "unversioned" } else { version }},
                    {"name": "requirement", "ns": ns, "value": m.id},
                ],
                "target": {
                    "type": "objective-id",
                    "target-id": token(&m.framework, &m.id),
                    "status": {"state": status},
                },
                "related-observations": [{"observation-uuid": obs}],
            }));
        }
    }
    let mut result = json!({
        "uuid": uuid(),
        "title": "Ward compliance posture",
        "description": "Controls evaluated continuously by Ward over its own stored events and state.",
        "start": since.to_string(),
        "end": now.to_string(),
        "reviewed-controls": {"control-selections": [{"include-all": {}}]},
    });
    if !observations.is_empty() {
        result["observations"] = json!(observations);
    }
    if !findings.is_empty() {
        result["findings"] = json!(findings);
    }
    json!({
        "assessment-results": {
            "uuid": uuid(),
            "metadata": {
                "title": "Ward evidence bundle",
                "last-modified": now.to_string(),
                "version": env!("CARGO_PKG_VERSION"),
                "oscal-version": "1.2.1",
            },
            "import-ap": {"href": "#ward-continuous-assessment"},
            "results": [result],
        }
    })
}

/// Writes a bundle into `dir` (which must not exist or be empty).
pub fn write(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        anyhow::bail!(
            "{} is not empty: export into a new directory",
            dir.display()
        );
    }
    for (path, bytes) in files {
        let rel = safe_relative(path)
            .ok_or_else(|| anyhow::anyhow!("the server sent an unsafe file name {path:?}"))?;
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, bytes).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

/// A bundle path as a relative path with no `..`, root or prefix.
fn safe_relative(path: &str) -> Option<&Path> {
    let p = Path::new(path);
    (!path.is_empty()
        && path.len() <= 512
        && p.components().all(|c| matches!(c, Component::Normal(_))))
    .then_some(p)
}

fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_FILE {
        return Err(format!("larger than {MAX_FILE} bytes"));
    }
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

/// Checks a bundle offline with only the store's public key; returns every
/// problem, each starting with the file it concerns. Empty: it verifies.
pub fn verify(dir: &Path, public_key: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let sig = match read_limited(&dir.join("manifest.sig")) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => return vec![format!("manifest.sig: {e}")],
    };
    let signed_hash = match ward_store::open_note(&sig, public_key) {
        Ok(body) => {
            let mut lines = body.lines();
            match (
                lines.next(),
                lines
                    .next()
                    .and_then(|l| l.strip_prefix("manifest-sha256 ")),
            ) {
                (Some(MANIFEST_KIND), Some(h)) => h.to_owned(),
                _ => return vec!["manifest.sig: not a signed evidence manifest".into()],
            }
        }
        Err(e) => {
            return vec![format!(
                "manifest.sig: the signature does not verify with this key: {e}"
            )];
        }
    };
    let manifest_bytes = match read_limited(&dir.join("manifest.json")) {
        Ok(b) => b,
        Err(e) => return vec![format!("manifest.json: {e}")],
    };
    if sha256_hex(&manifest_bytes) != signed_hash {
        return vec![
            "manifest.json: its SHA-256 differs from the signed one in manifest.sig".into(),
        ];
    }
    let manifest: Value = match serde_json::from_slice(&manifest_bytes) {
        Ok(v) => v,
        Err(e) => return vec![format!("manifest.json: not JSON: {e}")],
    };
    let Some(listed) = manifest["files"].as_object() else {
        return vec!["manifest.json: no files".into()];
    };
    if listed.len() > MAX_FILES {
        return vec![format!("manifest.json: more than {MAX_FILES} files")];
    }
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (path, meta) in listed {
        let Some(rel) = safe_relative(path) else {
            problems.push(format!("{path}: unsafe path in the manifest"));
            continue;
        };
        match read_limited(&dir.join(rel)) {
            Ok(b) => {
                if Some(sha256_hex(&b).as_str()) != meta["sha256"].as_str() {
                    problems.push(format!("{path}: its SHA-256 differs from the manifest"));
                } else {
                    contents.insert(path.clone(), b);
                }
            }
            Err(e) => problems.push(format!("{path}: listed in the manifest but {e}")),
        }
    }
    let mut present = Vec::new();
    collect_files(dir, dir, &mut present);
    for p in present {
        if p != "manifest.json" && p != "manifest.sig" && !listed.contains_key(&p) {
            problems.push(format!("{p}: not in the signed manifest"));
        }
    }
    for (path, bytes) in &contents {
        let Some(base) = path.strip_suffix("/proofs.ndjson") else {
            continue;
        };
        let rows_path = format!("{base}/population.ndjson");
        let Some(rows) = contents.get(&rows_path) else {
            problems.push(format!("{rows_path}: missing beside {path}"));
            continue;
        };
        problems.extend(check_proofs(path, bytes, &rows_path, rows, public_key));
        if let Some(meta) = contents
            .get(&format!("{base}/population.json"))
            .and_then(|m| serde_json::from_slice::<Value>(m).ok())
        {
            let n = rows
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            if meta["rows"].as_u64() != Some(n as u64) {
                problems.push(format!(
                    "{base}/population.json: row count differs from {rows_path}"
                ));
            }
        }
    }
    if let Some(o) = contents.get("oscal/assessment-results.json")
        && serde_json::from_slice::<Value>(o)
            .ok()
            .and_then(|v| v.get("assessment-results").cloned())
            .is_none()
    {
        problems.push("oscal/assessment-results.json: not OSCAL assessment results".into());
    }
    problems
}

fn check_proofs(path: &str, proofs: &[u8], rows_path: &str, rows: &[u8], key: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let rows: Vec<&[u8]> = rows
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let proofs: Vec<&[u8]> = proofs
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    if rows.len() != proofs.len() {
        problems.push(format!(
            "{path}: {} proofs for {} rows of {rows_path}",
            proofs.len(),
            rows.len()
        ));
    }
    for (i, (p, row)) in proofs.iter().zip(rows.iter()).enumerate() {
        let proof: ward_store::InclusionProof = match serde_json::from_slice(p) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{path}: line {}: not a proof: {e}", i + 1));
                continue;
            }
        };
        if let Err(e) = ward_store::verify_inclusion(&proof, key) {
            problems.push(format!("{path}: line {}: {e}", i + 1));
            continue;
        }
        let body =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &proof.record)
                .ok()
                .and_then(|r| ward_store::format::decode_record(&r).ok())
                .map(|d| d.body);
        if body.as_deref() != Some(*row) {
            problems.push(format!(
                "{rows_path}: line {}: differs from the proven record",
                i + 1
            ));
        }
    }
    problems
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if out.len() > MAX_FILES {
            return;
        }
        if p.is_dir() {
            collect_files(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}
