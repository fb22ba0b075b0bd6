//! The built-in rule pack (`rules/`) and the rule commands.
//!
//! Every rule file `rules/<area>/<name>.yml` has raw shipper events beside
//! it: `<name>.pos.jsonl` must make the file's rule fire and
//! `<name>.neg.jsonl` must not. A file's rule is its last document (the
//! documents before it are building blocks), or every Ward metric rule of a
//! metric file. Events go through what live ingest does (ECS
//! normalization, redaction, prompt-injection scoring: `ward detect`'s
//! `Prepare`), so `ward.leak.*` and `ai.prompt.injection.*` are computed,
//! not written into the files. Only the behavioural-baseline fields
//! (`ward.baseline.*`), which need weeks of history, are carried by the
//! events that use them. Detection rules must fire on every positive event;
//! correlations and metric rules on the sequence.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use ward::cli::detect::{Hunt, Prepare, read_all};
use ward::detect::rules::{Loaded, load};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rules_dir() -> PathBuf {
    root().join("rules")
}

/// Rule files of the pack (the baseline area is tested by its own owner's
/// events too, but loads here as part of the pack).
fn rule_files(dir: &Path) -> Vec<PathBuf> {
    crate::harness::files_under(dir, ".yml", Some("tests"))
}

fn pack() -> Loaded {
    load(false, &[rules_dir()], &[])
}

/// Every finding (rule id, level, position) over a sequence, fresh state.
fn run(events: &Path) -> Vec<(String, String, String)> {
    let loaded = pack();
    let mut hunt = Hunt::new(loaded);
    // Stateless across files (its hashing key aside): built once.
    static PREPARE: std::sync::OnceLock<Prepare> = std::sync::OnceLock::new();
    let prepare = PREPARE.get_or_init(|| Prepare::new(None).unwrap());
    let (raws, errors) = read_all(events);
    assert!(errors.is_empty(), "{}: {errors:?}", events.display());
    assert!(!raws.is_empty(), "{} has no events", events.display());
    let mut out = Vec::new();
    for raw in raws {
        let position = raw.position.clone();
        let mut event = prepare.event(raw).unwrap();
        for h in hunt.feed(&mut event, &position) {
            out.push((h.rule_id, h.level, h.position));
        }
    }
    out
}

/// The rules a file is about and whether they judge sequences.
fn primary(loaded: &Loaded, file: &Path) -> (Vec<String>, bool) {
    let mine = |origin: &str| Path::new(origin) == file;
    if let Some(last) = loaded
        .set
        .rules()
        .filter(|m| mine(&m.origin))
        .max_by_key(|m| m.line)
    {
        return (
            vec![last.key()],
            last.kind == ward_sigma::RuleKind::Correlation,
        );
    }
    let metric: Vec<String> = loaded
        .metric
        .defs()
        .filter(|d| mine(&d.origin))
        .map(|d| d.id.clone())
        .collect();
    (metric, true)
}

#[test]
fn pack_loads_without_errors_and_every_rule_is_complete() {
    let loaded = pack();
    let errors: Vec<String> = loaded
        .errors
        .iter()
        .map(ToString::to_string)
        .chain(loaded.metric_errors.clone())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(
        loaded.set.len() >= 30,
        "only {} Sigma documents",
        loaded.set.len()
    );
    assert!(loaded.metric.len() >= 2);
    let hunt = Hunt::new(loaded);
    let mut ids = BTreeSet::new();
    // rules/baseline/ has its own owner and tests; it must load, though.
    let theirs = |origin: &str| Path::new(origin).starts_with(rules_dir().join("baseline"));
    for m in hunt.loaded().set.rules().filter(|m| !theirs(&m.origin)) {
        let id = m.id.clone().unwrap_or_default();
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "{}:{}: id is not a UUID",
            m.origin,
            m.line
        );
        assert!(ids.insert(id), "{}: duplicate id", m.origin);
        assert!(
            m.description.is_some() && m.level.is_some() && m.status.is_some(),
            "{}:{}",
            m.origin,
            m.line
        );
        // Detection building blocks never alert; a correlation that feeds
        // another one still does, so it needs everything below.
        if m.kind == ward_sigma::RuleKind::Detection && hunt.is_building_block(&m.key()) {
            assert_eq!(
                m.level.as_deref(),
                Some("informational"),
                "{}: building blocks never alert",
                m.origin
            );
            continue;
        }
        assert!(
            m.custom
                .get("runbook")
                .and_then(Value::as_str)
                .is_some_and(|r| r.contains("1.")),
            "{}:{}: runbook with steps",
            m.origin,
            m.line
        );
        assert!(
            !m.falsepositives.is_empty(),
            "{}:{}: falsepositives",
            m.origin,
            m.line
        );
    }
    for d in hunt.loaded().metric.defs() {
        assert!(
            uuid::Uuid::parse_str(&d.id).is_ok() && ids.insert(d.id.clone()),
            "{}",
            d.origin
        );
        assert!(d.runbook.is_some(), "{}", d.origin);
    }
}

