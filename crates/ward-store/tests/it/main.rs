//! Integration tests of ward-store: one binary, a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod append;
mod archive;
mod compat;
mod crash;
mod damage;
mod full_disk;
mod merkle;
mod query;
mod retention;
mod search;
mod tamper;
mod verify;
mod witness;

use std::path::Path;
use std::time::Duration;
use ward_store::{Record, StoreConfig};

/// A configuration for tests: no background thread (the test drives
/// sealing and checkpoints), small segments.
pub fn test_config(dir: &Path) -> StoreConfig {
    StoreConfig {
        dir: dir.to_owned(),
        segment_max_bytes: 64 << 10,
        segment_max_age: Duration::from_secs(3600),
        group_commit_max_wait: Duration::ZERO,
        checkpoint_interval: Duration::from_secs(3600),
        background: false,
        ..StoreConfig::default()
    }
}

pub const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// A typical ~400-byte ECS event, with its index terms.
pub fn event(i: u64) -> Record {
    let user = format!("user{}", i % 50);
    let ip = format!("10.{}.{}.{}", (i / 65536) % 256, (i / 256) % 256, i % 256);
    let host = format!("web-{:02}", i % 7);
    let status = [200, 201, 302, 404, 500, 503][(i % 6) as usize];
    let (cat, action) = if i.is_multiple_of(3) {
        ("authentication", "login")
    } else {
        ("web", "request")
    };
    let id = format!("evt-{i:08}");
    let time_ms = T0 + i as i64 * 1000;
    let ts = jiff::Timestamp::from_millisecond(time_ms).unwrap();
    let body = serde_json::json!({
        "@timestamp": ts.to_string(),
        "event": {"id": id, "category": [cat], "action": action, "outcome": if status < 400 {"success"} else {"failure"}},
        "user": {"name": user, "id": format!("u-{}", i % 50)},
        "source": {"ip": ip, "port": 40000 + (i % 1000)},
        "host": {"name": host},
        "service": {"name": "checkout"},
        "http": {"request": {"method": "GET"}, "response": {"status_code": status}},
        "url": {"path": format!("/api/v1/orders/{}", i % 1000)},
        "message": format!("request handled in {} ms", i % 97),
        "log": {"level": "INFO"}
    });
    Record {
        id,
        time_ms,
        category: vec![cat.to_owned()],
        terms: vec![
            ("user.name".into(), user),
            ("user.id".into(), format!("u-{}", i % 50)),
            ("source.ip".into(), ip),
            ("host.name".into(), host),
            ("service.name".into(), "checkout".into()),
            ("event.action".into(), action.into()),
        ],
        body: serde_json::to_vec(&body).unwrap(),
    }
}

pub fn events(range: std::ops::Range<u64>) -> Vec<Record> {
    range.map(event).collect()
}
