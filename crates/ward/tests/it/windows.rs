//! Windows events as shippers send them, against SigmaHQ's own rules, with
//! no flags and no configuration beyond the rule paths: the SigmaHQ
//! regression events (evtx_dump JSON and the binary `.evtx` files beside
//! them) offline and through a running `ward serve`, and NXLog and
//! Winlogbeat records (`fixtures/windows/`, written after the vendors'
//! documented output) through the server.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Ward;

fn sigma() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/sigma")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/windows")
}

/// The rule folders the regression data covers.
fn rule_dirs() -> Vec<PathBuf> {
    [
        "rules/windows",
        "rules-emerging-threats",
        "rules-threat-hunting",
    ]
    .iter()
    .map(|d| sigma().join(d))
    .collect()
}

/// Every regression file with the given extension: (rule id, path).
fn regression(ext: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![sigma().join("regression_data")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                let id = p.file_stem().unwrap().to_string_lossy().into_owned();
                out.push((id, p));
            }
        }
    }
    out.sort();
    out
}

fn detect(files: &[&PathBuf]) -> (i32, Vec<Value>, String) {
    detect_with(files, &[])
}

fn detect_with(files: &[&PathBuf], extra: &[&str]) -> (i32, Vec<Value>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ward"));
    cmd.args(["detect", "-q", "--format", "ndjson"]);
    cmd.args(extra);
    for d in rule_dirs() {
        cmd.arg("--rules").arg(d);
    }
    cmd.args(files);
    let out = cmd.output().unwrap();
    let findings = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        findings,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_each_fires(ext: &str) {
    let files = regression(ext);
    assert_eq!(files.len(), 202, "SigmaHQ regression {ext} files");
    let (code, findings, stderr) = detect(&files.iter().map(|(_, p)| p).collect::<Vec<_>>());
    assert_eq!(code, 0, "{stderr}");
    let missed: Vec<String> = files
        .iter()
        .filter(|(id, p)| {
            let name = p.display().to_string();
            !findings.iter().any(|f| {
                f["rule.id"] == id.as_str()
                    && f["position"].as_str().is_some_and(|x| x.starts_with(&name))
            })
        })
        .map(|(_, p)| p.display().to_string())
        .collect();
    assert!(
        missed.is_empty(),
        "{} of 202 missed: {missed:#?}",
        missed.len()
    );
    assert!(stderr.contains("rules loaded"), "{stderr}");
    assert!(
        stderr.contains("windows/sysmon/process_creation"),
        "{stderr}"
    );
    assert!(stderr.contains("0 events no rule could see"), "{stderr}");
    let f = &findings[0];
    assert!(
        f["ward.logsource"]
            .as_str()
            .is_some_and(|l| l.starts_with("windows/")),
        "{f}"
    );
    assert!(
        f["ward.pipelines"]
            .as_str()
            .is_some_and(|p| p.starts_with("ward-logsource: windows/")),
        "{f}"
    );
}

#[test]
fn detect_without_flags_finds_every_regression_event_in_json() {
    assert_each_fires("json");
}

/// Events prepared and matched on several threads give the findings of
/// one thread, in the same order, with the built-in pack's correlations
/// and a bad line among them.
#[test]
fn detect_on_several_threads_finds_what_one_thread_finds() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for (_, p) in regression("json") {
        let text = std::fs::read_to_string(p).unwrap();
        let mut stream = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
        while let Some(Ok(v)) = stream.next() {
            lines.push(v.to_string());
        }
    }
    lines.insert(lines.len() / 2, "{\"Event\": truncated".to_owned());
    let corpus = dir.path().join("corpus.ndjson");
    // Three times over: batches, and a correlation counting across them.
    std::fs::write(&corpus, (lines.join("\n") + "\n").repeat(3)).unwrap();
    let one = detect_with(&[&corpus], &["--builtin", "--workers", "1"]);
    for workers in ["2", "3"] {
        let many = detect_with(&[&corpus], &["--builtin", "--workers", workers]);
        assert_eq!(one.0, 2, "the bad line makes the exit code 2: {}", one.2);
        assert!(one.1.len() > 600, "{} findings", one.1.len());
        assert_eq!(one.0, many.0, "exit code with {workers} workers");
        assert_eq!(one.1, many.1, "findings with {workers} workers");
        assert_eq!(one.2, many.2, "summary with {workers} workers");
    }
}

#[test]
fn detect_without_flags_finds_every_regression_event_in_evtx() {
    assert_each_fires("evtx");
}

