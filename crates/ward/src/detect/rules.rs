//! Rule sets: the built-in pack and pipelines embedded in the binary, plus
//! configured paths; a bad rule is reported with file, line and reason
//! while every good rule runs. Configured paths are watched (by mtime) and
//! reloaded on change.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ward_sigma::{Engine, Pipeline, RuleError, RuleSet};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

pub use builtin::{BUILTIN_PIPELINES, BUILTIN_RULES};

/// A compiled rule set and what loading it reported.
pub struct Loaded {
    pub set: RuleSet,
    pub engine: Engine,
    pub errors: Vec<RuleError>,
    /// Ward rule kinds (flatline…), loaded from the same files.
    pub metric: super::metric::MetricRules,
    pub metric_errors: Vec<String>,
    /// Rules that only feed correlations (Sigma's `generate: false`): their
    /// single matches are not findings of their own.
    pub building_blocks: std::collections::HashSet<String>,
    /// SHA-256 (hex, 128 bits) of every rule document and pipeline loaded,
    /// as written: two nodes with the same digest match alike.
    pub source_digest: String,
}

/// The mapping pipelines: built-in plus configured files. A configured
/// pipeline with the `name` of a built-in one replaces it; otherwise the
/// engine orders them by `priority`, configured before built-in
/// (`docs/pipelines.md`).
pub fn pipelines(extra: &[PathBuf]) -> (Vec<Pipeline>, Vec<String>) {
    let mut out: Vec<Pipeline> = Vec::new();
    let mut errors = Vec::new();
    for (origin, text) in BUILTIN_PIPELINES {
        match Pipeline::from_yaml_str(text, origin) {
            Ok(mut p) => {
                p.builtin = true;
                out.push(p);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    for p in extra {
        match Pipeline::load(p) {
            Ok(p) => {
                out.retain(|b| !(b.builtin && b.name == p.name));
                out.push(p);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    (out, errors)
}

/// Reads every rule document: built-in (if wanted) and configured paths.
pub fn sources(builtin: bool, paths: &[PathBuf]) -> (Vec<(String, String)>, Vec<String>) {
    let mut docs: Vec<(String, String)> = Vec::new();
    if builtin {
        docs.extend(
            BUILTIN_RULES
                .iter()
                .map(|(o, t)| ((*o).to_owned(), (*t).to_owned())),
        );
    }
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files);
    }
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(t) => docs.push((f.display().to_string(), t)),
            Err(e) => errors.push(format!("{}: cannot read: {e}", f.display())),
        }
    }
    (docs, errors)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let Ok(rd) = std::fs::read_dir(path) else {
            return;
        };
        let mut children: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        children.sort();
        for c in children {
            collect(&c, out);
        }
    } else {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
        if yaml && !name.contains(".test.") {
            out.push(path.to_path_buf());
        }
    }
}

/// Loads and compiles everything.
pub fn load(builtin: bool, paths: &[PathBuf], pipeline_paths: &[PathBuf]) -> Loaded {
    let (pipelines, pipeline_errors) = pipelines(pipeline_paths);
    let (docs, read_errors) = sources(builtin, paths);
    let source_digest = {
        use sha2::{Digest as _, Sha256};
        let mut h = Sha256::new();
        let configured = pipeline_paths.iter().map(|p| {
            (
                p.display().to_string(),
                std::fs::read(p).unwrap_or_default(),
            )
        });
        let builtin = BUILTIN_PIPELINES
            .iter()
            .map(|(o, t)| ((*o).to_owned(), t.as_bytes().to_vec()));
        for (origin, text) in builtin.chain(configured) {
            h.update(origin.as_bytes());
            h.update(b"\x1f");
            h.update(&text);
            h.update(b"\x1e");
        }
        for (origin, text) in &docs {
            h.update(origin.as_bytes());
            h.update(b"\x1f");
            h.update(text.as_bytes());
            h.update(b"\x1e");
        }
        hex::encode(&h.finalize()[..16])
    };
    let (sigma_docs, metric_docs): (Vec<_>, Vec<_>) = docs
        .into_iter()
        .partition(|(_, text)| !super::metric::is_metric_rule(text));
    let (set, mut errors) = RuleSet::load_sources(&sigma_docs, &pipelines);
    for e in pipeline_errors.into_iter().chain(read_errors) {
        errors.push(RuleError::new("pipelines", 0, e));
    }
    let engine = Engine::new(&set);
    let (metric, metric_errors) = super::metric::MetricRules::load(&metric_docs);
    let building_blocks = building_blocks(&set);
    Loaded {
        source_digest,
        building_blocks,
        set,
        engine,
        errors,
        metric,
        metric_errors,
    }
}

/// The newest modification time under the configured paths, to notice
/// changes without a file-watching dependency.
pub fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>)> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files);
    }
    files
        .into_iter()
        .map(|f| {
            let m = std::fs::metadata(&f).and_then(|m| m.modified()).ok();
            (f, m)
        })
        .collect()
}

fn building_blocks(set: &RuleSet) -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    for i in 0..set.len() {
        let Some(rule) = set.rule(i) else { continue };
        let ward_sigma::RuleBody::Correlation(def) = &rule.body else {
            continue;
        };
        if def.generate {
            continue;
        }
        for name in &def.rules {
            for m in set.rules() {
                if m.id.as_deref() == Some(name) || m.name.as_deref() == Some(name) {
                    out.insert(m.key());
                }
            }
        }
    }
    out
}
