//! Event-level behaviour: field names at any depth, false-positive names,
//! session ids, JSON in strings, query strings, raw bodies, actions,
//! `ward.redactions` and leaks.

use serde_json::{Map, Value, json};
use ward_redact::{Action, Kind, RedactConfig, RedactError, Redactor};

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn redact(cfg: &RedactConfig, v: Value) -> (Value, ward_redact::Report) {
    let r = Redactor::new(cfg).unwrap();
    let mut ev = obj(v);
    let report = r.redact_event(&mut ev, b"tenant-a");
    (Value::Object(ev), report)
}

#[test]
fn secret_field_names_at_any_depth() {
    let (out, report) = redact(
        &RedactConfig::default(),
        json!({
            "user": {"name": "bob", "Password": "hunter2", "profile": {"settings": {"api": {"X-Api-Key": "k-123"}}}},
            "http": {"request": {"headers": {"Authorization": "Bearer abc.def", "set-cookie": "sid=1"}}},
            "creds": [{"client-secret": "cs1"}, {"sessionToken": "st1"}],
            "password_changed": true,
            "token_count": 12,
            "max_tokens": 4096,
            "event": {"action": "password_reset"}
        }),
    );
    assert_eq!(out["user"]["Password"], "[REDACTED:password]");
    assert_eq!(out["user"]["name"], "bob");
    assert_eq!(
        out["user"]["profile"]["settings"]["api"]["X-Api-Key"],
        "[REDACTED:api_key]"
    );
    assert_eq!(
        out["http"]["request"]["headers"]["Authorization"],
        "[REDACTED:authorization]"
    );
    assert_eq!(
        out["http"]["request"]["headers"]["set-cookie"],
        "[REDACTED:cookie]"
    );
    assert_eq!(out["creds"][0]["client-secret"], "[REDACTED:secret]");
    assert_eq!(out["creds"][1]["sessionToken"], "[REDACTED:token]");
    assert_eq!(out["password_changed"], true);
    assert_eq!(out["token_count"], 12);
    assert_eq!(out["max_tokens"], 4096);
    assert_eq!(out["event"]["action"], "password_reset");
    assert_eq!(report.total(), 6);
    let recorded = out["ward"]["redactions"].to_string();
    for secret in ["hunter2", "k-123", "abc.def", "sid=1", "cs1", "st1"] {
        assert!(!out.to_string().contains(secret), "{secret} survived");
        assert!(!recorded.contains(secret));
    }
    assert!(
        recorded.contains(r#""field":"user.profile.settings.api.X-Api-Key""#),
        "{recorded}"
    );
}

#[test]
fn session_id_is_keyed_hash_that_correlates() {
    let r = Redactor::new(&RedactConfig::default()).unwrap();
    let mk = || obj(json!({"session": {"id": "s-0042"}, "message": "hi"}));
    let (mut a, mut b, mut c) = (mk(), mk(), mk());
    r.redact_event(&mut a, b"tenant-a");
    r.redact_event(&mut b, b"tenant-a");
    r.redact_event(&mut c, b"tenant-b");
    let ha = a["session"]["id"].as_str().unwrap();
    assert!(
        ha.starts_with("[HASH:session_id:") && ha.len() == "[HASH:session_id:]".len() + 16,
        "{ha}"
    );
    assert_eq!(a["session"]["id"], b["session"]["id"]);
    assert_ne!(a["session"]["id"], c["session"]["id"]);
    assert_eq!(a["ward"]["redactions"][0]["action"], "hash");
}

#[test]
fn json_in_strings_and_query_strings() {
    let (out, _) = redact(
        &RedactConfig::default(),
        json!({
            "message": r#"{"user":"bob","password":"hunter2","n":1}"#,
            "url": {"full": "https://shop.example.com/login?user=bob&token=tk_9f8e7d6c5b4a&next=%2F", "query": "password=pw1&page=2"}
        }),
    );
    let inner: Value = serde_json::from_str(out["message"].as_str().unwrap()).unwrap();
    assert_eq!(
        inner,
        json!({"user": "bob", "password": "[REDACTED:password]", "n": 1})
    );
    assert_eq!(
        out["url"]["full"],
        "https://shop.example.com/login?user=bob&token=[REDACTED:token]&next=%2F"
    );
    assert_eq!(out["url"]["query"], "password=[REDACTED:password]&page=2");
}

#[test]
fn raw_bodies_become_metadata() {
    let body = r#"{"card":"4242424242424242"}"#;
    let (out, report) = redact(
        &RedactConfig::default(),
        json!({"http": {"request": {"mime_type": "application/json", "body": {"content": body}}, "response": {"body": {"content": "ok", "bytes": 2}}}}),
    );
    let req = &out["http"]["request"]["body"];
    assert!(req.get("content").is_none());
    assert_eq!(req["bytes"], body.len());
    assert_eq!(req["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(req["content_type"], "application/json");
    assert!(out["http"]["response"]["body"].get("content").is_none());
    assert!(
        report
            .redactions
            .iter()
            .all(|r| r.kind == Kind::RawBody && r.action == Action::Drop)
    );
    assert_eq!(report.redactions.len(), 2);
}

#[test]
fn actions_and_overrides() {
    let mut cfg = RedactConfig::default();
    cfg.actions.insert("email".into(), Action::Mask);
    cfg.fields.insert("user.email".into(), Action::Keep);
    cfg.fields.insert("debug.*".into(), Action::Drop);
    let (out, _) = redact(
        &cfg,
        json!({
            "user": {"email": "bob@example.com"},
            "message": "contact carol@example.com, card 4242-4242-4242-4242",
            "debug": {"note": "ssn 123-45-6789", "plain": "nothing here"}
        }),
    );
    assert_eq!(out["user"]["email"], "bob@example.com");
    assert_eq!(
        out["message"],
        "contact [REDACTED:email], card [CARD:…4242]"
    );
    assert!(out["debug"].get("note").is_none(), "{out}");
    assert_eq!(out["debug"]["plain"], "nothing here");
}

#[test]
fn leaks_are_flagged() {
    let (out, report) = redact(
        &RedactConfig::default(),
        json!({
            "ai": {"prompt": {"text": "fix this: export GITHUB_TOKEN=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 and mail dave@example.com"}},
            "error": {"message": "auth failed with key AKIAIOSFODNN7EXAMPLE"},
            "message": "sent to erin@example.com"
        }),
    );
    let kinds: Vec<&str> = out["ward"]["leak"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let fields: Vec<&str> = out["ward"]["leak"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"github_token")
            && kinds.contains(&"email")
            && kinds.contains(&"aws_access_key_id"),
        "{kinds:?}"
    );
    assert_eq!(fields, vec!["ai.prompt.text", "error.message"]);
    assert!(
        !report.leaks.iter().any(|l| l.field == "message"),
        "an e-mail in a message is not a leak"
    );
}

#[test]
fn redaction_is_idempotent_on_a_rich_event() {
    let r = Redactor::new(&RedactConfig::default()).unwrap();
    let mut ev = obj(json!({
        "session": {"id": "abc"}, "user": {"password": "x", "email": "a@b.example.com"},
        "message": "card 4111 1111 1111 1111 ssn 123-45-6789 jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlXzEyMzQ1",
        "http": {"request": {"body": {"content": "secret body"}}}
    }));
    r.redact_event(&mut ev, b"k");
    let once = ev.clone();
    let second = r.redact_event(&mut ev, b"k");
    assert!(second.is_empty(), "{second:?}");
    assert_eq!(ev, once);
}

#[test]
fn bad_config_lists_every_problem_without_values() {
    let mut cfg = RedactConfig::default();
    cfg.actions.insert("paswrd".into(), Action::Mask);
    cfg.allow_values.push("pw1".into());
    let err = Redactor::new(&cfg).unwrap_err();
    let RedactError::InvalidConfig(problems) = &err else {
        panic!("{err}")
    };
    assert_eq!(problems.len(), 2);
    let text = err.to_string();
    assert!(
        text.contains("redact.actions.paswrd") && text.contains("redact.allow_values[0]"),
        "{text}"
    );
    assert!(
        !text.contains("pw1"),
        "the error must not echo the allow-listed value"
    );
}

#[test]
fn text_redaction_for_log_lines() {
    let r = Redactor::new(&RedactConfig::default()).unwrap();
    let (out, report) = r.redact_text(
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----\nnext line stays",
        b"k",
    );
    assert_eq!(out, "[REDACTED:private_key]\nnext line stays");
    assert_eq!(report.leaks.len(), 1);
}

#[test]
fn too_deep_subtrees_are_replaced_once() {
    let mut v = json!("ssn 123-45-6789");
    for _ in 0..110 {
        v = json!({ "a": v });
    }
    let r = Redactor::new(&RedactConfig::default()).unwrap();
    let mut ev = obj(v);
    let first = r.redact_event(&mut ev, b"k");
    assert!(!Value::Object(ev.clone()).to_string().contains("6789"));
    assert_eq!(first.redactions[0].kind, Kind::RawBody);
    assert!(r.redact_event(&mut ev, b"k").is_empty());
}

#[test]
fn numbers_that_are_cards_or_under_secret_names() {
    let (out, _) = redact(
        &RedactConfig::default(),
        json!({"ref": 4242424242424242u64, "order": 4242424242424241u64, "cvv": 123, "status": 200, "ratio": 0.5}),
    );
    assert_eq!(out["ref"], "[CARD:…4242]");
    assert_eq!(out["order"], 4242424242424241u64);
    assert_eq!(out["cvv"], "[REDACTED:cvv]");
    assert_eq!(out["status"], 200);
    assert_eq!(out["ratio"], 0.5);
}

/// A text repeated in one event (a recognizer's ECS copy of a native
/// field) is redacted wherever it is, each copy under its own field's
/// action and recorded under its own path.
#[test]
fn repeated_texts_are_redacted_alike_under_their_own_actions() {
    let long = "powershell.exe -enc SQBFAFgA -user ops --note contact carol@example.com";
    let clean = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -NoProfile";
    let mut cfg = RedactConfig::default();
    cfg.actions.insert("email".into(), Action::Keep);
    cfg.fields
        .insert("process.command_line".into(), Action::Mask);
    let (out, report) = redact(
        &cfg,
        json!({
            "Event": {"EventData": {"CommandLine": long, "Image": clean, "Other": long}},
            "process": {"command_line": long, "executable": clean},
            "later": {"text": clean, "copy": "token=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 ok"},
            "again": {"copy": "token=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 ok"}
        }),
    );
    // Kept by the kind's action where no field action applies, masked in
    // the field whose own action is mask.
    assert_eq!(out["Event"]["EventData"]["CommandLine"], long);
    assert_eq!(out["Event"]["EventData"]["Other"], long);
    assert_ne!(out["process"]["command_line"], long, "{out}");
    assert!(
        !out["process"]["command_line"]
            .as_str()
            .unwrap()
            .contains("carol@example.com"),
        "{out}"
    );
    for v in [
        &out["Event"]["EventData"]["Image"],
        &out["process"]["executable"],
        &out["later"]["text"],
    ] {
        assert_eq!(v, clean);
    }
    // A secret is found in every copy, each recorded.
    for v in [&out["later"]["copy"], &out["again"]["copy"]] {
        assert!(!v.as_str().unwrap().contains("ghp_"), "{out}");
    }
    let fields: Vec<&str> = report.redactions.iter().map(|r| r.field.as_str()).collect();
    for f in ["later.copy", "again.copy", "process.command_line"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
}
