//! Scan results in, a deploy gate out, against a real `ward serve`: SARIF
//! logs written like semgrep's and CodeQL's imported through the CLI and
//! the API, findings keeping their identity when lines move, fixed ones
//! reported, bad logs refused whole; the gate denying on an open high alert
//! raised by a built-in rule, on a new error-level finding and without a
//! sign-off, allowing after resolution and sign-off, never counting
//! another tenant's data; every decision a searchable event.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{TOKEN, Ward, create_key};

const GLOBEX: &str = "globex-ingest-token-0123456789";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/it/fixtures/sarif/{name}"))
}

fn read(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

fn import(w: &Ward, token: &str, query: &str, body: &Value) -> (u16, Value) {
    import_raw(w, token, query, body.to_string().into_bytes())
}

fn import_raw(w: &Ward, token: &str, query: &str, body: Vec<u8>) -> (u16, Value) {
    w.post_as(
        token,
        &format!("/api/v1/import/sarif?{query}"),
        "application/sarif+json",
        body,
    )
}

/// Moves every result's lines down by `by`.
fn shift(mut log: Value, by: u64) -> Value {
    for run in log["runs"].as_array_mut().unwrap() {
        for r in run["results"].as_array_mut().unwrap() {
            let region = &mut r["locations"][0]["physicalLocation"]["region"];
            let line = region["startLine"].as_u64().unwrap();
            region["startLine"] = json!(line + by);
            if region.get("endLine").is_some() {
                region["endLine"] = json!(line + by);
            }
        }
    }
    log
}

fn count(w: &Ward, q: &str) -> usize {
    w.search(q).len()
}

#[test]
fn sarif_findings_keep_identity_and_bad_logs_are_refused_whole() {
    let w = Ward::start();
    // The CLI, semgrep-like log: three findings, all new.
    let out = w.cli(
        &[
            "import",
            "sarif",
            fixture("semgrep.sarif").to_str().unwrap(),
            "--service",
            "shop",
            "--commit",
            "c1",
            "--repository",
            "acme/shop",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("3 results: 3 new, 0 unchanged, 0 fixed"),
        "{said}"
    );

    // Lines shifted, MD5 finding removed: two unchanged, one fixed.
    let mut next = shift(read("semgrep.sarif"), 7);
    next["runs"][0]["results"].as_array_mut().unwrap().remove(2);
    let q = "service=shop&commit=c2&repository=acme%2Fshop";
    let (s, a) = import(&w, TOKEN, q, &next);
    assert_eq!(s, 200, "{a}");
    assert_eq!(
        (a["new"].clone(), a["unchanged"].clone(), a["fixed"].clone()),
        (json!(0), json!(2), json!(1)),
        "{a}"
    );
    assert_eq!(a["compared_with"], "c1");
    let fixed = w.wait_for("ward.scan.state:fixed", 1);
    assert_eq!(fixed.len(), 1);
    assert_eq!(
        crate::harness::s(&fixed[0], "rule.id"),
        "python.lang.security.insecure-hash-algorithms.insecure-hash-algorithm-md5"
    );
    let all = w.wait_for("event.dataset:sarif.finding", 6);
    assert_eq!(all.len(), 6);
    let eval = w.search("ward.scan.state:unchanged AND file.path:\"app/views.py\"");
    assert_eq!(eval.len(), 1, "{eval:?}");
    assert_eq!(
        crate::harness::field(&eval[0], "ward.scan.line"),
        Some(&json!(21))
    );
    assert_eq!(crate::harness::s(&eval[0], "service.name"), "shop");
    assert_eq!(crate::harness::s(&eval[0], "repository.name"), "acme/shop");
    assert_eq!(crate::harness::s(&eval[0], "tenant.id"), "default");

    // Bad logs: a clear 400 naming what and where, nothing stored.
    let mut old = read("semgrep.sarif");
    old["version"] = json!("2.0.0");
    let (s, a) = import(&w, TOKEN, q, &old);
    assert_eq!(s, 400, "{a}");
    assert!(a["error"].as_str().unwrap().contains("version"), "{a}");
    let mut bad_level = read("semgrep.sarif");
    bad_level["runs"][0]["results"][1]["level"] = json!("fatal");
    let (s, a) = import(&w, TOKEN, q, &bad_level);
    assert_eq!(s, 400, "{a}");
    assert!(
        a["error"]
            .as_str()
            .unwrap()
            .contains("runs[0].results[1].level"),
        "{a}"
    );
    let one = read("semgrep.sarif")["runs"][0]["results"][0].clone();
    let mut huge = read("semgrep.sarif");
    huge["runs"][0]["results"] = Value::Array(vec![one; 25_001]);
    let (s, a) = import(&w, TOKEN, q, &huge);
    assert_eq!(s, 400, "{a}");
    let e = a["error"].as_str().unwrap();
    assert!(e.contains("runs[0].results") && e.contains("25000"), "{a}");
    let text = read("semgrep.sarif").to_string();
    let (s, a) = import_raw(&w, TOKEN, q, text.as_bytes()[..text.len() / 2].to_vec());
    assert_eq!(s, 400, "{a}");
    assert!(a["error"].as_str().unwrap().contains("SARIF"), "{a}");
    let (s, a) = import(&w, TOKEN, "service=shop&commit=c%0A2", &next);
    assert_eq!(s, 400, "{a}");
    assert!(a["error"].as_str().unwrap().starts_with("commit"), "{a}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&w, "event.dataset:sarif.finding"), 6);
    // The state did not move either: the same import compares the same.
    let (s, a) = import(&w, TOKEN, q, &next);
    assert_eq!(s, 200, "{a}");
    assert_eq!(
        (a["new"].clone(), a["unchanged"].clone()),
        (json!(0), json!(2)),
        "{a}"
    );
}

/// `ward gate check --format json` with `args`: the exit status and the
/// answer (or what it printed on stderr).
pub(crate) fn gate(w: &Ward, key: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["gate", "check", "--format", "json"];
    all.extend_from_slice(args);
    let out = std::process::Command::new(crate::harness::ward_bin())
        .args(&all)
        .env("WARD_URL", w.url())
        .env("WARD_TOKEN", key)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&out.stderr).into_owned()));
    (code, v)
}

