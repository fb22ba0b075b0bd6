//! Compliance posture against a real `ward serve`: the API and its
//! permissions, attestation, `/metrics` gauges, the CLI (`status`, `show`,
//! `diff` failing on a regression), `ward verify` feeding STO-02, and a
//! control that stops passing opening an alert that reaches a webhook with
//! the control's owner.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{TOKEN, Ward, create_key};

/// A user control: no `forbidden_change` event in the last hour.
const CONTROL: &str = r#"
id: T-GAP
title: No forbidden change in the last hour
owner: secops
severity: critical
cadence: 1s
evidence_lifetime: 1h
check:
  events:
    query: "event.action:forbidden_change"
    window: 1h
    at_most: 0
mappings:
  - { framework: soc2, id: CC7.2, relationship: intersects }
"#;

fn call(w: &Ward, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let c = Ward::client();
    let url = format!("{}{path}", w.url());
    let mut rb = if method == "GET" {
        c.get(url)
    } else {
        c.post(url)
    };
    rb = rb.bearer_auth(key);
    if let Some(b) = body {
        rb = rb
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn control<'a>(posture: &'a Value, id: &str) -> &'a Value {
    posture["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {posture}"))
}

fn wait_state(w: &Ward, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, p) = call(w, "GET", "/api/v1/compliance", &w.admin, None);
        assert_eq!(s, 200, "{p}");
        if control(&p, id)["state"] == want {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never {want}: {}\n{}",
            control(&p, id),
            w.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn posture_api_cli_attestation_and_a_gap_alert_reaching_the_owner() {
    let (url, bodies) = crate::alerts::receiver();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t-gap.yaml"), CONTROL).unwrap();
    let cfg = format!(
        "[alerting]\nallow_private_destinations = true\n[alerting.route]\ngroup_wait = \"0s\"\n\
         [compliance]\ntick = \"1s\"\ncontrols = [{:?}]\n",
        dir.path().display().to_string()
    );
    let w = Ward::start_with(Some(&cfg), &[("WARD_ALERT_WEBHOOK_URL", url.as_str())]);
    let viewer = create_key(&w.data_dir(), "v", "viewer", "default");
    let engineer = create_key(&w.data_dir(), "e", "engineer", "default");
    std::thread::sleep(Duration::from_millis(1500));

    // No events at all: unknown, never pass.
    let p = wait_state(&w, "T-GAP", "unknown");
    assert!(p["load_errors"].as_array().unwrap().is_empty(), "{p}");
    let soc2 = p["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["framework"] == "soc2")
        .unwrap();
    assert!(soc2["controls"].as_u64().unwrap() >= 4, "{soc2}");

    let ok =
        json!({"event.action": "login", "event.category": "authentication", "service.name": "web"});
    let (s, a) = w.post("/api/v1/ingest", "application/x-ndjson", format!("{ok}\n"));
    assert_eq!(s, 200, "{a}");
    wait_state(&w, "T-GAP", "pass");
    let base = w.cli(&["compliance", "status", "--format", "json"], None);
    assert!(
        base.status.success(),
        "{}",
        String::from_utf8_lossy(&base.stderr)
    );
    let baseline = dir.path().join("baseline.json");
    std::fs::write(&baseline, &base.stdout).unwrap();
    let table = w.cli(&["compliance", "status"], None);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("T-GAP    pass") && table.contains("soc2:CC7.2"),
        "{table}"
    );

    // Permissions: a viewer reads, cannot attest; an engineer attests.
    let (s, v) = call(
        &w,
        "GET",
        "/api/v1/compliance?framework=soc2",
        &viewer,
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert!(
        v["controls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["mappings"].to_string().contains("soc2"))
    );
    let (s, _) = call(
        &w,
        "GET",
        "/api/v1/compliance?framework=nope",
        &viewer,
        None,
    );
    assert_eq!(s, 404);
    let attest =
        json!({"result": "pass", "note": "daily review done, ticket SEC-42", "expires_in": "7d"});
    let (s, _) = call(
        &w,
        "POST",
        "/api/v1/compliance/REV-01/attest",
        &viewer,
        Some(attest.clone()),
    );
    assert_eq!(s, 403);
    let (s, _) = call(
        &w,
        "POST",
        "/api/v1/compliance/REV-01/attest",
        TOKEN,
        Some(attest.clone()),
    );
    assert_eq!(s, 403, "an ingest token attests nothing");
    let (s, r) = call(
        &w,
        "POST",
        "/api/v1/compliance/REV-01/attest",
        &engineer,
        Some(attest.clone()),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["control"]["state"], "pass", "{r}");
    let too_long = json!({"result": "pass", "note": "x", "expires_in": "400d"});
    let (s, r) = call(
        &w,
        "POST",
        "/api/v1/compliance/REV-01/attest",
        &engineer,
        Some(too_long),
    );
    assert_eq!(s, 400, "{r}");
    let (s, _) = call(
        &w,
        "POST",
        "/api/v1/compliance/T-GAP/attest",
        &engineer,
        Some(attest.clone()),
    );
    assert_eq!(s, 409, "an event-checked control is not attested");
    let (s, _) = call(
        &w,
        "GET",
        "/api/v1/compliance/..%2F..%2Fward.toml",
        &viewer,
        None,
    );
    assert_eq!(s, 404);
    let (s, show) = call(&w, "GET", "/api/v1/compliance/T-GAP", &viewer, None);
    assert_eq!(s, 200, "{show}");
    assert!(show["history"].as_array().unwrap().len() >= 2, "{show}");
    assert_eq!(show["requirements"][0]["id"], "CC7.2");

    // The metrics carry a score per framework.
    let m = Ward::client()
        .get(format!("{}/metrics", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        m.contains("ward_compliance_score{framework=\"soc2\"}"),
        "{m}"
    );
    assert!(m.contains("ward_compliance_controls{framework=\"soc2\",state=\"pass\"}"));

    // The control stops passing: an alert for its owner reaches the webhook.
    let bad = json!({"event.action": "forbidden_change", "event.category": "configuration", "service.name": "web"});
    let (s, a) = w.post("/api/v1/ingest", "application/x-ndjson", format!("{bad}\n"));
    assert_eq!(s, 200, "{a}");
    wait_state(&w, "T-GAP", "fail");
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        let found = bodies
            .lock()
            .unwrap()
            .iter()
            .find(|b| b.contains("T-GAP"))
            .cloned();
        if let Some(b) = found {
            break b;
        }
        assert!(
            Instant::now() < deadline,
            "no gap alert delivered\n{}",
            w.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(delivered.contains("secops"), "owner named: {delivered}");
    let out = w.cli(&["alerts", "list", "--format", "json"], None);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("compliance:T-GAP"), "{list}");

    // CI: the diff against the baseline fails and names the control.
    let diff = w.cli(
        &[
            "compliance",
            "diff",
            "--baseline",
            baseline.to_str().unwrap(),
        ],
        None,
    );
    let text = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(diff.status.code(), Some(1), "{text}");
    assert!(text.contains("control T-GAP was pass, is fail"), "{text}");
    let same = w.cli(&["compliance", "status", "--format", "json"], None);
    std::fs::write(&baseline, &same.stdout).unwrap();
    let diff = w.cli(
        &[
            "compliance",
            "diff",
            "--baseline",
            baseline.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(
        diff.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );

    // `ward verify` records its result for STO-02.
    let mut w = w;
    w.stop();
    let out = std::process::Command::new(crate::harness::ward_bin())
        .args(["verify"])
        .env("WARD_DATA_DIR", w.data_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let rec: Value = serde_json::from_slice(
        &std::fs::read(w.data_dir().join("compliance/last-verify.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["ok"], true, "{rec}");
}
