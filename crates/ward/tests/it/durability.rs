//! The log keeps its promise: a `ward serve` under ingest load is killed
//! with SIGKILL at random moments, many times; after each restart every
//! event whose sender got an acknowledgement is present exactly once, and
//! `ward verify` passes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

const BATCH: usize = 50;

#[test]
fn sigkill_under_load_loses_no_acknowledged_event() {
    let mut w = Ward::start_with(
        Some("[store]\ngroup_commit_max_wait = \"1ms\"\nsegment_max_bytes = 262144\n"),
        &[],
    );
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let rounds = 8;
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let url = w.url();
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let stop = Arc::clone(&stop);
                let acked = Arc::clone(&acked);
                let url = url.clone();
                std::thread::spawn(move || {
                    let client = Ward::client();
                    let mut b = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let id = format!("r{round}-t{t}-b{b}");
                        b += 1;
                        let body: String = (0..BATCH)
                            .map(|i| format!("{{\"service\":\"crashtest\",\"labels\":{{\"batch\":\"{id}\"}},\"message\":\"event {i} of {id}\"}}\n"))
                            .collect();
                        let r = client
                            .post(format!("{url}/api/v1/ingest"))
                            .bearer_auth(TOKEN)
                            .body(body)
                            .send();
                        if let Ok(r) = r
                            && r.status().as_u16() == 200
                            && let Ok(v) = r.json::<Value>()
                            && v["accepted"].as_u64() == Some(BATCH as u64)
                        {
                            acked.lock().unwrap().push(id);
                        }
                    }
                })
            })
            .collect();
        let pause = 150 + (rand_u64() % 600);
        std::thread::sleep(Duration::from_millis(pause));
        w.kill();
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            s.join().unwrap();
        }
        w.spawn();
        let counts = w.batch_counts("crashtest");
        for id in acked.lock().unwrap().iter() {
            assert_eq!(
                counts.get(id).copied(),
                Some(BATCH as u64),
                "round {round}: acknowledged batch {id} must be present exactly once"
            );
        }
        for (id, n) in &counts {
            assert!(
                *n <= BATCH as u64,
                "batch {id} stored {n} times its size: duplicates"
            );
        }
    }
    let total = acked.lock().unwrap().len();
    assert!(
        total > rounds,
        "too little load got through: {total} batches"
    );
    w.stop();
    let out = std::process::Command::new(ward_bin())
        .args(["verify", "--data-dir"])
        .arg(w.data_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ward verify failed after crashes:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .elapsed()
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7),
    );
    h.finish()
}

