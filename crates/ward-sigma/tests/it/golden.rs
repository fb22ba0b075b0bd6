//! Golden cases: `tests/golden/<case>/{rule.yml, events.jsonl, expected.jsonl}`.
//!
//! Rules load without pipelines (field names as written, no logsource
//! filter). Each event's time is its `@timestamp` (RFC 3339) and its id is
//! `e<line>` (from 0). Expected lines, in order:
//! `{"event": i, "rule": "<id>"}` for a detection match and
//! `{"event": i, "correlation": "<id>", "group": {..}, "value": n, "evidence": [..]}`
//! for a correlation finding.

use std::path::Path;

use serde_json::{Value, json};
use ward_sigma::{Correlator, Engine, RuleSet};

use crate::corpus;

fn run_case(dir: &Path) -> Result<(), String> {
    let rule = std::fs::read_to_string(dir.join("rule.yml")).map_err(|e| e.to_string())?;
    let set = RuleSet::from_yaml_str(&rule, "rule.yml", &[]).map_err(|e| format!("{e:?}"))?;
    let engine = Engine::new(&set);
    let mut correlator = Correlator::new(&set, &engine);
    let events = std::fs::read_to_string(dir.join("events.jsonl")).map_err(|e| e.to_string())?;
    let mut actual = Vec::new();
    for (i, line) in events
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let ev: Value =
            serde_json::from_str(line).map_err(|e| format!("events.jsonl:{}: {e}", i + 1))?;
        let t = ev
            .get("@timestamp")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map_or(0, |t| t.as_millisecond());
        let matches = engine.matches(&ev);
        for m in &matches {
            actual.push(json!({"event": i, "rule": m.rule_id}));
        }
        for f in correlator.observe(t, &format!("e{i}"), &ev, &matches) {
            actual.push(json!({"event": i, "correlation": f.rule_id, "group": f.group, "value": f.value, "evidence": f.evidence}));
        }
    }
    let expected_text =
        std::fs::read_to_string(dir.join("expected.jsonl")).map_err(|e| e.to_string())?;
    let expected: Vec<Value> = expected_text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("expected.jsonl: {e}")))
        .collect::<Result<_, _>>()?;
    if actual != expected {
        let render = |v: &[Value]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        return Err(format!(
            "expected:\n{}\nactual:\n{}",
            render(&expected),
            render(&actual)
        ));
    }
    Ok(())
}

#[test]
fn golden_cases() {
    let root = corpus::crate_dir().join("tests/golden");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 30, "golden cases missing");
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|d| {
            run_case(d).err().map(|e| {
                format!(
                    "{}: {e}",
                    d.file_name().unwrap_or_default().to_string_lossy()
                )
            })
        })
        .collect();
    println!(
        "golden cases: {} run, {} failed",
        dirs.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
