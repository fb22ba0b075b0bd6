//! Shared access to the SigmaHQ data and the pipelines.

use std::path::{Path, PathBuf};

use ward_sigma::Pipeline;

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sigma_dir() -> PathBuf {
    crate_dir().join("../../../shared/data/sigma")
}

pub fn spec_dir() -> PathBuf {
    crate_dir().join("../../../shared/data/sigma-specification")
}

pub fn pipelines() -> Vec<Pipeline> {
    let dir = crate_dir().join("../../pipelines");
    ["windows-raw.yml", "ward-ecs.yml"].iter().map(|f| Pipeline::load(&dir.join(f)).unwrap()).collect()
}

/// Every SigmaHQ rule directory (`rules`, `rules-*`).
pub fn rule_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(sigma_dir())
        .expect("SigmaHQ data at ../shared/data/sigma")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("rules")))
        .collect();
    dirs.sort();
    dirs
}

/// A regression case: the rule id and the events of its JSON file.
pub struct RegressionCase {
    pub rule_id: String,
    pub file: PathBuf,
    pub events: Vec<serde_json::Value>,
}

fn find_info(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            find_info(&p, out);
        } else if p.file_name().is_some_and(|n| n == "info.yml") {
            out.push(p);
        }
    }
}

pub fn regression_cases() -> Vec<RegressionCase> {
    let mut infos = Vec::new();
    find_info(&sigma_dir().join("regression_data"), &mut infos);
    infos.sort();
    let mut cases = Vec::new();
    for info in infos {
        let text = std::fs::read_to_string(&info).unwrap();
        let rule_id = text
            .lines()
            .skip_while(|l| !l.starts_with("rule_metadata"))
            .find_map(|l| l.trim().strip_prefix("- id:").map(|s| s.trim().to_string()))
            .unwrap();
        let dir = info.parent().unwrap();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                let body = std::fs::read_to_string(&p).unwrap();
                let events: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&body).into_iter().map(Result::unwrap).collect();
                cases.push(RegressionCase { rule_id: rule_id.clone(), file: p, events });
            }
        }
    }
    cases
}
