//! The runtime topology: every stage built and connected once, by one
//! builder; a graceful stop under load that loses nothing and panics
//! nowhere; and one evaluation path, so live detection and `ward detect`
//! find the same things.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use ward::topology::Part;

use crate::harness::*;

const BATCH: usize = 100;

/// Senders keep posting batches until told to stop or refused; returns the
/// batches acknowledged in full.
fn load(url: String, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<String>>>, t: usize) {
    let client = Ward::client();
    let mut b = 0;
    while !stop.load(Ordering::Relaxed) {
        let id = format!("t{t}-b{b}");
        b += 1;
        let body: String = (0..BATCH)
            .map(|i| {
                format!(
                    "{{\"service\":\"sigterm\",\"labels\":{{\"batch\":\"{id}\"}},\"message\":\"event {i} of {id}\"}}\n"
                )
            })
            .collect();
        match client
            .post(format!("{url}/api/v1/ingest"))
            .bearer_auth(TOKEN)
            .body(body)
            .send()
        {
            Ok(r) if r.status().as_u16() == 200 => {
                if r.json::<Value>().ok().and_then(|v| v["accepted"].as_u64()) == Some(BATCH as u64)
                {
                    acked.lock().unwrap().push(id);
                }
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return,
        }
    }
}

#[test]
fn sigterm_under_load_exits_cleanly_and_keeps_every_acknowledged_event() {
    let mut w = Ward::start_with(Some("[server]\ndrain_timeout = \"20s\"\n"), &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..6)
        .map(|t| {
            let (url, stop, acked) = (w.url(), Arc::clone(&stop), Arc::clone(&acked));
            std::thread::spawn(move || load(url, stop, acked, t))
        })
        .collect();
    // Under load: stop once some batches are through, with senders still
    // sending.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let status = w.terminate();
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    let log = w.log();
    assert!(status.success(), "exit {status} after SIGTERM:\n{log}");
    assert!(took < Duration::from_secs(20), "the stop took {took:?}");
    assert!(!log.contains("panicked"), "a panic at shutdown:\n{log}");
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20,
        "too little load: {} batches",
        acked.len()
    );

    let verify = Command::new(ward_bin())
        .args(["verify", "--data-dir"])
        .arg(w.data_dir())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout).into_owned()
        + &String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "ward verify failed:\n{report}");
    assert!(
        report.contains("0 records not covered by a signed checkpoint"),
        "a clean stop signs every record:\n{report}"
    );

    w.spawn();
    let counts = w.batch_counts("sigterm");
    for id in &acked {
        assert_eq!(
            counts.get(id).copied(),
            Some(BATCH as u64),
            "acknowledged batch {id} must be stored exactly once"
        );
    }
}

/// A loopback, port-0 configuration in `dir`.
fn config(dir: &Path) -> ward::config::Config {
    let raw: ward::config::RawConfig = toml::from_str(&format!(
        "[server]\ndata_dir = {:?}\nhttp_addr = \"127.0.0.1:0\"\n[syslog]\naddr = \"127.0.0.1:0\"\n",
        dir.to_str().unwrap()
    ))
    .unwrap();
    raw.validate(None, None).unwrap()
}

#[test]
fn the_builder_connects_every_stage_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ward = ward::topology::build(config(dir.path())).await.unwrap();
        let parts = ward.describe().to_vec();
        let mut stages = BTreeMap::new();
        for p in &parts {
            if let Part::Stage(s) = p {
                *stages.entry(*s).or_insert(0) += 1;
            }
        }
        for s in [
            "http",
            "syslog udp",
            "syslog tcp",
            "audit trail",
            "ingest queue",
            "redact",
            "enrich",
            "store",
            "detect",
            "alert",
            "notify",
            "retention",
            "store watch",
        ] {
            assert_eq!(stages.get(s), Some(&1), "stage {s} built once: {parts:?}");
        }
        let mut edges = BTreeSet::new();
        for p in &parts {
            if let Part::Channel(from, to, _) = p {
                assert!(stages.contains_key(from), "{from} is not a stage");
                assert!(stages.contains_key(to), "{to} is not a stage");
                assert!(edges.insert((*from, *to)), "{from} -> {to} twice");
            }
        }
        // Every stage is reached from an input, and every input reaches
        // the store.
        let inputs = ["http", "syslog udp", "syslog tcp", "audit trail"];
        let mut reached: BTreeSet<&str> = inputs.into_iter().collect();
        loop {
            let before = reached.len();
            for (from, to) in &edges {
                if reached.contains(from) {
                    reached.insert(to);
                }
            }
            if reached.len() == before {
                break;
            }
        }
        for s in stages.keys() {
            assert!(
                reached.contains(s) || *s == "retention" || *s == "store watch",
                "stage {s} is not connected to any input"
            );
        }
        let started = Instant::now();
        ward.drain().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
    });
}

