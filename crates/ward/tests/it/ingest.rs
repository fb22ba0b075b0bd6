//! HTTP ingest: NDJSON (plain and gzip), per-line rejections, dead letters,
//! limits, authentication, Splunk HEC, `ward send`, back-pressure.

use std::io::Write as _;

use serde_json::{Value, json};

use crate::harness::*;

#[test]
fn ndjson_in_the_logging_standard_shape_is_normalized() {
    let w = Ward::start();
    let body = concat!(
        r#"{"timestamp":"2026-01-26T11:00:00+01:00","service":"checkout","event_type":"login_failure","severity":"warning","user_id":"alice","session_id":"s-1","source_ip":"203.0.113.9","action":"login","outcome":"failure","correlation_id":"c-42"}"#,
        "\n",
        r#"{"@timestamp":"2026-01-26T10:00:01Z","service":{"name":"api"},"event":{"category":["iam"],"action":"role_assigned","outcome":"success"},"user":{"name":"bob"},"source.ip":"2001:db8::1","log.level":"info"}"#,
        "\n",
    );
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["rejected"], json!([]));
    let hits = w.wait_for("service.name:checkout", 1);
    assert_eq!(hits.len(), 1);
    let e = &hits[0];
    assert_eq!(s(e, "@timestamp"), "2026-01-26T10:00:00.000Z");
    assert_eq!(s(e, "user.id"), "alice");
    assert_eq!(s(e, "source.ip"), "203.0.113.9");
    assert_eq!(s(e, "event.outcome"), "failure");
    assert_eq!(s(e, "trace.id"), "c-42");
    assert_eq!(s(e, "log.level"), "WARN");
    assert_eq!(s(e, "tenant.id"), "default");
    assert_eq!(s(e, "ward.input"), "http");
    assert!(!s(e, "event.id").is_empty());
    let cat = field(e, "event.category").unwrap().to_string();
    assert!(cat.contains("authentication"), "{cat}");
    let hits = w.wait_for("user.name:bob", 1);
    assert_eq!(s(&hits[0], "source.ip"), "2001:db8::1");
    assert_eq!(s(&hits[0], "log.level"), "INFO");
    assert_eq!(s(&hits[0], "event.action"), "role_assigned");
}

#[test]
fn rejected_lines_are_numbered_and_kept_as_dead_letters() {
    let w = Ward::start();
    let mut body = Vec::new();
    body.extend_from_slice(b"{\"service\":\"a\",\"message\":\"one\"}\n");
    body.extend_from_slice(b"{not json\n");
    body.extend_from_slice(b"{\"service\":\"a\",\"message\":\"\xff\xfe bad utf8\"}\n");
    body.extend_from_slice(&b"[".repeat(10_000));
    body.push(b'\n');
    body.extend_from_slice(b"{\"service\":\"a\",\"message\":\"five\"}\n");
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 2, "{answer}");
    let rejected = answer["rejected"].as_array().unwrap();
    let lines: Vec<u64> = rejected
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![2, 3, 4], "{answer}");
    for r in rejected {
        assert!(!r["reason"].as_str().unwrap().is_empty());
    }
    assert!(
        rejected[2]["reason"].as_str().unwrap().contains("depth"),
        "{answer}"
    );
    let dead = w.wait_for("ward.dead_letter:true", 3);
    assert_eq!(dead.len(), 3, "dead letters: {dead:?}");
    assert_eq!(w.wait_for("service.name:a", 2).len(), 2);
}

