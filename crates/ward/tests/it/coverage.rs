//! Never silently blind: `GET /api/v1/rules/coverage` and `ward rules
//! coverage` say, from what a running `ward serve` received, which log
//! sources arrived, which rules could not have fired, and which events no
//! rule could see, each tenant seeing only its own events.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Ward, create_key};

fn coverage(w: &Ward, key: &str, window: &str) -> (u16, Value) {
    let r = Ward::client()
        .get(format!("{}/api/v1/rules/coverage?window={window}", w.url()))
        .bearer_auth(key)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn send(w: &Ward, key: &str, events: &[Value]) {
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    let r = Ward::client()
        .post(format!("{}/api/v1/ingest", w.url()))
        .bearer_auth(key)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

fn sigma(rel: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/sigma/rules")
        .join(rel)
        .display()
        .to_string()
}

#[test]
fn coverage_says_what_arrived_what_is_blind_and_what_no_rule_sees() {
    // SigmaHQ's sshd rules and one Windows process rule, nothing else.
    let config = format!(
        "[detect]\nbuiltin_rules = false\nrules = [\"{}\", \"{}\"]\n",
        sigma("linux/builtin/sshd"),
        sigma("windows/process_creation/proc_creation_win_whoami_groups_discovery.yml"),
    );
    let w = Ward::start_with(Some(&config), &[]);
    let acme = create_key(&w.data_dir(), "acme-shipper", "ingest", "acme");
    let acme_viewer = create_key(&w.data_dir(), "acme-analyst", "analyst", "acme");
    let globex_viewer = create_key(&w.data_dir(), "globex-analyst", "analyst", "globex");
    // The server re-reads the key file within a couple of seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    for key in [&acme, &acme_viewer, &globex_viewer] {
        while Ward::client()
            .get(format!("{}/api/v1/me", w.url()))
            .bearer_auth(key)
            .send()
            .unwrap()
            .status()
            != 200
        {
            assert!(Instant::now() < deadline, "new keys never accepted");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let (status, before) = coverage(&w, &acme_viewer, "24h");
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["detection_rules"], 2, "{before}");
    assert_eq!(before["rules_with_data"], 0, "{before}");
    assert_eq!(before["blind_rules"].as_array().unwrap().len(), 2);

    // sshd over syslog TCP (the default tenant), an odd event from acme.
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", w.syslog_port)).unwrap();
    std::io::Write::write_all(
        &mut sock,
        b"<38>1 2026-12-06T02:00:00Z bastion sshd 4242 - - error: Corrupted MAC on input\n",
    )
    .unwrap();
    drop(sock);
    send(
        &w,
        &acme,
        &[json!({"gizmo_reading": "secret-value-42", "gizmo_unit": "rpm"})],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let (_, v) = coverage(&w, &w.admin, "24h");
        if v["rules_with_data"].as_u64() > Some(0)
            && v["unseen_examples"].to_string().contains("gizmo_reading")
        {
            break v;
        }
        assert!(Instant::now() < deadline, "detection never counted: {v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(after["rules_with_data"], 1, "{after}");
    let sources = after["sources"].as_array().unwrap();
    assert!(
        sources
            .iter()
            .any(|s| s["logsource"] == "linux/sshd/-" && s["in_window"] == true && s["rules"] == 1),
        "{after}"
    );
    let blind = after["blind_rules"].as_array().unwrap();
    assert_eq!(blind.len(), 1, "{after}");
    assert_eq!(
        blind[0]["logsource"], "windows/-/process_creation",
        "{after}"
    );
    // The unseen example names the fields, never their values.
    let ex = after["unseen_examples"].to_string();
    assert!(ex.contains("gizmo_reading"), "{ex}");
    assert!(!ex.contains("secret-value-42"), "{ex}");
    let tactic = |v: &Value, name: &str| {
        v["attack"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tactic"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        tactic(&after, "initial-access")["rules_with_data"],
        1,
        "{after}"
    );
    assert_eq!(tactic(&after, "discovery")["rules"], 1, "{after}");
    assert_eq!(tactic(&after, "discovery")["rules_with_data"], 0, "{after}");

    // Tenants: acme's analyst sees its odd event but not the default
    // tenant's sshd line; globex's sees nothing.
    let (_, mine) = coverage(&w, &acme_viewer, "24h");
    assert_eq!(mine["rules_with_data"], 0, "{mine}");
    assert!(mine["unseen_events_total"].as_u64() >= Some(1), "{mine}");
    assert!(
        mine["unseen_examples"]
            .to_string()
            .contains("gizmo_reading"),
        "{mine}"
    );
    assert!(mine["sources"].as_array().unwrap().is_empty(), "{mine}");
    let (_, theirs) = coverage(&w, &globex_viewer, "24h");
    assert_eq!(theirs["rules_with_data"], 0, "{theirs}");
    assert_eq!(theirs["unseen_events_total"], 0, "{theirs}");
    assert!(
        theirs["unseen_examples"].as_array().unwrap().is_empty(),
        "{theirs}"
    );
    // An ingest key cannot read it; a bad window is a clear 400.
    assert_eq!(coverage(&w, &acme, "24h").0, 403);
    let (status, bad) = coverage(&w, &w.admin, "soon");
    assert_eq!(status, 400, "{bad}");
    assert!(bad.to_string().contains("window"), "{bad}");

    // The CLI and the metrics say the same.
    let out = w.cli(&["rules", "coverage", "--limit", "3"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 of 2 detection rules"), "{text}");
    assert!(text.contains("1 rules could not have fired"), "{text}");
    assert!(text.contains("gizmo_reading"), "{text}");
    let metrics = Ward::client()
        .get(format!("{}/metrics", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "ward_rules_blind 1.0"),
        "{metrics}"
    );
}