/// Stages are constructed by the topology builder and nowhere else.
#[test]
fn no_stage_is_built_outside_the_topology() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let builders = [
        "Pipeline::start(",
        "Detector::new(",
        "Alerts::start(",
        "axum::serve(",
        "serve_tcp(",
        "serve_udp(",
        "KafkaSource::new(",
        "EventsConsumer::new(",
        "CorrWorker::new(",
        "retention_task(",
        "write_failure_alerts(",
        "audit::run(",
        "std::thread::Builder",
    ];
    for f in files_under(&src, ".rs", None) {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        if rel == "topology.rs" {
            continue;
        }
        // The detection stage's own pool: started by that stage (which the
        // topology builds) for its shares of each batch, ended with it.
        let pool = rel == "detect/workers.rs";
        // The prompt-injection scorer shares the name `Detector`.
        let text = std::fs::read_to_string(&f)
            .unwrap()
            .replace("ward_prompt::Detector::new(", "ward_prompt::Scorer(");
        // Unit tests (the module after `#[cfg(test)]`) start their own
        // local servers, such as a receiver for an outbound client.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in text.lines() {
            let code = line.trim_start();
            if code.starts_with("//")
                || code.starts_with("pub fn")
                || code.starts_with("pub async fn")
                || code.starts_with("fn ")
            {
                continue;
            }
            for b in builders {
                if pool && b == "std::thread::Builder" {
                    continue;
                }
                assert!(
                    !code.contains(b),
                    "{rel} builds a stage ({b}); only topology.rs may: {line}"
                );
            }
        }
    }
}

/// The built-in pack's test events, in a fixed order.
fn pack_events() -> Vec<PathBuf> {
    files_under(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules"),
        ".jsonl",
        None,
    )
}

/// Rules decided by the passage of time (flatline metric rules,
/// correlations with an upper bound, judged when their window closes): the
/// live loop decides them by the wall clock, an offline run never (its
/// windows stay open at the end of input); they are tested on their own.
/// Rules the test cannot compare: decided by the wall clock, or on Ward's
/// own events only.
fn not_comparable() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let loaded = ward::detect::rules::load(false, &[root], &[]);
    // Rules on Ward's own events (`ward.input: ward`, or `gate` for the
    // deploy gate's decisions) cannot fire from
    // events a sender posts: ingest sets a sender's `ward.input` aside, so
    // their fixtures fire only offline, where `ward detect` trusts the file.
    let skipped = |origin: &str| {
        std::fs::read_to_string(origin).is_ok_and(|t| {
            t.contains("ward.input: ward")
                || t.contains("ward.input: gate")
                || t.contains("flatline")
                || t.lines().any(|l| {
                    let l = l.trim_start();
                    l.starts_with("lt:") || l.starts_with("lte:") || l.starts_with("eq:")
                })
        })
    };
    let mut out: BTreeSet<String> = loaded
        .metric
        .defs()
        .filter(|d| skipped(&d.origin))
        .map(|d| d.id.clone())
        .collect();
    out.extend(
        loaded
            .set
            .rules()
            .filter(|r| skipped(&r.origin))
            .map(|r| r.key()),
    );
    out
}

#[test]
fn live_detection_and_ward_detect_find_the_same_rules_on_the_pack() {
    let files = pack_events();
    assert!(files.len() > 40, "only {} event files", files.len());
    let w = Ward::start();
    let mut sent = 0;
    for f in &files {
        let body = std::fs::read(f).unwrap();
        sent += body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        let (status, v) = w.post("/api/v1/ingest", "application/x-ndjson", body);
        assert_eq!(status, 200, "{}: {v}", f.display());
    }
    // Detection has read everything once its offset passes what was sent.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = Ward::client()
            .get(format!("{}/metrics", w.url()))
            .bearer_auth(&w.admin)
            .send()
            .unwrap()
            .text()
            .unwrap();
        let offset = m
            .lines()
            .find(|l| l.starts_with("ward_detect_offset "))
            .and_then(|l| l.split(' ').nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0);
        if offset as usize >= sent || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let alerts: Value = Ward::client()
        .get(format!("{}/api/v1/alerts", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let skip = not_comparable();
    let live: BTreeSet<String> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule_id"].as_str().unwrap().to_owned())
        .filter(|r| !skip.contains(r))
        .collect();

    let mut cmd = Command::new(ward_bin());
    cmd.args([
        "detect",
        "--builtin",
        "--baselines",
        "--quiet",
        "--format",
        "ndjson",
    ]);
    cmd.args(&files);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offline: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| v["rule.id"].as_str().unwrap().to_owned())
        .filter(|r| !skip.contains(r))
        .collect();
    assert!(live.len() >= 20, "only {} rules fired live", live.len());
    assert_eq!(
        live, offline,
        "live detection and `ward detect` disagree (left: live, right: offline)"
    );
}