#[test]
fn gzip_bodies_and_truncated_gzip() {
    let w = Ward::start();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..100 {
        writeln!(enc, "{{\"service\":\"gz\",\"message\":\"m{i}\"}}").unwrap();
    }
    let gz = enc.finish().unwrap();
    let r = Ward::client()
        .post(format!("{}/api/v1/ingest", w.url()))
        .bearer_auth(TOKEN)
        .header("content-encoding", "gzip")
        .body(gz.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().unwrap()["accepted"], 100);
    let r = Ward::client()
        .post(format!("{}/api/v1/ingest", w.url()))
        .bearer_auth(TOKEN)
        .header("content-encoding", "gzip")
        .body(gz[..gz.len() / 2].to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let err = r.json::<Value>().unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(err.contains("gzip"), "{err}");
    assert_eq!(w.wait_for("service.name:gz", 100).len(), 100);
}

#[test]
fn a_line_over_the_limit_is_rejected_and_the_others_kept() {
    let w = Ward::start_with(Some("[limits]\nmax_line_bytes = 1024\n"), &[]);
    let big = format!(
        "{{\"service\":\"lim\",\"message\":\"{}\"}}",
        "x".repeat(5000)
    );
    let body = format!(
        "{{\"service\":\"lim\",\"message\":\"a\"}}\n{big}\n{{\"service\":\"lim\",\"message\":\"c\"}}\n"
    );
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["rejected"][0]["line"], 2);
    assert_eq!(w.wait_for("service.name:lim", 2).len(), 2);
}

#[test]
fn a_request_over_the_size_limit_gets_413() {
    let w = Ward::start_with(Some("[limits]\nmax_request_bytes = 4096\n"), &[]);
    let body = "{\"service\":\"x\"}\n".repeat(1000);
    let (status, _) = w.post("/api/v1/ingest", "application/x-ndjson", body);
    assert_eq!(status, 413);
}

#[test]
fn missing_or_wrong_token_is_refused_and_recorded() {
    let w = Ward::start();
    let r = Ward::client()
        .post(format!("{}/api/v1/ingest", w.url()))
        .header("authorization", "Bearer wrong-token-value")
        .body("{\"service\":\"x\"}\n")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = Ward::client()
        .post(format!("{}/api/v1/ingest", w.url()))
        .body("{\"service\":\"x\"}\n")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Refusals are aggregated per peer and minute: the first is recorded
    // at once, the second counted (and recorded when the minute ends).
    let hits = w.wait_for("event.action:ingest_token_rejected", 1);
    assert!((1..=2).contains(&hits.len()), "{hits:?}");
    assert_eq!(hits[0]["event"]["count"], 1);
    assert_eq!(s(&hits[0], "event.outcome"), "failure");
    assert_eq!(s(&hits[0], "source.ip"), "127.0.0.1");
    let text = serde_json::to_string(&hits).unwrap();
    assert!(
        !text.contains("wrong-token-value"),
        "the presented token must not be stored"
    );
}

#[test]
fn splunk_hec_event_and_raw() {
    let w = Ward::start();
    let body = r#"{"time": 1769421600.5, "host": "web-1", "source": "app.log", "sourcetype": "_json", "event": {"event_type": "login_success", "user_id": "carol", "source_ip": "198.51.100.7", "service": "portal"}, "fields": {"env": "prod"}}{"event": "plain text event", "host": "web-2"}"#;
    let r = Ward::client()
        .post(format!("{}/services/collector/event", w.url()))
        .header("authorization", format!("Splunk {TOKEN}"))
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"text": "Success", "code": 0})
    );
    let hits = w.wait_for("user.id:carol", 1);
    let e = &hits[0];
    assert_eq!(s(e, "host.name"), "web-1");
    assert_eq!(s(e, "@timestamp"), "2026-01-26T10:00:00.500Z");
    assert_eq!(s(e, "source.ip"), "198.51.100.7");
    assert_eq!(s(e, "service.name"), "portal");
    assert_eq!(w.wait_for("host.name:web-2", 1).len(), 1);

    let r = Ward::client()
        .post(format!(
            "{}/services/collector/raw?host=raw-host&sourcetype=syslog",
            w.url()
        ))
        .header("authorization", format!("Splunk {TOKEN}"))
        .body("first raw line\nsecond raw line\n")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(w.wait_for("host.name:raw-host", 2).len(), 2);

    let r = Ward::client()
        .post(format!("{}/services/collector/event", w.url()))
        .header("authorization", "Splunk not-the-token")
        .body(r#"{"event":"x"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.json::<Value>().unwrap()["code"], 4);
}

