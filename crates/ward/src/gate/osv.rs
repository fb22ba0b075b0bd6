//! OSV records (the OSV JSON schema) in a local directory: which of an
//! SBOM's components each one affects, how severe it is, and `ward osv
//! sync` to refresh the directory from a mirror the user names.
//!
//! Versions are compared by the range's type: `SEMVER` with semantic
//! versioning; `ECOSYSTEM` with semantic versioning for npm and crates.io
//! and PEP 440 for PyPI. Other ecosystems' ranges (and `GIT` ranges) are
//! not evaluated: only their explicit `versions` lists match.

use std::collections::{BTreeSet, HashMap};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::Value;

use super::sbom::Component;

/// Largest OSV record accepted, in bytes.
pub const MAX_RECORD: u64 = 4 << 20;
/// Largest download or archive `ward osv sync` reads, in bytes.
pub const MAX_ARCHIVE: u64 = 2 << 30;

#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<Package>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    #[serde(default)]
    pub ecosystem: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub purl: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeverityEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

/// Checks a record the way `ward osv sync` does: an object with an `id`
/// usable as a file name, `modified`, and well-formed `affected`.
pub fn validate(v: &Value) -> Result<Record, String> {
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .ok_or("id: missing or not a string")?;
    if id.is_empty()
        || id.len() > 100
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        || id.starts_with('.')
    {
        return Err(format!(
            "id: {:?} is not an OSV id",
            id.chars().take(40).collect::<String>()
        ));
    }
    if v.get("modified").and_then(Value::as_str).is_none() {
        return Err(format!("{id}: modified: missing or not a string"));
    }
    serde_json::from_value(v.clone()).map_err(|e| format!("{id}: {e}"))
}

/// Every record of `dir` (recursively, `*.json`). A record that does not
/// read is an error naming its file: the directory is written by `ward osv
/// sync`, which validates.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<Record>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let ty = entry.file_type()?;
            if ty.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let b = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let v: Value = serde_json::from_slice(&b)
                    .with_context(|| format!("{}: not JSON", path.display()))?;
                out.push(validate(&v).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?);
            }
        }
    }
    Ok(out)
}

/// One vulnerability of one component.
#[derive(Debug, Clone)]
pub struct Match {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    /// `critical`, `high`, `medium`, `low` or `unknown`.
    pub severity: String,
    pub component: usize,
}

