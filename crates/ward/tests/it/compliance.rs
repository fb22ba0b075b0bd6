//! Compliance posture against a real `ward serve`: the API and its
//! permissions, attestation, `/metrics` gauges, the CLI (`status`, `show`,
//! `diff` failing on a regression), `ward verify` feeding STO-02, and a
//! control that stops passing opening an alert that reaches a webhook with
//! the control's owner.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{TOKEN, Ward, create_key};

/// A user control: no `forbidden_change` event in the last hour.
pub(crate) const CONTROL: &str = r#"
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
    let t = control(&v, "T-GAP");
    assert!(
        t["observed"].is_null() && t["queries"] == json!([]),
        "tenant-bound: {t}"
    );
    let (_, all) = call(&w, "GET", "/api/v1/compliance", &w.admin, None);
    assert_eq!(control(&all, "T-GAP")["observed"]["matched"], 0, "{all}");
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

const AUTH_CONTROL: &str = r#"
id: T-AUTH
title: Authentication events arrive
owner: secops
severity: high
cadence: 1s
evidence_lifetime: 1h
check:
  events:
    query: "event.category:authentication"
    window: 1h
    at_least: 1
mappings:
  - { framework: pci-dss, id: "10.2.1", relationship: subset }
  - { framework: nist-800-53, id: AU-12, relationship: intersects }
"#;