#[test]
fn every_rule_fires_on_its_positive_events_and_not_on_its_negatives() {
    let files = rule_files(&rules_dir());
    let loaded = pack();
    let mut checked = 0;
    for file in files
        .iter()
        .filter(|f| !f.starts_with(rules_dir().join("baseline")))
    {
        let (primary, sequence) = primary(&loaded, file);
        assert!(
            !primary.is_empty(),
            "{}: no rule loaded from it",
            file.display()
        );
        let pos = file.with_extension("pos.jsonl");
        let neg = file.with_extension("neg.jsonl");
        assert!(
            pos.exists() && neg.exists(),
            "{}: needs .pos.jsonl and .neg.jsonl events",
            file.display()
        );
        let fired = run(&pos);
        let hits: BTreeSet<&str> = fired
            .iter()
            .filter(|(r, _, _)| primary.contains(r))
            .map(|(_, _, p)| p.as_str())
            .collect();
        if sequence {
            assert!(
                !hits.is_empty(),
                "{}: the sequence did not fire; fired {fired:?}",
                pos.display()
            );
        } else {
            let (raws, _) = read_all(&pos);
            for raw in raws {
                assert!(
                    hits.contains(raw.position.as_str()),
                    "{}: did not fire; fired {fired:?}",
                    raw.position
                );
            }
        }
        let wrong: Vec<_> = run(&neg)
            .into_iter()
            .filter(|(r, _, _)| primary.contains(r))
            .collect();
        assert!(
            wrong.is_empty(),
            "{}: fired on negatives {wrong:?}",
            neg.display()
        );
        checked += 1;
    }
    assert!(checked >= 30, "{checked} rule files checked");
}

#[test]
fn a_benign_working_day_raises_no_high_or_critical_finding() {
    let fired = run(&rules_dir().join("tests/benign.jsonl"));
    let loud: Vec<_> = fired
        .iter()
        .filter(|(_, level, _)| level == "high" || level == "critical")
        .collect();
    assert!(loud.is_empty(), "{loud:#?}");
    assert!(fired.len() <= 5, "too noisy on everyday events: {fired:#?}");
}

fn ward(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rules_check_accepts_the_pack_and_reports_bad_rules_by_line() {
    let dir = rules_dir();
    let (code, stdout, stderr) = ward(&["rules", "check", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains(" 0 errors"), "{stderr}");
    assert!(!stdout.contains("error:"), "{stdout}");

    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("bad.yml"),
        "title: Bad\nid: b\nstatus: stable\ndescription: d\nlogsource:\n  product: ward\ndetection:\n  sel:\n    a: 1\n  condition: sel\nlevel: loud\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("metric.yml"),
        "ward_rule: flatline\nid: m\ntitle: t\nlevel: low\ntimespan: 5x\ngroup-by: [host.name]\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("thin.yml"),
        "title: Thin\nid: t\nstatus: test\ndescription: d\nlogsource:\n  product: ward\ndetection:\n  sel:\n    a: 1\n  condition: sel\nlevel: high\n",
    )
    .unwrap();
    let (code, stdout, _) = ward(&["rules", "check", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("bad.yml:11: error: unknown level `loud`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("metric.yml:5: error: `timespan`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("thin.yml:1: warning: no `runbook`"),
        "{stdout}"
    );
}

#[test]
fn rules_test_shows_the_rule_and_the_fields_that_matched() {
    let rules = rules_dir();
    let events = rules.join("ai/secret_in_prompt.pos.jsonl");
    let (code, stdout, stderr) = ward(&[
        "rules",
        "test",
        rules.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "secret_in_prompt.pos.jsonl:1: detection [high] Secret or credential sent to an AI tool"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("ward.leak.fields = \"ai.prompt.text\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains("AKIA"),
        "the key was redacted before matching: {stdout}"
    );
    assert!(stderr.contains("2 of 2 events matched"), "{stderr}");
}

#[test]
fn detect_hunts_over_sigmahq_regression_events() {
    // Each regression folder holds `<rule id>.json` (evtx_dump output) on
    // which that SigmaHQ rule must fire.
    let data = root().join("../shared/data/sigma");
    let rules = data.join("rules/windows/process_creation");
    let base = data.join("regression_data/rules/windows/process_creation");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("{}: {e}", base.display()))
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files.truncate(25);
    assert!(files.len() >= 10, "{} regression files", files.len());
    let mut args = vec![
        "detect",
        "-q",
        "--format",
        "ndjson",
        "--rules",
        rules.to_str().unwrap(),
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let (code, stdout, stderr) = ward(&args);
    assert_eq!(code, 0, "{stderr}");
    let findings: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for f in &findings {
        for key in [
            "rule.id",
            "rule.title",
            "rule.level",
            "position",
            "event.id",
        ] {
            assert!(
                f[key].as_str().is_some_and(|v| !v.is_empty()),
                "{key} in {f}"
            );
        }
    }
    for file in &files {
        let id = file.file_stem().unwrap().to_str().unwrap();
        let name = file.display().to_string();
        assert!(
            findings.iter().any(|f| f["rule.id"] == id
                && f["position"].as_str().is_some_and(|p| p.starts_with(&name))),
            "rule {id} did not fire on {name}"
        );
    }
    assert!(
        stderr.contains(&format!("events in {} files", files.len())),
        "{stderr}"
    );
}

#[test]
fn detect_summarises_the_pack_over_ward_events() {
    let rules = rules_dir();
    let events = rules.join("authentication/brute_force.pos.jsonl");
    let (code, stdout, stderr) = ward(&[
        "detect",
        "-q",
        "--rules",
        rules.to_str().unwrap(),
        events.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.contains("Brute force against one account"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.starts_with("medium"), "{row}");
    assert!(stdout.contains("over 25 events in 1 files"), "{stdout}");
    assert!(
        !stdout.contains("Failed login"),
        "building blocks do not alert: {stdout}"
    );
}