/// Waits until a key made while the server runs is accepted.
/// `ward signoff` with `key`, which must succeed.
pub(crate) fn signoff(w: &Ward, key: &str, service: &str, commit: &str, reason: &str) {
    crate::harness::succeed(
        std::process::Command::new(crate::harness::ward_bin())
            .args([
                "signoff",
                "--service",
                service,
                "--commit",
                commit,
                "--reason",
                reason,
            ])
            .env("WARD_URL", w.url())
            .env("WARD_TOKEN", key),
    );
}

pub(crate) fn wait_key(w: &Ward, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = Ward::client()
            .get(format!("{}/api/v1/me", w.url()))
            .bearer_auth(key)
            .send()
            .unwrap();
        if r.status().as_u16() == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "the new key is not accepted");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The reason codes of a decision.
pub(crate) fn codes(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

fn firing(w: &Ward, service: &str) -> Vec<Value> {
    let r = Ward::client()
        .get(format!("{}/api/v1/alerts?status=firing", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["service"] == service)
        .cloned()
        .collect()
}

#[test]
fn gate_denies_on_high_alerts_new_errors_and_missing_signoff() {
    let cfg =
        format!("[[sources]]\nname = \"globex-app\"\ntenant = \"globex\"\ntoken = \"{GLOBEX}\"\n");
    let w = Ward::start_with(Some(&cfg), &[]);
    let engineer = create_key(&w.data_dir(), "sec-eng", "engineer", "default");
    let viewer = create_key(&w.data_dir(), "ci-viewer", "viewer", "default");
    for k in [&engineer, &viewer] {
        wait_key(&w, k);
    }
    let codeql = read("codeql.sarif");

    // First scan of the service: its error-level finding is new in a1.
    let (s, a) = import(&w, TOKEN, "service=api&commit=a1", &codeql);
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["new"], 2, "{a}");
    let (code, v) = gate(&w, &viewer, &["--service", "api", "--commit", "a1"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(codes(&v), vec!["new_error_finding"], "{v}");
    assert!(
        v["reasons"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("js/sql-injection"),
        "{v}"
    );

    // a2 moves lines only: nothing new, allowed.
    let (s, a) = import(
        &w,
        TOKEN,
        "service=api&commit=a2",
        &shift(codeql.clone(), 3),
    );
    assert_eq!(s, 200, "{a}");
    assert_eq!(
        (a["new"].clone(), a["unchanged"].clone()),
        (json!(0), json!(2)),
        "{a}"
    );
    let (code, v) = gate(&w, &viewer, &["--service", "api", "--commit", "a2"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["decision"], "pass");

    // Another tenant's open alert and new findings for a service of the
    // same name never count.
    let ev = json!({"event.action": "audit_logging_disable", "event.category": "configuration",
        "service.name": "api", "user.name": "mallory", "host.name": "build-1"});
    let r = Ward::client()
        .post(format!("{}/api/v1/ingest", w.url()))
        .bearer_auth(GLOBEX)
        .body(format!("{ev}\n"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, _) = import(&w, GLOBEX, "service=api&commit=a2", &codeql);
    assert_eq!(s, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while firing(&w, "api").is_empty() {
        assert!(
            Instant::now() < deadline,
            "no alert: {:?} {}",
            w.search("service.name:api AND event.action:audit_logging_disable"),
            Ward::client()
                .get(format!("{}/api/v1/alerts", w.url()))
                .bearer_auth(&w.admin)
                .send()
                .unwrap()
                .text()
                .unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, v) = gate(&w, &viewer, &["--service", "api", "--commit", "a2"]);
    assert_eq!(code, 0, "{v}");

    // Our own high alert denies.
    let (s, _) = w.post("/api/v1/ingest", "application/x-ndjson", format!("{ev}\n"));
    assert_eq!(s, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    let ours = loop {
        let ours: Vec<Value> = firing(&w, "api")
            .into_iter()
            .filter(|a| a["labels"]["tenant"] == "default")
            .collect();
        if !ours.is_empty() {
            break ours;
        }
        assert!(
            Instant::now() < deadline,
            "no alert: {:#?} {:?}",
            firing(&w, "api"),
            w.search("event.action:audit_logging_disable")
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let (code, v) = gate(&w, &viewer, &["--service", "api", "--commit", "a2"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(codes(&v), vec!["open_alert"], "{v}");
    assert_eq!(v["reasons"][0]["evidence"], ours[0]["id"], "{v}");
    // The caller cannot loosen the policy (high): asking for critical
    // still fails.
    let (code, v) = gate(
        &w,
        &viewer,
        &[
            "--service",
            "api",
            "--commit",
            "a2",
            "--max-severity",
            "critical",
        ],
    );
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["max_severity"], "high", "{v}");
    for a in &ours {
        let r = Ward::client()
            .post(format!(
                "{}/api/v1/alerts/{}/resolve",
                w.url(),
                a["id"].as_str().unwrap()
            ))
            .bearer_auth(&engineer)
            .json(&json!({"resolution": "true_positive", "comment": "logging restored"}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
    }
    let (code, v) = gate(&w, &viewer, &["--service", "api", "--commit", "a2"]);
    assert_eq!(code, 0, "{v}");

    // A required sign-off: missing denies; an ingest token cannot give
    // it, a viewer may not; an engineer's allows.
    let (code, v) = gate(
        &w,
        &viewer,
        &["--service", "api", "--commit", "a2", "--require-signoff"],
    );
    assert_eq!(code, 1, "{v}");
    assert_eq!(codes(&v), vec!["no_signoff"]);
    for key in [TOKEN, viewer.as_str()] {
        let r = Ward::client()
            .post(format!("{}/api/v1/gate/signoff", w.url()))
            .bearer_auth(key)
            .json(&json!({"service": "api", "commit": "a2", "reason": "reviewed"}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
    }
    signoff(&w, &engineer, "api", "a2", "prompt templates reviewed");
    let (code, v) = gate(
        &w,
        &viewer,
        &["--service", "api", "--commit", "a2", "--require-signoff"],
    );
    assert_eq!(code, 0, "{v}");
    // A sign-off is for its commit only.
    let (code, _) = gate(
        &w,
        &viewer,
        &["--service", "api", "--commit", "a3", "--require-signoff"],
    );
    assert_eq!(code, 1);
    // A bad question is an error: exit 2.
    let (code, _) = gate(
        &w,
        &viewer,
        &["--service", "api", "--max-severity", "extreme"],
    );
    assert_eq!(code, 2);

    // Every decision is an event of the caller's tenant, with its reasons.
    let decisions = w.wait_for("event.action:gate_decision", 9);
    assert_eq!(decisions.len(), 9, "{decisions:?}");
    let denied = w.search("event.action:gate_decision AND ward.gate.decision:fail");
    assert_eq!(denied.len(), 5, "{denied:?}");
    for d in &decisions {
        assert_eq!(crate::harness::s(d, "tenant.id"), "default");
        assert_eq!(crate::harness::s(d, "user.name"), "ci-viewer");
    }
    assert_eq!(
        w.search("event.action:gate_signoff AND user.name:\"sec-eng\"")
            .len(),
        1
    );
}
