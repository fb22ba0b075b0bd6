//! Crash safety: a child process appends from several threads and prints
//! every acknowledged id; the parent SIGKILLs it at random moments and
//! checks after each restart that every acknowledged id is there exactly
//! once and that `verify` passes.

use super::*;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use ward_store::{Offset, Store};

const CHILD_ENV: &str = "WARD_STORE_CRASH_CHILD_DIR";

/// Runs only as the child of `sigkill_never_loses_acknowledged_events`.
#[test]
#[ignore = "run by the crash test as its child process"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u64 = std::env::var("WARD_STORE_CRASH_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let mut cfg = test_config(std::path::Path::new(&dir));
    cfg.background = true;
    cfg.segment_max_bytes = 32 << 10;
    cfg.checkpoint_interval = Duration::from_millis(20);
    cfg.group_commit_max_wait = Duration::from_micros(100);
    let (store, _) = Store::open(cfg).unwrap();
    let store = Arc::new(store);
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (s, out) = (store.clone(), out.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    let size = 1 + (n % 4);
                    let batch: Vec<Record> = (0..size)
                        .map(|k| {
                            let mut r = event(n);
                            r.id = format!("r{round}-t{t}-n{n}-k{k}");
                            r
                        })
                        .collect();
                    let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
                    s.append(batch).unwrap();
                    let mut o = out.lock().unwrap();
                    for id in ids {
                        writeln!(o, "{id}").unwrap();
                    }
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn check_store(dir: &std::path::Path, acked: &[String]) -> u64 {
    let (store, report) = Store::open(test_config(dir)).unwrap();
    let all = store.read_from(Offset(0), usize::MAX).unwrap();
    assert_eq!(all.len() as u64, report.records);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.offset, Offset(i as u64));
        *seen.entry(r.id.as_str()).or_default() += 1;
    }
    for id in acked {
        assert_eq!(
            seen.get(id.as_str()),
            Some(&1),
            "acknowledged {id} must be present exactly once"
        );
    }
    assert!(seen.values().all(|&n| n == 1), "no record is duplicated");
    store.close().unwrap();
    let v = ward_store::verify(dir).unwrap();
    assert!(v.ok(), "verify after crash: {:#?}", v.problems);
    report.records
}

#[test]
fn sigkill_never_loses_acknowledged_events() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked_total: Vec<String> = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for round in 0..20u64 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env("WARD_STORE_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            // Only complete lines: the kill may cut the last one.
            let mut ids = Vec::new();
            let mut r = std::io::BufReader::new(stdout);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(id) = line.strip_suffix('\n')
                    && id.starts_with('r')
                    && id.contains("-k")
                {
                    ids.push(id.to_owned());
                }
                line.clear();
            }
            ids
        });
        // Wait for the child to be appending, then kill it at a random moment.
        std::thread::sleep(Duration::from_millis(120 + rng % 200));
        child.kill().unwrap();
        child.wait().unwrap();
        let ids = reader.join().unwrap();
        assert!(
            !ids.is_empty() || round > 0,
            "child acknowledged nothing in round {round}"
        );
        acked_total.extend(ids);
        let n = check_store(dir.path(), &acked_total);
        assert!(n >= acked_total.len() as u64);
    }
    assert!(
        acked_total.len() > 100,
        "too few appends to mean anything: {}",
        acked_total.len()
    );
}

fn last_wal(dir: &std::path::Path) -> std::path::PathBuf {
    let mut wals: Vec<_> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().unwrap() == "wal")
        .collect();
    wals.sort();
    wals.pop().unwrap()
}

#[test]
fn torn_tail_is_cut_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    store.append(events(0..10)).unwrap();
    drop(store);
    let wal = last_wal(dir.path());
    let len = std::fs::metadata(&wal).unwrap().len();
    // A write cut in the middle of the last record.
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 100).unwrap();
    drop(f);
    let (store, report) = Store::open(test_config(dir.path())).unwrap();
    let torn = report.torn_tail.expect("torn tail reported");
    assert_eq!(torn.records_kept, 9);
    assert_eq!(torn.segment, wal);
    assert!(torn.bytes_removed > 0);
    assert_eq!(report.records, 9);
    // The log continues after the cut.
    assert_eq!(store.append(events(9..10)).unwrap(), vec![Offset(9)]);
    drop(store);

    // Garbage after the last good record (a torn write of a new group).
    let mut f = std::fs::OpenOptions::new().append(true).open(&wal).unwrap();
    f.write_all(&[0x5a; 37]).unwrap();
    drop(f);
    let (store, report) = Store::open(test_config(dir.path())).unwrap();
    let torn = report.torn_tail.expect("garbage tail reported");
    assert_eq!(torn.bytes_removed, 37);
    assert_eq!(report.records, 10);
    assert_eq!(store.read_from(Offset(0), 100).unwrap().len(), 10);
    store.close().unwrap();
    assert!(ward_store::verify(dir.path()).unwrap().ok());

    // Garbled bytes inside the last record: cut at its start.
    let len = std::fs::metadata(&wal).unwrap().len();
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[(len - 20) as usize] ^= 0xff;
    std::fs::write(&wal, &bytes).unwrap();
    // The checkpoint at size 10 now covers a record that is gone.
    let err = Store::open(test_config(dir.path()))
        .err()
        .expect("a signed record lost is an error");
    assert!(
        err.to_string().contains("acknowledged records are missing"),
        "{err}"
    );
}
