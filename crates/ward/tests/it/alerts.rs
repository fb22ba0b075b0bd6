//! From events to the people responsible: a real `ward serve` detects a
//! brute force in events sent over HTTP, opens an alert, delivers it to a
//! webhook (`WARD_ALERT_WEBHOOK_URL`), and an analyst acknowledges it with
//! `ward alerts`, which is itself stored as an audit event.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// A minimal HTTP/1.1 receiver that records every request body.
pub(crate) fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let b = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in l.incoming().flatten() {
            let b = Arc::clone(&b);
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let t = line.trim_end();
                        if t.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = t.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    b.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                    let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (url, bodies)
}

#[test]
fn a_brute_force_reaches_the_webhook_and_is_acknowledged() {
    let (url, bodies) = receiver();
    let w = Ward::start_with(
        Some(
            "[alerting]\nallow_private_destinations = true\n[alerting.route]\ngroup_wait = \"0s\"\n",
        ),
        &[("WARD_ALERT_WEBHOOK_URL", url.as_str())],
    );
    let events = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../rules/authentication/brute_force.pos.jsonl"
    ))
    .unwrap();
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", events);
    assert_eq!(status, 200, "{answer}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        let found = bodies
            .lock()
            .unwrap()
            .iter()
            .find(|b| b.contains("Brute force against one account"))
            .cloned();
        if let Some(b) = found {
            break b;
        }
        assert!(
            Instant::now() < deadline,
            "no webhook delivery:\n{}",
            w.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let payload: Value = serde_json::from_str(&delivered).unwrap();
    let text = payload.to_string();
    assert!(text.contains("alice"), "the affected user is named: {text}");

    let out = w.cli(&["alerts", "list", "--format", "json"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let alerts = list
        .get("alerts")
        .unwrap_or(&list)
        .as_array()
        .unwrap()
        .clone();
    let alert = alerts
        .iter()
        .find(|a| a.to_string().contains("Brute force against one account"))
        .unwrap_or_else(|| panic!("alert not listed: {list}"));
    let id = alert["id"].as_str().unwrap();
    let out = w.cli(&["alerts", "ack", id, "--comment", "looking into it"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let audit = w.wait_for(
        "event.dataset:ward.alert AND event.action:alert_acknowledged",
        1,
    );
    assert_eq!(
        audit.len(),
        1,
        "acknowledgement is stored as an audit event"
    );
}

#[test]
fn a_quiet_correlation_window_closes_by_the_wall_clock() {
    // "Fewer than 3 logins in 10 minutes" is decided when the window is
    // over; with no later event, `ward serve` closes it by the wall clock.
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("few.yml"),
        "title: Login\nid: 0b7f2a51-6c1e-4c55-9d43-1a0f3f6e9b01\nname: login\nlogsource:\n    category: authentication\ndetection:\n    sel:\n        event.action: login\n    condition: sel\nlevel: low\n---\n\
         title: Fewer logins than usual\nid: 0b7f2a51-6c1e-4c55-9d43-1a0f3f6e9b02\ncorrelation:\n    type: event_count\n    rules: [login]\n    group-by: [user.name]\n    timespan: 10m\n    condition:\n        lt: 3\nlevel: high\n",
    )
    .unwrap();
    let config = format!(
        "[detect]\nbuiltin_rules = false\nrules = [\"{}\"]\n",
        rules.path().display()
    );
    let w = Ward::start_with(Some(&config), &[]);
    let two_hours_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2);
    let event = serde_json::json!({
        "@timestamp": two_hours_ago.to_string(),
        "event": {"category": "authentication", "action": "login", "outcome": "success"},
        "user": {"name": "zed"},
        "service": {"name": "api"},
        "message": "login",
    });
    let (status, answer) = w.post(
        "/api/v1/ingest",
        "application/x-ndjson",
        format!("{event}\n"),
    );
    assert_eq!(status, 200, "{answer}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = w.cli(&["alerts", "list", "--format", "json"], None);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("Fewer logins than usual") {
            assert!(text.contains("zed"), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the quiet window was not closed:\n{text}\n{}",
            w.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
