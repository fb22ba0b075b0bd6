use super::*;
use std::sync::Arc;
use ward_store::{Offset, Store, StoreError};

#[test]
fn append_read_get_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, report) = Store::open(test_config(dir.path())).unwrap();
    assert_eq!(report.records, 0);
    let offs = store.append(events(0..100)).unwrap();
    assert_eq!(offs, (0..100).map(Offset).collect::<Vec<_>>());
    assert_eq!(store.next_offset(), Offset(100));
    let back = store.read_from(Offset(90), 50).unwrap();
    assert_eq!(back.len(), 10);
    assert_eq!(back[0].id, "evt-00000090");
    assert_eq!(back[0].body, event(90).body);
    let got = store.get("evt-00000042").unwrap().unwrap();
    assert_eq!(got.offset, Offset(42));
    assert!(store.get("nope").unwrap().is_none());
    let err = Store::open(test_config(dir.path()))
        .err()
        .expect("second open refused");
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    store.close().unwrap();

    let (store, report) = Store::open(test_config(dir.path())).unwrap();
    assert_eq!(report.records, 100);
    assert!(report.torn_tail.is_none());
    assert_eq!(report.checkpoint_size, Some(100));
    let offs = store.append(events(100..101)).unwrap();
    assert_eq!(offs, vec![Offset(100)]);
    assert_eq!(store.read_from(Offset(0), 1000).unwrap().len(), 101);
}

#[test]
fn sealed_segments_read_like_open_ones_and_are_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    for chunk in 0..10u64 {
        store
            .append(events(chunk * 100..chunk * 100 + 100))
            .unwrap();
    }
    // 64 KiB segments: several were closed on the way.
    assert!(store.seal_now().unwrap() >= 2);
    let stats = store.stats();
    assert!(stats.sealed_segments >= 2, "{stats:?}");
    let all = store.read_from(Offset(0), 5000).unwrap();
    assert_eq!(all.len(), 1000);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.offset, Offset(i as u64));
        assert_eq!(r.id, format!("evt-{i:08}"));
    }
    assert_eq!(
        store.get("evt-00000555").unwrap().unwrap().offset,
        Offset(555)
    );
    use std::os::unix::fs::PermissionsExt;
    let mut sealed = 0;
    for e in std::fs::read_dir(dir.path().join("segments")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().unwrap() == "seg" {
            sealed += 1;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o444
            );
        }
    }
    assert!(sealed >= 2);
    // Compression: sealed bytes per event.
    let seg_bytes: u64 = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().unwrap() == "seg")
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(seg_bytes > 0);
    store.close().unwrap();
    let (store, report) = Store::open(test_config(dir.path())).unwrap();
    assert_eq!(report.records, 1000);
    assert_eq!(store.read_from(Offset(995), 10).unwrap().len(), 5);
    assert!(ward_store::verify(dir.path()).unwrap().ok());
}

#[test]
fn concurrent_appenders_share_fsyncs_and_get_distinct_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    let store = Arc::new(store);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let s = store.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for b in 0..25u64 {
                    let base = t * 1000 + b * 4;
                    got.extend(s.append(events(base..base + 4)).unwrap());
                }
                got
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .map(|o| o.0)
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..800).collect::<Vec<_>>());
    let stats = store.stats();
    assert_eq!(stats.records, 800);
    // 200 appends from 8 threads: concurrent callers share fsyncs.
    assert!(
        stats.fsyncs < 200,
        "one fsync per group, not per append: {stats:?}"
    );
    assert!(stats.mean_group > 4.0, "{stats:?}");
}

#[test]
fn bad_records_are_refused_with_their_index() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    let mut bad = event(1);
    bad.id = "x".repeat(10_000);
    let err = store.append(vec![event(0), bad]).unwrap_err();
    match err {
        StoreError::InvalidRecord { index, reason } => {
            assert_eq!(index, 1);
            assert!(reason.contains("event id"), "{reason}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(
        store.next_offset(),
        Offset(0),
        "nothing of a refused batch is written"
    );
}

#[test]
fn invalid_config_names_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.segment_max_bytes = 10;
    cfg.retention.categories.insert("iam".into(), 30);
    let Err(StoreError::Config(msg)) = Store::open(cfg) else {
        panic!("expected a config error")
    };
    assert!(msg.contains("store.segment_max_bytes"), "{msg}");
    assert!(msg.contains("store.retention.categories.iam"), "{msg}");
}

#[test]
fn background_thread_checkpoints_and_seals_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.background = true;
    cfg.checkpoint_interval = Duration::from_millis(50);
    cfg.segment_max_age = Duration::from_secs(1);
    let (store, _) = Store::open(cfg).unwrap();
    store.append(events(0..20)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.stats().sealed_segments == 0 || store.stats().checkpoint_size < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "no age seal / checkpoint: {:?}",
            store.stats()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    store.close().unwrap();
    assert!(ward_store::verify(dir.path()).unwrap().ok());
}

/// A write-ahead segment's age counts from its creation, not from the
/// latest start: a store restarted more often than `segment_max_age`
/// still seals by age.
#[test]
fn sealing_by_age_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.background = true;
    cfg.segment_max_age = Duration::from_secs(3);
    let (store, _) = Store::open(cfg.clone()).unwrap();
    store.append(events(0..20)).unwrap();
    store.close().unwrap();
    // Restarts every 1.5 s (the background thread looks once a second):
    // each run alone is younger than 3 s.
    let started = std::time::Instant::now();
    loop {
        let (store, _) = Store::open(cfg.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let sealed = store.stats().sealed_segments;
        store.close().unwrap();
        if sealed > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a segment older than segment_max_age was never sealed across restarts"
        );
    }
    assert!(ward_store::verify(dir.path()).unwrap().ok());
}

#[test]
fn store_is_send_and_sync() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<Store>();
}
