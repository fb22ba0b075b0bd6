//! Real deliveries to local receivers: the generic webhook (signature,
//! headers, idempotency key), Alertmanager's webhook format, Slack,
//! PagerDuty and syslog/CEF payloads; an outage across an engine restart;
//! the destination guard.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use ward_alert::Resolution;

use super::{Receiver, config, engine_now, finding};

fn webhook_cfg(url: &str, extra: &str) -> String {
    format!(
        r#"
allow_private_destinations = true
public_url = "https://ward.example.com"
[delivery]
initial_backoff = "50ms"
max_backoff = "200ms"
[[receivers]]
name = "team"
[[receivers.webhook_configs]]
url = "{url}"
{extra}
[route]
receiver = "team"
group_by = ["alertname"]
group_wait = "0s"
group_interval = "200ms"
"#
    )
}

#[tokio::test]
async fn webhook_is_signed_and_carries_the_idempotency_key() {
    let rx = Receiver::start().await;
    let cfg = webhook_cfg(
        &rx.url("/hook"),
        "secret = \"s3cret\"\nheaders = { \"X-Team\" = \"blue\" }",
    );
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine_now(&config(&cfg), dir.path()).await;
    let id = e
        .on_finding(finding(
            "f1",
            "brute",
            "high",
            &[("service.name", "checkout"), ("user.name", "bob")],
        ))
        .await
        .unwrap();
    let got = rx.wait_for(1, 10).await;
    let r = &got[0];
    assert_eq!(r.path, "/hook");
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(&r.body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.headers["x-ward-signature"].to_str().unwrap(), want);
    assert_eq!(r.headers["x-team"], "blue");
    let body = r.json();
    assert_eq!(
        r.headers["idempotency-key"].to_str().unwrap(),
        body["idempotency_key"].as_str().unwrap()
    );
    assert_eq!(body["version"], "1");
    assert_eq!(body["status"], "firing");
    let a = &body["alerts"][0];
    assert_eq!(a["id"], id.as_str());
    assert_eq!(a["url"], format!("https://ward.example.com/#/alerts/{id}"));
    assert_eq!(a["runbook"], "https://runbooks.example/brute-force");
    assert_eq!(a["evidence"], serde_json::json!(["f1-e1", "f1-e2"]));
    assert_eq!(a["labels"]["service"], "checkout");
    assert_eq!(a["labels"]["user"], "bob");
    assert_eq!(a["labels"]["alertname"], "Rule brute");
    // The delivery log shows the attempt.
    let log = wait_log(&e, "team", "delivered").await;
    assert_eq!(
        log.idempotency_key,
        body["idempotency_key"].as_str().unwrap()
    );
    e.shutdown(std::time::Duration::from_millis(500)).await;
}

async fn wait_log(
    e: &ward::alert::Engine,
    receiver: &str,
    outcome: &str,
) -> ward::alert::store::Delivery {
    for _ in 0..500 {
        if let Some(d) = e
            .deliveries(receiver, 100)
            .unwrap()
            .into_iter()
            .find(|d| d.outcome == outcome)
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "no {outcome} delivery for {receiver}: {:?}",
        e.deliveries(receiver, 100)
    );
}

#[tokio::test]
async fn alertmanager_webhook_format_has_the_exact_fields() {
    let rx = Receiver::start().await;
    let cfg = webhook_cfg(&rx.url("/am"), "format = \"alertmanager\"");
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine_now(&config(&cfg), dir.path()).await;
    let id = e
        .on_finding(finding(
            "f1",
            "brute",
            "critical",
            &[("service.name", "db")],
        ))
        .await
        .unwrap();
    let body = rx.wait_for(1, 10).await[0].json();
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    let want: BTreeSet<String> = [
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
        "idempotencyKey",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(keys(&body), want);
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "team");
    assert_eq!(body["externalURL"], "https://ward.example.com");
    assert_eq!(
        body["groupLabels"],
        serde_json::json!({"alertname": "Rule brute"})
    );
    let a = &body["alerts"][0];
    let want: BTreeSet<String> = [
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(keys(a), want);
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        a["labels"]["service_name"], "db",
        "label names are Prometheus-valid"
    );
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["annotations"]["ward_alert_id"], id.as_str());
    assert_eq!(body["commonLabels"]["alertname"], "Rule brute");
    e.resolve(&id, "ana", Resolution::Benign, None)
        .await
        .unwrap();
    let got = rx.wait_for(2, 10).await;
    let resolved = got[1].json();
    assert_eq!(resolved["status"], "resolved");
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    e.shutdown(std::time::Duration::from_millis(500)).await;
}

