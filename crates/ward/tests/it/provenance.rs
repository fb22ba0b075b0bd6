//! Provenance and the gate policy against a real `ward serve`: SLSA
//! provenance and an in-toto link signed by in-toto's own tooling
//! (securesystemslib's CryptoSigner and DSSE envelope, `in-toto-run
//! --use-dsse`) with Ed25519 and ECDSA P-256 keys made in the test, pinned
//! in `[[gate.keys]]`; tampered copies refused and recorded; the gate
//! failing on missing and invalid provenance where `[gate.policy]` requires
//! it and only warning where it says so; break-glass needing its permission
//! and raising an alert; a deploy without a passing decision raising one.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::gate::wait_key;
use crate::harness::{Ward, create_key, require, s};

fn sign(dir: &Path, artifact: &Path, commit: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/provenance/sign.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(dir)
        .arg(artifact)
        .arg(commit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

fn config(keys: &Value) -> String {
    let mut c = String::new();
    for k in keys.as_array().unwrap() {
        c.push_str(&format!(
            "[[gate.keys]]\nid = \"{}\"\npem = '''\n{}'''\n\n",
            k["id"].as_str().unwrap(),
            k["pem"].as_str().unwrap()
        ));
    }
    c.push_str(
        r#"
[gate.policy]
version = "2026-12-06.test"
[gate.policy.default]
provenance_missing = "fail"
[gate.policy.environments.production]
require_provenance = true
[gate.policy.environments.staging]
require_provenance = true
provenance_missing = "warn"
provenance_invalid = "warn"
"#,
    );
    c
}

fn import(w: &Ward, file: &Path, commit: Option<&str>) -> (i32, String) {
    let mut args = vec![
        "import",
        "provenance",
        file.to_str().unwrap(),
        "--service",
        "shop",
    ];
    if let Some(c) = commit {
        args.extend(["--commit", c]);
    }
    let o = w.cli(&args, None);
    (
        o.status.code().unwrap(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn check(w: &Ward, key: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--service", "shop"];
    all.extend_from_slice(args);
    crate::gate::gate(w, key, &all)
}

fn codes(v: &Value) -> Vec<(String, String)> {
    v["reasons"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn wait_alert(w: &Ward, title: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v: Value = Ward::client()
            .get(format!("{}/api/v1/alerts?status=firing", w.url()))
            .bearer_auth(&w.admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if let Some(a) = v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule_title"] == title)
        {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "no alert {title:?}: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn provenance_signed_by_in_toto_tooling_is_verified_and_gates_the_deploy() {
    require("in-toto-run");
    let tmp = tempfile::tempdir().unwrap();
    let artifact = tmp.path().join("shop-1.0.tar.gz");
    std::fs::write(&artifact, b"the artefact's bytes\n").unwrap();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let out = tmp.path().join("signed");
    let made = sign(&out, &artifact, commit);
    let digest = format!("sha256:{}", made["digest"].as_str().unwrap());
    let keys: Value =
        serde_json::from_slice(&std::fs::read(out.join("keys.json")).unwrap()).unwrap();
    let w = Ward::start_with(Some(&config(&keys)), &[]);
    let viewer = create_key(&w.data_dir(), "ci", "viewer", "default");
    let engineer = create_key(&w.data_dir(), "sec-eng", "engineer", "default");
    let admin = create_key(&w.data_dir(), "on-call", "admin", "default");
    for k in [&viewer, &engineer, &admin] {
        wait_key(&w, k);
    }
    let art = artifact.to_str().unwrap();

    // Nothing imported: production fails, staging warns, both name the
    // policy; the missing provenance is an event either way.
    let (code, v) = check(
        &w,
        &viewer,
        &["--environment", "production", "--artifact-file", art],
    );
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["decision"], "fail");
    assert_eq!(
        codes(&v),
        vec![("provenance_missing".into(), "fail".into())],
        "{v}"
    );
    assert_eq!(v["policy"]["version"], "2026-12-06.test");
    assert!(
        v["policy"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(v["reasons"][0]["evidence"], digest);
    let (code, v) = check(
        &w,
        &viewer,
        &["--environment", "staging", "--artifact", &digest],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["decision"], "warn");
    // An environment the policy does not name gets the default: nothing
    // required, so an unnamed artefact passes (and its missing provenance
    // is still recorded).
    let (code, v) = check(&w, &viewer, &["--environment", "qa", "--artifact", &digest]);
    assert_eq!((code, v["decision"].clone()), (0, json!("pass")), "{v}");
    assert_eq!(w.wait_for("event.action:provenance_missing", 3).len(), 3);

    // Tampered and mis-signed copies: refused (exit 1), each an event
    // naming why.
    for (file, why) in [
        ("tampered-payload.json", "does not verify"),
        ("tampered-signature.json", "does not verify"),
        ("wrong-key.json", "does not verify"),
        ("unknown-keyid.json", "is not pinned"),
        ("wrong-type.json", "payloadType \"application/json\""),
    ] {
        let (code, said) = import(&w, &out.join(file), None);
        assert_eq!(code, 1, "{file}: {said}");
        assert!(said.contains(why), "{file}: {said}");
    }
    let refused = w.wait_for("event.action:provenance_invalid", 5);
    assert_eq!(refused.len(), 5, "{refused:?}");
    assert_eq!(s(&refused[0], "event.outcome"), "failure");
    // Not an envelope at all: refused, nothing stored.
    let junk = tmp.path().join("junk.json");
    std::fs::write(&junk, b"{\"hello\": 1}").unwrap();
    let (code, said) = import(&w, &junk, None);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("not a DSSE envelope"), "{said}");

    // Only refused provenance: invalid, not missing.
    let (code, v) = check(
        &w,
        &viewer,
        &["--environment", "production", "--artifact", &digest],
    );
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        codes(&v),
        vec![("provenance_invalid".into(), "fail".into())],
        "{v}"
    );

    // The SLSA provenance signed with Ed25519 verifies; its source commit
    // is recorded; the deploy passes.
    let (code, said) = import(&w, &out.join("slsa-ed25519.json"), None);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains(made["ed25519"].as_str().unwrap()), "{said}");
    let (code, v) = check(
        &w,
        &viewer,
        &["--environment", "production", "--artifact-file", art],
    );
    assert_eq!((code, v["decision"].clone()), (0, json!("pass")), "{v}");
    // Without artefacts the commit's provenance is looked up.
    let (code, v) = check(
        &w,
        &viewer,
        &["--environment", "production", "--commit", commit],
    );
    assert_eq!(code, 0, "{v}");
    let (code, v) = check(
        &w,
        &viewer,
        &["--environment", "production", "--commit", "fedcba9"],
    );
    assert_eq!(code, 1, "{v}");
    // ECDSA P-256 and the in-toto link verify too.
    let (code, said) = import(&w, &out.join("slsa-ecdsa.json"), Some(commit));
    assert_eq!(code, 0, "{said}");
    assert!(said.contains(made["ecdsa"].as_str().unwrap()), "{said}");
    let link = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "link"))
        .unwrap();
    let (code, said) = import(&w, &link, Some(commit));
    assert_eq!(code, 0, "{said}");
    let verified = w.wait_for("event.action:provenance_verified", 3);
    assert_eq!(verified.len(), 3);
    assert!(
        verified.iter().any(|e| s(e, "ward.provenance.builder")
            == "https://example.com/ward-test/builder"
            && s(e, "ward.provenance.commit") == commit),
        "{verified:?}"
    );

    // Every decision carries the policy version.
    let decisions = w.wait_for("event.action:gate_decision", 7);
    assert!(decisions.len() >= 7);
    for d in &decisions {
        assert_eq!(s(d, "ward.gate.policy.version"), "2026-12-06.test");
    }

    // Break-glass: refused to a viewer and an engineer (exit 2); an admin
    // passes a failing gate with a reason, which is recorded and alerted on.
    let fail_args = ["--environment", "production", "--commit", "fedcba9"];
    for key in [&viewer, &engineer] {
        let mut a = fail_args.to_vec();
        a.extend(["--break-glass", "hotfix"]);
        let (code, v) = check(&w, key, &a);
        assert_eq!(code, 2, "{v}");
        assert!(v.as_str().unwrap_or("").contains("gate:override"), "{v}");
    }
    let mut a = fail_args.to_vec();
    a.extend(["--break-glass", "incident 42: payment outage hotfix"]);
    let (code, v) = check(&w, &admin, &a);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["decision"], "pass");
    assert_eq!(v["verdict"], "fail");
    assert_eq!(v["override"]["by"], "on-call");
    let alert = wait_alert(&w, "Deploy gate broken glass");
    assert_eq!(alert["severity"], "high", "{alert}");
    let o = w.wait_for("event.action:gate_override", 1);
    assert_eq!(
        s(&o[0], "ward.gate.override.reason"),
        "incident 42: payment outage hotfix"
    );
    // An empty reason is refused.
    let (code, _) = check(&w, &admin, &["--break-glass", " "]);
    assert_eq!(code, 2);
}

#[test]
fn a_deploy_without_a_passing_gate_decision_raises_an_alert() {
    let w = Ward::start();
    let viewer = create_key(&w.data_dir(), "ci", "viewer", "default");
    wait_key(&w, &viewer);
    // c1 passed the gate and is deployed now: answered.
    let (code, v) = check(&w, &viewer, &["--commit", "c1"]);
    assert_eq!(code, 0, "{v}");
    // c2 was deployed ten minutes ago and never asked about: past the
    // grace, so the alert comes as soon as detection has read it.
    let past = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(10)).to_string();
    let now = jiff::Timestamp::now().to_string();
    let events = format!(
        "{}\n{}\n",
        json!({"timestamp": now, "service": "shop", "action": "deploy", "commit": "c1", "environment": "production"}),
        json!({"timestamp": past, "service": "shop", "action": "deploy", "commit": "c2", "environment": "production"}),
    );
    let o = w.cli(&["send"], Some(events.as_bytes()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let alert = wait_alert(&w, "Deploy without a passing gate decision");
    assert_eq!(alert["severity"], "high", "{alert}");
    assert_eq!(alert["labels"]["commit"], "c2", "{alert}");
}

#[test]
fn a_failed_prompt_injection_test_run_fails_the_gate_until_one_passes() {
    let w = Ward::start_with(
        Some("[gate.policy.environments.dev]\nprompt_injection_test_failed = \"warn\"\n"),
        &[],
    );
    let viewer = create_key(&w.data_dir(), "ci", "viewer", "default");
    wait_key(&w, &viewer);
    let send = |line: Value| {
        let o = w.cli(&["send"], Some(format!("{line}\n").as_bytes()));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let gate = |env: &str| {
        crate::gate::gate(
            &w,
            &viewer,
            &["--service", "assistant", "--environment", env],
        )
    };
    // No run yet: nothing to say.
    assert_eq!(gate("production").0, 0);
    // A test tool's failing run, sent like any result.
    send(
        json!({"action": "prompt_injection_test", "service": "assistant", "outcome": "failure",
        "tool": "promptfoo", "failures": 3, "commit": "abc123"}),
    );
    // Another service's and another tenant's runs do not count.
    send(json!({"action": "prompt_injection_test", "service": "other", "outcome": "failure"}));
    w.wait_for("event.action:prompt_injection_test", 2);
    let (code, v) = gate("production");
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        v["reasons"][0]["code"], "prompt_injection_test_failed",
        "{v}"
    );
    let detail = v["reasons"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("promptfoo at abc123") && detail.contains("3 attack(s)"),
        "{detail}"
    );
    let (code, v) = gate("dev");
    assert_eq!((code, v["decision"].as_str()), (0, Some("warn")), "{v}");
    // A newer passing run clears it.
    std::thread::sleep(Duration::from_millis(20));
    send(
        json!({"action": "prompt_injection_test", "service": "assistant", "outcome": "success",
        "tool": "promptfoo", "failures": 0, "commit": "abc124"}),
    );
    w.wait_for(
        "event.action:prompt_injection_test AND service.name:assistant",
        2,
    );
    let (code, v) = gate("production");
    assert_eq!((code, v["decision"].as_str()), (0, Some("pass")), "{v}");
}