/// One flipped byte in the middle of the write-ahead segment after a clean
/// stop: the restarted server keeps and serves every other event, and
/// `ward verify` fails naming the damaged record and its quarantine file.
#[test]
fn a_damaged_record_in_the_middle_costs_only_itself() {
    let mut w = Ward::start();
    let total = 2000;
    for b in 0..total / 200 {
        let body: String = (b * 200..(b + 1) * 200)
            .map(|i| format!("{{\"service\":\"damagetest\",\"user_id\":\"u{i}\",\"message\":\"event {i}\"}}\n"))
            .collect();
        assert_eq!(
            w.post("/api/v1/ingest", "application/x-ndjson", body).0,
            200
        );
    }
    let count = |w: &Ward| -> u64 {
        let r = Ward::client()
            .get(format!("{}/api/v1/events/search", w.url()))
            .bearer_auth(&w.admin)
            .query(&[("q", "service.name:damagetest | count"), ("since", "3650d")])
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap();
        r["aggregation"]["count"].as_u64().unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while count(&w) < total && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(count(&w), total);
    w.stop();

    let segments = w.data_dir().join("events/segments");
    let wal = std::fs::read_dir(&segments)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(&wal, &bytes).unwrap();
    // The record holding that byte.
    let mut pos = ward_store::format::HEADER_LEN;
    let mut damaged = 0u64;
    while pos + 8 <= at {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        if pos + 8 + len > at {
            break;
        }
        pos += 8 + len;
        damaged += 1;
    }

    w.spawn();
    assert_eq!(count(&w), total - 1, "every event but the damaged one");
    let log = w.log();
    assert!(log.contains("damaged records"), "{log}");
    // The damage is an alert, from an event only Ward can write.
    let damage_alert = |w: &Ward| -> Option<Value> {
        let alerts: Value = Ward::client()
            .get(format!("{}/api/v1/alerts", w.url()))
            .bearer_auth(&w.admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        alerts["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["rule_title"] == "Event store damage found")
            .cloned()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let alert = loop {
        if let Some(a) = damage_alert(&w) {
            break a;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no damage alert:\n{}",
            w.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alert["severity"], "critical", "{alert}");
    let metrics = w.metrics();
    assert!(
        metrics.contains("ward_store_damaged_records{acknowledged=\"false\"} 1"),
        "{metrics}"
    );
    w.stop();
    let out = w.cli(
        &["verify", "--data-dir", w.data_dir().to_str().unwrap()],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("PROBLEM: Changed in segments/")
            && text.contains(&format!("record {damaged}, byte")),
        "{text}"
    );
    assert!(text.contains(".quarantine"), "{text}");
    assert!(
        text.contains("records not covered by a signed checkpoint"),
        "{text}"
    );

    // An operator looks, then acknowledges it with a signed record: verify
    // passes with a warning naming who and why, and a restart alerts no
    // more.
    let quarantine = std::fs::read_dir(&segments)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "quarantine"))
        .unwrap();
    let out = w.cli(
        &[
            "acknowledge-damage",
            "--data-dir",
            w.data_dir().to_str().unwrap(),
            quarantine.to_str().unwrap(),
            "--by",
            "alice",
            "--reason",
            "bad sector; record restored from the archive",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = w.cli(
        &["verify", "--data-dir", w.data_dir().to_str().unwrap()],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("acknowledged by alice"), "{text}");
    let alerts_before = alert["count"].clone();
    assert!(alerts_before.as_u64().is_some(), "{alert}");
    w.spawn();
    std::thread::sleep(Duration::from_secs(2));
    let again = damage_alert(&w).unwrap();
    assert_eq!(
        again["count"], alerts_before,
        "a restart alerted again: {again}"
    );
    assert!(w.log().contains("acknowledged"), "{}", w.log());
    let metrics = w.metrics();
    assert!(
        metrics.contains("ward_store_damaged_records{acknowledged=\"true\"} 1")
            && metrics.contains("ward_store_damaged_records{acknowledged=\"false\"} 0"),
        "{metrics}"
    );
}

/// `ward verify --witness` against a data directory.
fn verify_with_witness(
    data: &std::path::Path,
    witness: Option<&std::path::Path>,
) -> (bool, String) {
    let mut cmd = std::process::Command::new(ward_bin());
    cmd.arg("verify").arg("--data-dir").arg(data);
    if let Some(w) = witness {
        cmd.arg("--witness").arg(w);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn ingest(w: &Ward, from: usize, n: usize) {
    let body: String = (from..from + n)
        .map(|i| {
            format!("{{\"message\":\"witnessed event {i}\",\"event\":{{\"action\":\"probe\"}}}}\n")
        })
        .collect();
    let (status, v) = w.post("/api/v1/ingest", "application/x-ndjson", body.into_bytes());
    assert_eq!(status, 200, "{v}");
}

#[test]
fn a_witness_catches_a_data_directory_put_back_from_an_older_copy() {
    let outside = tempfile::tempdir().unwrap();
    let witness = outside.path().join("witness");
    let config = format!("[store]\nwitness = \"{}\"\n", witness.display());
    let mut w = Ward::start_with(Some(&config), &[]);
    ingest(&w, 0, 40);
    assert!(w.terminate().success(), "{}", w.log());
    let data = w.data_dir();
    let old = outside.path().join("old-copy");
    crate::harness::copy_tree(&data, &old);
    w.spawn();
    ingest(&w, 40, 60);
    assert!(w.terminate().success(), "{}", w.log());
    let (ok, text) = verify_with_witness(&data, Some(&witness));
    assert!(ok, "{text}");
    assert!(text.contains("witnessed checkpoints read from"), "{text}");
    assert!(text.contains("0 records not covered"), "{text}");

    // The older copy put back: consistent on its own, caught by the witness.
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::rename(&old, &data).unwrap();
    let (ok, text) = verify_with_witness(&data, None);
    assert!(ok, "{text}");
    let (ok, text) = verify_with_witness(&data, Some(&witness));
    assert!(!ok, "{text}");
    assert!(text.contains("witness:"), "{text}");
    assert!(text.contains("missing"), "{text}");
}

#[test]
fn a_witness_inside_the_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("ward.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\ndata_dir = \"{}\"\n[store]\nwitness = \"{}\"\n",
            data.display(),
            data.join("w").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(ward_bin())
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("store.witness"), "{text}");
}
