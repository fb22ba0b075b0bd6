//! Forged attribution: a sender sets reserved fields (`tenant.*`,
//! `ward.*`, `event.id`, `event.ingested`) nested and flat dotted, through
//! every decoder; each is moved under `ward.sender` and the context Ward
//! stamps is the one read.

use serde_json::{Value, json};
use ward_event::{Context, Event, Limits, finalize};

const FORGED: &str = "FORGED";

const FIELDS: [&str; 10] = [
    "tenant.id",
    "tenant.name",
    "ward.source",
    "ward.input",
    "ward.logsource.product",
    "ward.recognizer",
    "ward.flags",
    "ward.dead_letter",
    "event.id",
    "event.ingested",
];

fn nested(path: &str) -> Value {
    path.rsplit('.')
        .fold(json!(FORGED), |inner, key| json!({ key: inner }))
}

/// Each field in both spellings, as one JSON object (plus an ordinary
/// field).
fn forged_objects() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for f in FIELDS {
        let mut flat = serde_json::Map::new();
        flat.insert(f.to_owned(), json!(FORGED));
        flat.insert("service.name".into(), json!("svc"));
        out.push((format!("flat {f}"), Value::Object(flat)));
        let mut n = nested(f);
        n["service"] = json!({"name": "svc"});
        out.push((format!("nested {f}"), n));
        let mut upper = serde_json::Map::new();
        upper.insert(f.to_uppercase(), json!(FORGED));
        out.push((format!("upper {f}"), Value::Object(upper)));
    }
    out
}

fn ctx() -> Context {
    Context {
        input: "http".into(),
        source: "real-source".into(),
        tenant: "acme".into(),
        received: "2026-01-26T10:00:00Z".parse().unwrap(),
        declared: None,
    }
}

/// The event keeps the forged value only under `ward.sender`, and the
/// finalized event reads Ward's context.
fn check(case: &str, mut e: Event) {
    let text = serde_json::to_string(&e.0).unwrap();
    assert!(
        text.contains(FORGED),
        "{case}: the forged value must be kept"
    );
    let sender = e.get("ward.sender").cloned();
    assert!(
        sender
            .as_ref()
            .is_some_and(|s| s.to_string().contains(FORGED)),
        "{case}: not quarantined: {text}"
    );
    finalize(&mut e, &ctx());
    for f in FIELDS {
        assert_ne!(e.get(f), Some(&json!(FORGED)), "{case}: {f} was forged");
    }
    assert_eq!(e.get_str("tenant.id"), Some("acme"), "{case}");
    assert_eq!(e.get_str("ward.source"), Some("real-source"), "{case}");
    assert_eq!(e.get_str("ward.input"), Some("http"), "{case}");
    // Only Ward's own fields remain in `ward` besides the quarantine.
    let mut without = e.0.clone();
    if let Some(Value::Object(w)) = without.get_mut("ward") {
        w.remove("sender");
    }
    assert!(
        !Value::Object(without).to_string().contains(FORGED),
        "{case}: forged value outside ward.sender"
    );
}

#[test]
fn ndjson() {
    for (case, obj) in forged_objects() {
        let body = format!("{obj}\n");
        let mut out = ward_event::ndjson::decode(body.as_bytes(), &Limits::default());
        check(&format!("ndjson {case}"), out.remove(0).unwrap());
    }
}

#[test]
fn bulk() {
    for (case, obj) in forged_objects() {
        let body = format!("{{\"index\":{{}}}}\n{obj}\n");
        let mut out = ward_event::bulk::decode(body.as_bytes(), &Limits::default());
        check(&format!("bulk {case}"), out.remove(0).doc.unwrap());
    }
}

#[test]
fn hec_event_and_fields() {
    for (case, obj) in forged_objects() {
        let body = json!({ "event": obj, "host": "h" }).to_string();
        let mut out = ward_event::hec::decode_event(body.as_bytes(), &Limits::default());
        check(&format!("hec event {case}"), out.remove(0).unwrap());
        let body = json!({ "event": "plain", "fields": obj }).to_string();
        let mut out = ward_event::hec::decode_event(body.as_bytes(), &Limits::default());
        check(&format!("hec fields {case}"), out.remove(0).unwrap());
    }
}

#[test]
fn otlp_attributes() {
    for f in FIELDS {
        for at in ["resource", "record"] {
            let attr = json!([{ "key": f, "value": { "stringValue": FORGED } }]);
            let (res, rec) = if at == "resource" {
                (attr, json!([]))
            } else {
                (json!([]), attr)
            };
            let body = json!({"resourceLogs": [{
                "resource": { "attributes": res },
                "scopeLogs": [{ "logRecords": [{ "body": { "stringValue": "hi" }, "attributes": rec }] }]
            }]});
            let out =
                ward_event::otlp::decode_json(body.to_string().as_bytes(), &Limits::default())
                    .unwrap();
            let e = out.into_iter().next().unwrap().unwrap();
            check(&format!("otlp {at} {f}"), e);
        }
    }
}

#[test]
fn syslog_json_body() {
    for (case, obj) in forged_objects() {
        let msg = format!("<13>1 2026-01-26T10:00:00Z host app - - - {obj}");
        let e = ward_event::syslog::parse(msg.as_bytes(), jiff::Timestamp::now()).unwrap();
        check(&format!("syslog {case}"), e);
    }
}

#[test]
fn syslog_structured_data_stays_under_its_own_name() {
    let msg =
        "<13>1 2026-01-26T10:00:00Z host app - - [ward source=\"FORGED\"][tenant id=\"FORGED\"] hi";
    let mut e = ward_event::syslog::parse(msg.as_bytes(), jiff::Timestamp::now()).unwrap();
    finalize(&mut e, &ctx());
    assert_eq!(e.get_str("tenant.id"), Some("acme"));
    assert_eq!(e.get_str("ward.source"), Some("real-source"));
    assert!(e.get("syslog.structured_data").is_some());
}

#[test]
fn vendor_records_keep_reserved_fields_quarantined() {
    // Records of a vendor shape keep their native names; a reserved field
    // among them is quarantined like anywhere else, never dropped.
    let github = json!({"_document_id": "d1", "action": "git.clone", "@timestamp": 1764579600000_u64, "actor": "octocat"});
    let cloudtrail = json!({"eventVersion": "1.08", "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventTime": "2026-01-26T10:00:00Z"});
    for (vendor, record) in [("github", github), ("cloudtrail", cloudtrail)] {
        for (case, forged) in forged_objects() {
            let mut obj = record.clone();
            for (k, v) in forged.as_object().unwrap() {
                if k != "service" && k != "service.name" {
                    obj[k] = v.clone();
                }
            }
            let body = format!("{obj}\n");
            let mut out = ward_event::ndjson::decode(body.as_bytes(), &Limits::default());
            check(&format!("{vendor} {case}"), out.remove(0).unwrap());
        }
    }
}
