//! Independent cross-check against pySigma + pysigma-backend-sqlite: every
//! SigmaHQ rule is converted to SQL and run over the same flat events in
//! SQLite; both engines' match sets must agree except for the differences
//! listed below, each with its cause.
//!
//! Both sides run without a mapping pipeline and without logsource
//! filtering (the SQL backend has neither), over flat events: the regression
//! events with their `EventData`/`System` keys at the top level, and ECS
//! events with dotted keys.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::{Map, Value};
use ward_sigma::{Engine, RuleSet};

use crate::corpus;

/// (rule id, event index or None for every event, reason).
const ALLOWED: &[(&str, Option<usize>, &str)] = &[];

fn flatten_windows(ev: &Value) -> Value {
    let mut out = Map::new();
    let Some(e) = ev.get("Event") else {
        return ev.clone();
    };
    if let Some(Value::Object(sys)) = e.get("System") {
        for (k, v) in sys {
            if !v.is_object() {
                out.insert(k.clone(), v.clone());
            }
        }
        if let Some(name) = sys
            .get("Provider")
            .and_then(|p| p.get("#attributes"))
            .and_then(|a| a.get("Name"))
        {
            out.insert("Provider_Name".into(), name.clone());
        }
    }
    for section in ["EventData", "UserData"] {
        if let Some(Value::Object(data)) = e.get(section) {
            for (k, v) in data {
                match v {
                    Value::Object(inner) if section == "UserData" => {
                        for (ik, iv) in inner {
                            if !iv.is_object() {
                                out.insert(ik.clone(), iv.clone());
                            }
                        }
                    }
                    _ => {
                        out.insert(k.replace(' ', ""), v.clone());
                    }
                }
            }
        }
    }
    Value::Object(out)
}

fn flatten_dotted(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_dotted(&key, x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn flat_corpus() -> Vec<Value> {
    let mut events: Vec<Value> = corpus::regression_cases()
        .iter()
        .flat_map(|c| c.events.iter().map(flatten_windows))
        .collect();
    for e in corpus::ecs_events() {
        let mut m = Map::new();
        flatten_dotted("", &e, &mut m);
        events.push(Value::Object(m));
    }
    events
}

#[test]
fn pysigma_sqlite_agrees() {
    let events = flat_corpus();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    std::fs::write(
        &path,
        events.iter().map(|e| format!("{e}\n")).collect::<String>(),
    )
    .unwrap();
    let script = corpus::crate_dir().join("tests/crosscheck/pysigma_sqlite.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(&path)
        .args(corpus::rule_dirs())
        .output()
        .expect("python3 is needed: install it and `pip install -r scripts/requirements.txt`");
    assert!(
        output.status.success(),
        "pySigma cross-check failed to run (install: pip install -r scripts/requirements.txt):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut theirs: BTreeMap<String, Value> = serde_json::from_slice(&output.stdout).unwrap();
    let unsupported = theirs
        .remove("_unsupported")
        .and_then(|u| u.as_object().cloned())
        .unwrap_or_default();

    let (set, _) = RuleSet::load_paths(&corpus::rule_dirs(), &[]);
    let engine = Engine::new(&set);
    let mut ours: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        for m in engine.matches(e) {
            ours.entry(m.rule_id).or_default().insert(i);
        }
    }
    let mut diffs = Vec::new();
    let mut compared = 0;
    for (rule, hits) in &theirs {
        compared += 1;
        let theirs_set: BTreeSet<usize> = hits
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_u64().map(|x| x as usize))
            .collect();
        let ours_set = ours.get(rule).cloned().unwrap_or_default();
        for i in theirs_set.symmetric_difference(&ours_set) {
            let allowed = ALLOWED
                .iter()
                .any(|(r, e, _)| r == rule && e.is_none_or(|e| e == *i));
            if !allowed {
                let side = if ours_set.contains(i) {
                    "only ward"
                } else {
                    "only pySigma"
                };
                diffs.push(format!("{rule} event {i}: {side}"));
            }
        }
    }
    let matched: usize = ours.values().map(BTreeSet::len).sum();
    println!(
        "pySigma cross-check: {compared} rules compared, {} not convertible by the backend, {matched} ward matches, {} differences",
        unsupported.len(),
        diffs.len()
    );
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for r in unsupported.values() {
        *reasons
            .entry(r.as_str().unwrap_or_default().chars().take(70).collect())
            .or_default() += 1;
    }
    for (r, n) in &reasons {
        println!("  unsupported x{n}: {r}");
    }
    assert!(compared > 3_000, "too few rules compared: {compared}");
    assert!(
        diffs.is_empty(),
        "differences with pySigma:\n{}",
        diffs.join("\n")
    );
}