#[test]
fn ward_send_from_stdin_and_files() {
    let w = Ward::start();
    let out = w.cli(
        &["send"],
        Some(b"{\"service\":\"sender\",\"event_type\":\"config_change\",\"user_id\":\"dave\"}\n{\"service\":\"sender\"}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 accepted"));
    let file = w.dir.path().join("lines.txt");
    std::fs::write(&file, "plain line one\nplain line two\nplain line three\n").unwrap();
    let out = w.cli(&["send", "--quiet", file.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(w.wait_for("service.name:sender", 2).len(), 2);
    assert_eq!(w.wait_for("\"plain line two\"", 1).len(), 1);
    let bad = w.cli(&["send"], Some(b"{\"ok\":1}\n{broken\n"));
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("stdin:2"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn a_full_pipeline_answers_429_with_retry_after_and_loses_nothing() {
    let w = Ward::start_with(
        Some("[limits]\nqueue_capacity = 1\n[store]\ngroup_commit_max_wait = \"20ms\"\n"),
        &[],
    );
    let url = w.url();
    let results: Vec<(u16, Option<String>, usize)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..32)
            .map(|t| {
                let url = url.clone();
                sc.spawn(move || {
                    let body: String = (0..200)
                        .map(|i| format!("{{\"service\":\"bp\",\"message\":\"t{t} m{i}\"}}\n"))
                        .collect();
                    let r = Ward::client()
                        .post(format!("{url}/api/v1/ingest"))
                        .bearer_auth(TOKEN)
                        .body(body)
                        .send()
                        .unwrap();
                    let status = r.status().as_u16();
                    let retry = r
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let accepted = r
                        .json::<Value>()
                        .ok()
                        .and_then(|v| v["accepted"].as_u64())
                        .unwrap_or(0) as usize;
                    (status, retry, accepted)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut stored_expected = 0;
    for (status, retry, accepted) in &results {
        match status {
            200 => stored_expected += accepted,
            429 => assert_eq!(retry.as_deref(), Some("1")),
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(results.iter().any(|r| r.0 == 200));
    let r = Ward::client()
        .get(format!("{}/api/v1/events/search", w.url()))
        .bearer_auth(&w.admin)
        .query(&[
            ("q", "service.name:bp | count by service.name"),
            ("since", "3650d"),
        ])
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    let count = r["aggregation"]["buckets"]["buckets"][0]["count"]
        .as_u64()
        .unwrap_or(0) as usize;
    assert_eq!(
        count, stored_expected,
        "every acknowledged event is stored, nothing else: {r}"
    );
}

#[test]
fn health_ready_and_metrics() {
    let w = Ward::start();
    let (status, _) = w.post(
        "/api/v1/ingest",
        "application/x-ndjson",
        "{\"service\":\"m\"}\n{bad\n",
    );
    assert_eq!(status, 200);
    let c = Ward::client();
    assert_eq!(
        c.get(format!("{}/healthz", w.url()))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        c.get(format!("{}/readyz", w.url()))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let resp = c
        .get(format!("{}/metrics", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let m = resp.text().unwrap();
    assert!(m.ends_with("# EOF\n"), "{m}");
    assert!(
        m.contains("ward_ingest_received_total{input=\"http\",source=\"default\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("ward_ingest_rejected_total{input=\"http\",source=\"default\"} 1"),
        "{m}"
    );
    assert!(m.contains("ward_pipeline_latency_seconds_count"), "{m}");
    assert!(m.contains("ward_ingest_bytes_total"), "{m}");
    let page = c
        .get(format!("{}/", w.url()))
        .header("accept", "text/html")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("action=\"/api/v1/login\""),
        "a browser without a session is sent to the login form: {page}"
    );
    let es = c.get(format!("{}/", w.url())).send().unwrap();
    assert_eq!(es.headers()["x-elastic-product"], "Elasticsearch");
}