fn verify_cli(w: &Ward, dir: &std::path::Path, key: &str) -> (bool, String) {
    let out = w.cli(
        &["evidence", "verify", dir.to_str().unwrap(), "--key", key],
        None,
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn verify_python(dir: &std::path::Path, key: &str) -> (bool, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/fixtures/evidence_verify.py"
    );
    let out = std::process::Command::new("python3")
        .args([script, dir.to_str().unwrap(), key])
        .output()
        .expect("python3 with cryptography: run scripts/test.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn oscal_validate(file: &std::path::Path) -> (bool, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/fixtures/oscal_validate.py"
    );
    let out = std::process::Command::new("python3")
        .args([script, file.to_str().unwrap()])
        .output()
        .expect("python3 with compliance-trestle: run scripts/test.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&t).unwrap();
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

#[test]
fn evidence_exports_verifies_offline_and_names_every_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t-auth.yaml"), AUTH_CONTROL).unwrap();
    let cfg = format!(
        "[compliance]\ntick = \"1s\"\ncontrols = [{:?}]\n",
        dir.path().display().to_string()
    );
    let w = Ward::start_with(Some(&cfg), &[]);
    let lines: String = (0..5)
        .map(|i| {
            format!(
                "{}\n",
                json!({"event.action": "login", "event.category": "authentication", "service.name": "web", "user.name": format!("u{i}")})
            )
        })
        .collect();
    let (s, a) = w.post("/api/v1/ingest", "application/x-ndjson", lines);
    assert_eq!(s, 200, "{a}");
    wait_state(&w, "T-AUTH", "pass");
    let key_out = std::process::Command::new(crate::harness::ward_bin())
        .arg("key")
        .env("WARD_DATA_DIR", w.data_dir())
        .output()
        .unwrap();
    let key = String::from_utf8(key_out.stdout).unwrap().trim().to_owned();
    assert!(key.contains('+'), "{key}");

    let bundle = dir.path().join("bundle");
    let out = w.cli(
        &[
            "evidence",
            "export",
            "--out",
            bundle.to_str().unwrap(),
            "--framework",
            "pci-dss",
            "--since",
            "1d",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pop = std::fs::read_to_string(bundle.join("controls/T-AUTH/population.ndjson")).unwrap();
    assert_eq!(pop.lines().count(), 5, "{pop}");
    let meta: Value = serde_json::from_slice(
        &std::fs::read(bundle.join("controls/T-AUTH/population.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["rows"], 5);
    assert_eq!(meta["query"], "event.category:authentication");
    assert!(
        !bundle.join("controls/RED-01").exists(),
        "RED-01 maps to no pci-dss id"
    );
    let oscal: Value = serde_json::from_slice(
        &std::fs::read(bundle.join("oscal/assessment-results.json")).unwrap(),
    )
    .unwrap();
    assert!(
        oscal.to_string().contains("pci-dss_10.2.1"),
        "a finding per mapped requirement"
    );
    // A second export into the same directory is refused.
    let again = w.cli(
        &["evidence", "export", "--out", bundle.to_str().unwrap()],
        None,
    );
    assert!(!again.status.success());

    let (ok, text) = verify_cli(&w, &bundle, &key);
    assert!(ok, "{text}");
    let (ok, text) = verify_python(&bundle, &key);
    assert!(ok, "{text}");
    // The OSCAL document validates against NIST's OSCAL models.
    let (ok, text) = oscal_validate(&bundle.join("oscal/assessment-results.json"));
    assert!(ok, "{text}");

    // One flipped byte in each kind of file: both verifiers fail, naming it.
    let kinds = [
        "manifest.json",
        "manifest.sig",
        "oscal/assessment-results.json",
        "controls/T-AUTH/definition.json",
        "controls/T-AUTH/results.ndjson",
        "controls/T-AUTH/query.json",
        "controls/T-AUTH/population.ndjson",
        "controls/T-AUTH/population.json",
        "controls/T-AUTH/proofs.ndjson",
    ];
    for (i, f) in kinds.iter().enumerate() {
        let copy = dir.path().join(format!("flip-{i}"));
        std::fs::create_dir_all(&copy).unwrap();
        copy_dir(&bundle, &copy);
        let p = copy.join(f);
        let mut b = std::fs::read(&p).unwrap();
        let at = b.len() / 2;
        b[at] ^= 0x01;
        std::fs::write(&p, b).unwrap();
        let (ok, text) = verify_cli(&w, &copy, &key);
        assert!(!ok && text.contains(f), "ward: {f}: {text}");
        let (ok, text) = verify_python(&copy, &key);
        assert!(!ok && text.contains(f), "python: {f}: {text}");
    }
    // A file slipped in, and another key.
    let extra = dir.path().join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    copy_dir(&bundle, &extra);
    std::fs::write(extra.join("controls/T-AUTH/note.txt"), "trust me").unwrap();
    let (ok, text) = verify_cli(&w, &extra, &key);
    assert!(!ok && text.contains("controls/T-AUTH/note.txt"), "{text}");
    let (ok, text) = verify_python(&extra, &key);
    assert!(!ok && text.contains("controls/T-AUTH/note.txt"), "{text}");
    let other = Ward::start();
    let other_key = String::from_utf8(
        std::process::Command::new(crate::harness::ward_bin())
            .arg("key")
            .env("WARD_DATA_DIR", other.data_dir())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let (ok, text) = verify_cli(&w, &bundle, other_key.trim());
    assert!(!ok && text.contains("manifest.sig"), "{text}");

    // The export is in the audit trail.
    let (s, audit) = call(
        &w,
        "GET",
        "/api/v1/audit?since=1h&limit=1000",
        &w.admin,
        None,
    );
    assert_eq!(s, 200);
    assert!(
        audit.to_string().contains("/api/v1/evidence/export"),
        "{audit}"
    );
}

/// SCN-01 replaced by a user control of the same id that runs every second.
const SCN_CONTROL: &str = r#"
id: SCN-01
title: The latest host configuration scan found no failed rule
owner: platform
severity: high
cadence: 1s
evidence_lifetime: 1h
check:
  scanner:
    query: "event.module:openscap"
    window: 1d
mappings:
  - { framework: pci-dss, id: "11.5.2", relationship: intersects }
"#;

/// Runs `oscap xccdf eval` on the tiny benchmark and posts its results.
fn scan_and_send(w: &Ward, dir: &std::path::Path) {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/xccdf");
    let oval = std::fs::read_to_string(format!("{fixtures}/oval.xml"))
        .unwrap()
        .replace("@DIR@", dir.to_str().unwrap());
    std::fs::write(dir.join("oval.xml"), oval).unwrap();
    std::fs::copy(
        format!("{fixtures}/benchmark.xml"),
        dir.join("benchmark.xml"),
    )
    .unwrap();
    let results = dir.join("results.xml");
    let _ = std::fs::remove_file(&results);
    let out = std::process::Command::new("oscap")
        .args([
            "xccdf",
            "eval",
            "--profile",
            "xccdf_dev.ward_profile_default",
            "--results",
            results.to_str().unwrap(),
            dir.join("benchmark.xml").to_str().unwrap(),
        ])
        .output()
        .expect("oscap (Debian openscap-scanner): run scripts/test.sh");
    // 0: every rule passed, 2: some rule failed.
    assert!(
        matches!(out.status.code(), Some(0 | 2)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (s, a) = w.post(
        "/api/v1/ingest/xccdf",
        "application/xml",
        std::fs::read(&results).unwrap(),
    );
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["accepted"], 1, "{a}");
}

#[test]
fn an_openscap_scan_drives_a_scanner_control_and_its_gap_alert() {
    crate::harness::require("oscap");
    let (url, bodies) = crate::alerts::receiver();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scn.yaml"), SCN_CONTROL).unwrap();
    let cfg = format!(
        "[alerting]\nallow_private_destinations = true\n[alerting.route]\ngroup_wait = \"0s\"\n\
         [compliance]\ntick = \"1s\"\ncontrols = [{:?}]\n",
        dir.path().display().to_string()
    );
    let w = Ward::start_with(Some(&cfg), &[("WARD_ALERT_WEBHOOK_URL", url.as_str())]);
    let target = dir.path().join("target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("ward-test.conf"), "audit=on\n").unwrap();
    scan_and_send(&w, &target);
    let p = wait_state(&w, "SCN-01", "pass");
    assert!(
        control(&p, "SCN-01")["reason"]
            .as_str()
            .unwrap()
            .contains("0 of 1")
    );
    let found = w.search("event.module:openscap AND event.outcome:success");
    assert_eq!(found.len(), 1, "{found:?}");

    // Flip the setting the rule checks and scan again (a later second, so
    // a new run id).
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(target.join("ward-test.conf"), "audit=off\n").unwrap();
    scan_and_send(&w, &target);
    wait_state(&w, "SCN-01", "fail");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let hit = bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains("SCN-01") && b.contains("platform"));
        if hit {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no gap alert delivered\n{}",
            w.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A document that is not XCCDF is one dead letter, with the reason.
    dead_letter(
        &w,
        "/api/v1/ingest/xccdf",
        "<html>nope</html>",
        "no XCCDF TestResult",
    );
}

/// Posts a document that is not of its route's kind: it is answered 200
/// with nothing accepted and `why` in the answer.
fn dead_letter(w: &Ward, path: &str, body: &'static str, why: &str) {
    let (s, a) = w.post(path, "application/octet-stream", body);
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["accepted"], 0, "{a}");
    assert!(a.to_string().contains(why), "{a}");
}

/// One scanner control per format, each over its module's latest run.
fn scanner_controls(dir: &std::path::Path) {
    for (id, query) in [
        ("SCN-LYNIS", "event.module:lynis"),
        ("SCN-PROWLER", "event.module:prowler"),
        (
            "SCN-WAZUH",
            "event.module:wazuh AND wazuh.policy_id:cis_debian12",
        ),
        ("SCN-SCORECARD", "event.module:scorecard"),
    ] {
        std::fs::write(
            dir.join(format!("{id}.yaml")),
            format!(
                "id: {id}\ntitle: {id}\nowner: platform\nseverity: high\ncadence: 1s\nevidence_lifetime: 1h\n\
                 check:\n  scanner:\n    query: \"{query}\"\n    window: 1d\n\
                 mappings:\n  - {{ framework: pci-dss, id: \"11.5.2\", relationship: intersects }}\n"
            ),
        )
        .unwrap();
    }
}

/// The scanners' fixtures (real output, or shaped as the tool writes it),
/// dated now; `clean` removes every failure from them.
fn scanner_documents(clean: bool) -> Vec<(&'static str, String)> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ward-event/tests/fixtures/scanners"
    );
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
    let now = jiff::Timestamp::now();
    let civil = now
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    let lynis: String = read("lynis-report.dat")
        .lines()
        .filter(|l| !(clean && l.starts_with("warning[]=")))
        .map(|l| match l.split_once('=') {
            Some(("report_datetime_start" | "report_datetime_end", _)) => {
                format!("{}={civil}\n", l.split('=').next().unwrap())
            }
            _ => format!("{l}\n"),
        })
        .collect();
    let mut prowler =
        read("prowler.ocsf.json").replace("2024-12-06T21:20:00.102538", &now.to_string());
    let mut wazuh = read("wazuh-sca.json");
    let scorecard = read("scorecard.json").replace("2024-12-02T10:15:03Z", &now.to_string());
    if clean {
        prowler = prowler.replace("\"FAIL\"", "\"PASS\"");
        wazuh = wazuh.replace("\"result\": \"failed\"", "\"result\": \"passed\"");
    }
    vec![
        ("lynis", lynis),
        ("prowler", prowler),
        ("wazuh-sca?agent=001", wazuh),
        (
            if clean {
                "scorecard?min_score=0"
            } else {
                "scorecard"
            },
            scorecard,
        ),
    ]
}

#[test]
fn every_scanner_format_drives_its_scanner_control() {
    let dir = tempfile::tempdir().unwrap();
    scanner_controls(dir.path());
    let cfg = format!(
        "[compliance]\ntick = \"1s\"\ncontrols = [{:?}]\n",
        dir.path().display().to_string()
    );
    let w = Ward::start_with(Some(&cfg), &[]);
    let ids = ["SCN-LYNIS", "SCN-PROWLER", "SCN-WAZUH", "SCN-SCORECARD"];
    for (clean, want) in [(true, "pass"), (false, "fail")] {
        for (format, body) in scanner_documents(clean) {
            let (s, a) = w.post(
                &format!("/api/v1/ingest/scan/{format}"),
                "application/json",
                body,
            );
            assert_eq!(s, 200, "{format}: {a}");
            assert!(a["accepted"].as_u64().unwrap() >= 4, "{format}: {a}");
        }
        for id in ids {
            let p = wait_state(&w, id, want);
            let reason = control(&p, id)["reason"].as_str().unwrap().to_owned();
            assert!(
                reason.contains("scanner results failed in the latest run"),
                "{id}: {reason}"
            );
        }
        // A later run gets a later time (and so another run id).
        std::thread::sleep(Duration::from_millis(1100));
    }
    // What each failing run holds, as Sigma rules and searches see it.
    assert_eq!(
        w.search("event.module:prowler AND event.outcome:failure AND rule.id:cloudtrail_log_file_validation_enabled").len(),
        1
    );
    assert_eq!(
        w.search("event.module:wazuh AND event.outcome:failure AND agent.id:001")
            .len(),
        1
    );
    assert_eq!(
        w.search("event.module:scorecard AND event.outcome:failure")
            .len(),
        2
    );
    assert!(
        !w.search("event.module:lynis AND event.outcome:failure")
            .is_empty()
    );

    // An unknown format, a score out of range, a document of another kind.
    let (s, a) = w.post("/api/v1/ingest/scan/nessus", "application/json", "{}");
    assert_eq!(s, 404, "{a}");
    assert!(
        a.to_string()
            .contains("lynis, prowler, wazuh-sca, scorecard"),
        "{a}"
    );
    let (s, a) = w.post(
        "/api/v1/ingest/scan/scorecard?min_score=11",
        "application/json",
        "{}",
    );
    assert_eq!(s, 400, "{a}");
    dead_letter(
        &w,
        "/api/v1/ingest/scan/prowler",
        "{\"checks\":[]}",
        "not an array",
    );
}