/// A server loading the regression rule folders (and no built-in pack).
fn server() -> Ward {
    let paths: Vec<String> = rule_dirs()
        .iter()
        .map(|d| format!("{:?}", d.display().to_string()))
        .collect();
    let config = format!(
        "[detect]\nbuiltin_rules = false\nrules = [{}]\n",
        paths.join(", ")
    );
    Ward::start_with(Some(&config), &[])
}

/// Waits until `ward alerts list` names every id in `ids`; returns the ids
/// still missing at the deadline.
fn wait_for_alerts(w: &Ward, ids: &BTreeSet<String>) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = w.cli(
            &["alerts", "list", "--format", "json", "--limit", "10000"],
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let missing: BTreeSet<String> = ids
            .iter()
            .filter(|id| !text.contains(id.as_str()))
            .cloned()
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            return missing;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn live_ingest_raises_each_regression_events_own_rule() {
    let w = server();
    let files = regression("json");
    let mut body = String::new();
    let mut events = 0;
    for (_, p) in &files {
        // A file may hold several events, one after the other.
        let text = std::fs::read_to_string(p).unwrap();
        for v in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
            body.push_str(&v.unwrap().to_string());
            body.push('\n');
            events += 1;
        }
    }
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], events, "{answer}");
    let ids: BTreeSet<String> = files.iter().map(|(id, _)| id.clone()).collect();
    let missing = wait_for_alerts(&w, &ids);
    assert!(missing.is_empty(), "no alert for {missing:?}\n{}", w.log());
}

#[test]
fn nxlog_and_winlogbeat_records_fire_sigmahq_rules_through_the_server() {
    let w = server();
    let cases = [
        (
            "nxlog_sysmon.pos.jsonl",
            "c248c896-e412-4279-8c15-1c558067b6fa",
        ),
        (
            "nxlog_security_4688.pos.jsonl",
            "c248c896-e412-4279-8c15-1c558067b6fa",
        ),
        (
            "winlogbeat8_sysmon.pos.jsonl",
            "c248c896-e412-4279-8c15-1c558067b6fa",
        ),
        (
            "winlogbeat7_security_4720.pos.jsonl",
            "66b6be3d-55d0-4f47-9855-d69df21740ea",
        ),
    ];
    // The negatives first: a benign whoami, a benign 4688, a user deletion.
    let neg = std::fs::read_to_string(fixtures().join("windows.neg.jsonl")).unwrap();
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", neg);
    assert_eq!(status, 200, "{answer}");
    let ids: BTreeSet<String> = ["8de1cbe8-d6f5-496d-8237-5f44a721c7a0".to_owned()].into();
    assert!(
        wait_for_alerts(&w, &ids).is_empty(),
        "the negatives were evaluated"
    );
    let out = w.cli(
        &["alerts", "list", "--format", "json", "--limit", "10000"],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    for (_, id) in &cases {
        assert!(!text.contains(id), "{id} fired on a negative: {text}");
    }
    for (file, _) in &cases {
        let body = std::fs::read_to_string(fixtures().join(file)).unwrap();
        // Winlogbeat ships to Elasticsearch's bulk API; NXLog posts NDJSON.
        let (status, answer) = if file.starts_with("winlogbeat") {
            let bulk: String = body
                .lines()
                .map(|l| format!("{{\"create\":{{\"_index\":\"winlogbeat\"}}}}\n{l}\n"))
                .collect();
            w.post("/_bulk", "application/x-ndjson", bulk)
        } else {
            w.post("/api/v1/ingest", "application/x-ndjson", body)
        };
        assert_eq!(status, 200, "{file}: {answer}");
        assert_ne!(answer["errors"], true, "{file}: {answer}");
    }
    let ids: BTreeSet<String> = cases.iter().map(|(_, id)| (*id).to_owned()).collect();
    let missing = wait_for_alerts(&w, &ids);
    assert!(missing.is_empty(), "no alert for {missing:?}\n{}", w.log());
    let stored = w.wait_for("ward.logsource.product:windows", 7);
    let recognizers: BTreeSet<&str> = stored
        .iter()
        .filter_map(|e| crate::harness::field(e, "ward.recognizer").and_then(Value::as_str))
        .collect();
    assert_eq!(
        recognizers,
        ["windows.flat", "windows.winlogbeat"].into(),
        "{stored:?}"
    );
}

#[test]
fn ward_send_ships_an_evtx_file_that_the_server_detects_on() {
    let w = server();
    let (id, path) = regression("evtx").into_iter().next().unwrap();
    let out = w.cli(&["send", "-q", path.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: BTreeSet<String> = [id].into();
    let missing = wait_for_alerts(&w, &ids);
    assert!(missing.is_empty(), "no alert for {missing:?}\n{}", w.log());
}