#[tokio::test]
async fn outage_and_restart_lose_nothing() {
    let rx = Receiver::start().await;
    *rx.status.lock() = StatusCode::SERVICE_UNAVAILABLE;
    let cfg = config(&webhook_cfg(&rx.url("/hook"), ""));
    let dir = tempfile::tempdir().unwrap();
    let mut fired = Vec::new();
    {
        let (e, _audit) = engine_now(&cfg, dir.path()).await;
        for i in 0..3 {
            fired.push(
                e.on_finding(finding(
                    &format!("f{i}"),
                    "brute",
                    "high",
                    &[("host.name", &format!("h{i}"))],
                ))
                .await
                .unwrap(),
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        wait_log(&e, "team", "retry").await;
        e.shutdown(std::time::Duration::from_millis(500)).await;
    }
    let (e, _audit) = engine_now(&cfg, dir.path()).await;
    for i in 3..5 {
        fired.push(
            e.on_finding(finding(
                &format!("f{i}"),
                "brute",
                "high",
                &[("host.name", &format!("h{i}"))],
            ))
            .await
            .unwrap(),
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    *rx.status.lock() = StatusCode::OK;
    // Wait until a notification carrying all five alerts arrived.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let got = loop {
        let got = rx.received();
        if got
            .iter()
            .any(|r| r.json()["alerts"].as_array().unwrap().len() == 5)
        {
            break got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "got {} notifications, none with all alerts",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let bodies: Vec<Value> = got.iter().map(|r| r.json()).collect();
    let seen: BTreeSet<String> = bodies
        .iter()
        .flat_map(|b| {
            b["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(seen, fired.iter().cloned().collect::<BTreeSet<_>>());
    // In order within the group: each notification was created no earlier than the previous one.
    let created: Vec<&str> = bodies
        .iter()
        .map(|b| b["created_at"].as_str().unwrap())
        .collect();
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(created, sorted);
    // The alert count grows from notification to notification; keys are unique per notification.
    let counts: Vec<usize> = bodies
        .iter()
        .map(|b| b["alerts"].as_array().unwrap().len())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    let keys: BTreeSet<&str> = bodies
        .iter()
        .map(|b| b["idempotency_key"].as_str().unwrap())
        .collect();
    let ids: BTreeSet<&str> = bodies.iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), ids.len(), "one key per notification");
    e.shutdown(std::time::Duration::from_millis(500)).await;
}

#[tokio::test]
async fn private_destinations_are_refused_and_urls_never_logged() {
    let rx = Receiver::start().await;
    let url = format!("http://localhost:{}/hook?token=TOPSECRET", rx.addr.port());
    let cfg = webhook_cfg(&url, "").replace(
        "allow_private_destinations = true",
        "allow_private_destinations = false",
    );
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine_now(&config(&cfg), dir.path()).await;
    e.on_finding(finding("f1", "brute", "high", &[]))
        .await
        .unwrap();
    let d = wait_log(&e, "team", "failed").await;
    let detail = d.detail.unwrap();
    assert!(detail.contains("destination refused"), "{detail}");
    assert!(!detail.contains("TOPSECRET"), "{detail}");
    assert!(rx.received().is_empty());
    e.shutdown(std::time::Duration::from_millis(500)).await;
}

#[tokio::test]
async fn slack_pagerduty_and_syslog_payloads() {
    let rx = Receiver::start().await;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cfg = format!(
        r##"
allow_private_destinations = true
[[receivers]]
name = "multi"
[[receivers.slack_configs]]
url = "{}"
channel = "#sec"
[[receivers.pagerduty_configs]]
routing_key = "rk-123"
url = "{}"
[[receivers.syslog_configs]]
address = "{}"
[route]
receiver = "multi"
group_wait = "0s"
group_interval = "200ms"
"##,
        rx.url("/slack"),
        rx.url("/pd"),
        udp.local_addr().unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine_now(&config(&cfg), dir.path()).await;
    let id = e
        .on_finding(finding(
            "f1",
            "brute|force",
            "critical",
            &[("host.name", "web-1"), ("user.name", "bob")],
        ))
        .await
        .unwrap();
    let got = rx.wait_for(2, 10).await;
    let slack = got.iter().find(|r| r.path == "/slack").unwrap().json();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING:1] Rule brute|force (critical)")
    );
    assert_eq!(slack["channel"], "#sec");
    assert_eq!(slack["blocks"][0]["type"], "header");
    assert!(
        slack["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("host web-1, user bob")
    );
    let pd = got.iter().find(|r| r.path == "/pd").unwrap().json();
    assert_eq!(pd["routing_key"], "rk-123");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["payload"]["severity"], "critical");
    assert_eq!(pd["payload"]["source"], "web-1");
    let dedup = pd["dedup_key"].as_str().unwrap().to_string();
    let mut buf = vec![0u8; 65536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), udp.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let line = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(line.starts_with("<162>1 "), "{line}");
    assert!(
        line.contains(&format!(
            "CEF:0|Ward|Ward|{}|brute\\|force|Rule brute\\|force|10|",
            env!("CARGO_PKG_VERSION")
        )),
        "{line}"
    );
    assert!(
        line.contains(&format!("externalId={id}"))
            && line.contains("suser=bob")
            && line.contains("shost=web-1"),
        "{line}"
    );
    e.resolve(&id, "ana", Resolution::TruePositive, None)
        .await
        .unwrap();
    let got = rx.wait_for(4, 10).await;
    let pd2 = got
        .iter()
        .filter(|r| r.path == "/pd")
        .nth(1)
        .unwrap()
        .json();
    assert_eq!(pd2["event_action"], "resolve");
    assert_eq!(pd2["dedup_key"], dedup.as_str(), "same incident");
    e.shutdown(std::time::Duration::from_millis(500)).await;
}