/// The vulnerabilities of `components` among `records`. Components are
/// looked up by package URL and by (ecosystem, name), so the work grows
/// with the records plus the matches, not with their product.
pub fn matches(records: &[Record], components: &[Component]) -> Vec<Match> {
    let mut by_purl: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_name: HashMap<(String, &str), Vec<usize>> = HashMap::new();
    for (i, c) in components.iter().enumerate() {
        if let Some(p) = &c.purl {
            by_purl
                .entry(super::sbom::purl_base(p))
                .or_default()
                .push(i);
        }
        if let Some(e) = &c.ecosystem {
            by_name
                .entry((e.to_ascii_lowercase(), c.osv_name.as_str()))
                .or_default()
                .push(i);
        }
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for r in records {
        for a in &r.affected {
            let Some(p) = &a.package else { continue };
            let eco = p.ecosystem.split(':').next().unwrap_or("");
            let name = super::sbom::package_name(eco, &p.name);
            let mut candidates: Vec<usize> = by_name
                .get(&(eco.to_ascii_lowercase(), name.as_str()))
                .cloned()
                .unwrap_or_default();
            if let Some(pp) = &p.purl
                && let Some(list) = by_purl.get(super::sbom::purl_base(pp))
            {
                candidates.extend(list);
            }
            for ci in candidates {
                let c = &components[ci];
                if !same_package(p, c) || !affects(a, &p.ecosystem, &c.version) {
                    continue;
                }
                if seen.insert((r.id.clone(), ci)) {
                    out.push(Match {
                        id: r.id.clone(),
                        aliases: r.aliases.clone(),
                        summary: r.summary.clone(),
                        severity: severity(r, a),
                        component: ci,
                    });
                }
            }
        }
    }
    out
}

fn same_package(p: &Package, c: &Component) -> bool {
    if let (Some(pp), Some(cp)) = (&p.purl, &c.purl) {
        return super::sbom::purl_base(pp) == super::sbom::purl_base(cp);
    }
    match &c.ecosystem {
        Some(eco) => {
            eco.eq_ignore_ascii_case(p.ecosystem.split(':').next().unwrap_or(""))
                && super::sbom::package_name(eco, &p.name) == c.osv_name
        }
        None => false,
    }
}

/// Whether `version` is affected per `a`'s versions list or ranges.
pub fn affects(a: &Affected, ecosystem: &str, version: &str) -> bool {
    if version.is_empty() {
        return false;
    }
    if a.versions.iter().any(|v| v == version) {
        return true;
    }
    a.ranges.iter().any(|r| in_range(r, ecosystem, version))
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ver {
    Zero,
    Sem(semver::Version),
    Py(pep440_rs::Version),
}

fn parse_ver(kind: &str, ecosystem: &str, v: &str) -> Option<Ver> {
    if v == "0" {
        return Some(Ver::Zero);
    }
    let eco = ecosystem.split(':').next().unwrap_or("");
    match (kind, eco) {
        ("SEMVER", _) | ("ECOSYSTEM", "npm" | "crates.io") => {
            semver::Version::parse(v.strip_prefix('v').unwrap_or(v))
                .ok()
                .map(Ver::Sem)
        }
        ("ECOSYSTEM", "PyPI") => v.parse::<pep440_rs::Version>().ok().map(Ver::Py),
        _ => None,
    }
}

fn in_range(r: &Range, ecosystem: &str, version: &str) -> bool {
    let Some(v) = parse_ver(&r.kind, ecosystem, version) else {
        return false;
    };
    let mut events = Vec::new();
    for e in &r.events {
        let Some(obj) = e.as_object() else { continue };
        for (k, x) in obj {
            let Some(x) = x.as_str() else { continue };
            if let Some(p) = parse_ver(&r.kind, ecosystem, x) {
                events.push((p, k.as_str()));
            } else {
                // A bound that does not parse: the range cannot be judged.
                return false;
            }
        }
    }
    events.sort_by(|a, b| a.0.cmp(&b.0));
    let mut affected = false;
    for (at, kind) in &events {
        match *kind {
            "introduced" if v >= *at => affected = true,
            "fixed" if v >= *at => affected = false,
            "last_affected" if v > *at => affected = false,
            _ => {}
        }
    }
    affected
}

/// The severity of `r` for `a`: the database's own word when there is one
/// (GitHub's `CRITICAL`, `HIGH`, `MODERATE`, `LOW`), else the CVSS v3 base
/// score of the vector, else `unknown`.
pub fn severity(r: &Record, a: &Affected) -> String {
    for ds in [&a.database_specific, &r.database_specific]
        .into_iter()
        .flatten()
    {
        if let Some(s) = ds.get("severity").and_then(Value::as_str) {
            match s.to_ascii_lowercase().as_str() {
                "critical" => return "critical".into(),
                "high" => return "high".into(),
                "moderate" | "medium" => return "medium".into(),
                "low" => return "low".into(),
                _ => {}
            }
        }
    }
    for s in a.severity.iter().chain(&r.severity) {
        if s.kind.starts_with("CVSS_V3")
            && let Some(score) = cvss3(&s.score)
        {
            return from_score(score).into();
        }
    }
    "unknown".into()
}

fn from_score(s: f64) -> &'static str {
    match s {
        x if x >= 9.0 => "critical",
        x if x >= 7.0 => "high",
        x if x >= 4.0 => "medium",
        x if x > 0.0 => "low",
        _ => "none",
    }
}

/// The CVSS 3.0/3.1 base score of a vector
/// (`CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H` is 9.8).
pub fn cvss3(vector: &str) -> Option<f64> {
    let mut parts = vector.split('/');
    if !parts.next()?.starts_with("CVSS:3") {
        return None;
    }
    let mut m = std::collections::HashMap::new();
    for p in parts {
        let (k, v) = p.split_once(':')?;
        m.insert(k, v);
    }
    let changed = match *m.get("S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match *m.get("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match *m.get("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (*m.get("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match *m.get("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |k: &str| -> Option<f64> {
        match *m.get(k)? {
            "H" => Some(0.56),
            "L" => Some(0.22),
            "N" => Some(0.0),
            _ => None,
        }
    };
    let iss = 1.0 - (1.0 - cia("C")?) * (1.0 - cia("I")?) * (1.0 - cia("A")?);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    if impact <= 0.0 {
        return Some(0.0);
    }
    let expl = 8.22 * av * ac * pr * ui;
    let raw = if changed {
        (1.08 * (impact + expl)).min(10.0)
    } else {
        (impact + expl).min(10.0)
    };
    // CVSS 3.1's Roundup.
    let int = (raw * 100_000.0).round() as i64;
    Some(if int % 10_000 == 0 {
        int as f64 / 100_000.0
    } else {
        ((int / 10_000) + 1) as f64 / 10.0
    })
}

/// What `ward osv sync` did.
#[derive(Debug, Default)]
pub struct SyncReport {
    pub written: usize,
    /// (where, why) of each record refused.
    pub rejects: Vec<(String, String)>,
}

/// Reads records from `from` (a directory of `*.json` and `*.zip` files,
/// such as the per-ecosystem `all.zip` layout, or an http(s) URL of a zip
/// or a JSON record) and replaces `into` with the valid ones. When no
/// record is valid, `into` is left as it was.
pub fn sync(from: &str, into: &Path) -> anyhow::Result<SyncReport> {
    let parent = into
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let name = into
        .file_name()
        .context("the OSV directory needs a name")?
        .to_string_lossy()
        .into_owned();
    let staging = parent.join(format!(".{name}.sync-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let mut report = SyncReport::default();
    let res = (|| -> anyhow::Result<()> {
        let mut sink = |what: String, bytes: Result<&[u8], String>| -> anyhow::Result<()> {
            match bytes {
                Ok(b) => accept(&staging, what, b, &mut report),
                Err(e) => {
                    report.rejects.push((what, e));
                    Ok(())
                }
            }
        };
        if from.starts_with("http://") || from.starts_with("https://") {
            let body = download(from)?;
            read_blob(from, &body, &mut sink)?;
        } else {
            read_path(Path::new(from), &mut sink)?;
        }
        Ok(())
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if report.written == 0 {
        let _ = std::fs::remove_dir_all(&staging);
        anyhow::bail!(
            "{from}: no valid OSV record ({} refused); {} is unchanged{}",
            report.rejects.len(),
            into.display(),
            report
                .rejects
                .first()
                .map(|(w, e)| format!("; first: {w}: {e}"))
                .unwrap_or_default()
        );
    }
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if into.exists() {
        std::fs::rename(into, &old)
            .with_context(|| format!("cannot move {} aside", into.display()))?;
    }
    std::fs::rename(&staging, into)
        .with_context(|| format!("cannot put the new records in {}", into.display()))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(report)
}

fn accept(dir: &Path, what: String, bytes: &[u8], report: &mut SyncReport) -> anyhow::Result<()> {
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            report.rejects.push((what, format!("not JSON: {e}")));
            return Ok(());
        }
    };
    match validate(&v) {
        Ok(r) => {
            let path = dir.join(format!("{}.json", r.id));
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            report.written += 1;
        }
        Err(e) => report.rejects.push((what, e)),
    }
    Ok(())
}

type Sink<'a> = dyn FnMut(String, Result<&[u8], String>) -> anyhow::Result<()> + 'a;

fn read_path(p: &Path, sink: &mut Sink<'_>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("cannot read {}", p.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for e in entries {
            // Not following links to directories: a link loop cannot trap the walk.
            let is_dir = std::fs::symlink_metadata(&e).is_ok_and(|m| m.is_dir());
            let ext = e.extension().and_then(|x| x.to_str()).unwrap_or("");
            if is_dir || (ext == "json" || ext == "zip") && e.is_file() {
                read_path(&e, sink)?;
            }
        }
        return Ok(());
    }
    if meta.len() > MAX_ARCHIVE {
        anyhow::bail!("{}: larger than {MAX_ARCHIVE} bytes", p.display());
    }
    let b = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    read_blob(&p.display().to_string(), &b, sink)
}

/// A zip of records, or one record.
fn read_blob(what: &str, b: &[u8], sink: &mut Sink<'_>) -> anyhow::Result<()> {
    if !b.starts_with(b"PK\x03\x04") {
        if b.len() as u64 > MAX_RECORD {
            return sink(what.into(), Err(format!("larger than {MAX_RECORD} bytes")));
        }
        return sink(what.into(), Ok(b));
    }
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(b))
        .with_context(|| format!("{what}: not a readable zip"))?;
    for i in 0..z.len() {
        let mut f = z
            .by_index(i)
            .with_context(|| format!("{what}: entry {i} is damaged"))?;
        let name = format!("{what}:{}", f.name());
        if f.is_dir() || !f.name().ends_with(".json") {
            continue;
        }
        if f.size() > MAX_RECORD {
            sink(name, Err(format!("larger than {MAX_RECORD} bytes")))?;
            continue;
        }
        let mut buf = Vec::with_capacity(f.size() as usize);
        (&mut f)
            .take(MAX_RECORD + 1)
            .read_to_end(&mut buf)
            .with_context(|| format!("{name}: cannot be read"))?;
        if buf.len() as u64 > MAX_RECORD {
            sink(name, Err(format!("larger than {MAX_RECORD} bytes")))?;
        } else {
            sink(name, Ok(&buf))?;
        }
    }
    Ok(())
}

fn download(url: &str) -> anyhow::Result<Vec<u8>> {
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()
        .context("cannot build the HTTP client")?;
    let r = client
        .get(url)
        .send()
        .with_context(|| format!("{url}: cannot fetch"))?;
    if !r.status().is_success() {
        anyhow::bail!("{url}: {}", r.status());
    }
    let mut body = Vec::new();
    r.take(MAX_ARCHIVE + 1)
        .read_to_end(&mut body)
        .with_context(|| format!("{url}: the download broke off"))?;
    if body.len() as u64 > MAX_ARCHIVE {
        anyhow::bail!("{url}: larger than {MAX_ARCHIVE} bytes");
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_scores_match_the_specification() {
        assert_eq!(
            cvss3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Some(9.8)
        );
        assert_eq!(
            cvss3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"),
            Some(10.0)
        );
        assert_eq!(
            cvss3("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"),
            Some(6.1)
        );
        assert_eq!(cvss3("CVSS:3.1/AV:N"), None);
    }

    fn range(kind: &str, eco: &str, events: Value, v: &str) -> bool {
        let r = Range {
            kind: kind.into(),
            events: events.as_array().cloned().unwrap_or_default(),
        };
        in_range(&r, eco, v)
    }

    #[test]
    fn ranges_follow_the_osv_algorithm() {
        let ev = serde_json::json!([{"introduced": "0"}, {"fixed": "2.32.0"}]);
        assert!(range("ECOSYSTEM", "PyPI", ev.clone(), "2.31.0"));
        assert!(range("ECOSYSTEM", "PyPI", ev.clone(), "2.32.0rc1"));
        assert!(!range("ECOSYSTEM", "PyPI", ev.clone(), "2.32.0"));
        assert!(!range("ECOSYSTEM", "PyPI", ev, "2.32.0.post1"));
        let ev = serde_json::json!([{"introduced": "1.2.0"}, {"last_affected": "1.4.1"}]);
        assert!(!range("SEMVER", "npm", ev.clone(), "1.1.9"));
        assert!(range("SEMVER", "npm", ev.clone(), "1.4.1"));
        assert!(!range("SEMVER", "npm", ev.clone(), "1.4.2"));
        assert!(range("ECOSYSTEM", "crates.io", ev.clone(), "1.3.0"));
        // An ecosystem without a comparison here: ranges are not judged.
        assert!(!range("ECOSYSTEM", "Maven", ev, "1.3.0"));
    }

    #[test]
    fn sync_survives_link_loops_and_names_oversized_records() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("a")).unwrap();
        std::os::unix::fs::symlink(&src, src.join("a/loop")).unwrap();
        let ok = serde_json::json!({"id": "X-1", "modified": "2026-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "npm", "name": "x"}, "versions": ["1.0.0"]}]});
        std::fs::write(src.join("a/X-1.json"), ok.to_string()).unwrap();
        let big = format!(
            "{{\"id\": \"X-2\", \"modified\": \"{}\"}}",
            "x".repeat(5 << 20)
        );
        std::fs::write(src.join("X-2.json"), big).unwrap();
        let into = tmp.path().join("osv");
        let r = sync(src.to_str().unwrap(), &into).unwrap();
        assert_eq!(r.written, 1);
        assert_eq!(r.rejects.len(), 1);
        assert!(r.rejects[0].0.ends_with("X-2.json"), "{:?}", r.rejects);
        assert!(r.rejects[0].1.contains("larger than"), "{:?}", r.rejects);
        assert_eq!(load_dir(&into).unwrap().len(), 1);
        // Nothing valid: an error, and the directory stays.
        std::fs::remove_file(src.join("a/X-1.json")).unwrap();
        assert!(sync(src.to_str().unwrap(), &into).is_err());
        assert_eq!(load_dir(&into).unwrap()[0].id, "X-1");
    }
}
