//! `verify` on segments large enough to hold whole Merkle chunks: chunks are
//! added to the recomputed tree as subtrees, checkpoints whose size falls
//! inside a chunk are still checked at exactly their size, and the report
//! does not depend on the number of threads.

use super::*;
use ward_store::{ProblemKind, Store, verify_with_threads};

#[test]
fn checkpoints_inside_chunks_verify_on_one_and_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        segment_max_bytes: 4 << 20,
        keep_superseded_checkpoints: true,
        ..test_config(dir.path())
    };
    let (store, _) = Store::open(cfg).unwrap();
    // Checkpoint sizes on, just before and inside 256-record chunks.
    let sizes = [100u64, 255, 256, 300, 555, 1023, 1024, 1300, 2049, 2600];
    let mut at = 0;
    for s in sizes {
        store.append(events(at..s)).unwrap();
        at = s;
        store.checkpoint().unwrap();
    }
    store.seal_now().unwrap();
    store.append(events(at..at + 10)).unwrap();
    store.checkpoint().unwrap();
    store.close().unwrap();

    let key = std::fs::read_to_string(dir.path().join("key/verifier.pub")).unwrap();
    let many = verify_with_threads(dir.path(), &key, 4).unwrap();
    assert!(many.ok(), "{:#?}", many.problems);
    assert!(many.checkpoints > sizes.len());
    assert_eq!(many.checkpoints_verified, many.checkpoints);
    assert_eq!(many.records, at + 10);
    assert!(many.record_bytes > 300 * many.records);
    let one = verify_with_threads(dir.path(), &key, 1).unwrap();
    assert_eq!(one, many);
}

/// A validly signed checkpoint whose size falls inside a chunk (700, in
/// 512..768) but whose root covers different records: the mismatch is
/// reported for exactly the records it covers.
#[test]
fn a_checkpoint_inside_a_chunk_with_another_root_is_caught() {
    let build = |dir: &std::path::Path, change: Option<u64>| {
        let cfg = StoreConfig {
            segment_max_bytes: 4 << 20,
            keep_superseded_checkpoints: true,
            ..test_config(dir)
        };
        let (store, _) = Store::open(cfg).unwrap();
        let mut batch = events(0..700);
        if let Some(i) = change {
            batch[i as usize].body = br#"{"changed":true}"#.to_vec();
        }
        store.append(batch).unwrap();
        store.checkpoint().unwrap();
        store.append(events(700..1200)).unwrap();
        store.seal_now().unwrap();
        store.close().unwrap();
    };
    let honest = tempfile::tempdir().unwrap();
    build(honest.path(), None);
    // Same signing key, one record different before offset 700.
    let other = tempfile::tempdir().unwrap();
    let key_dir = other.path().join("key");
    std::fs::create_dir_all(&key_dir).unwrap();
    for f in ["signing.key", "verifier.pub"] {
        std::fs::copy(honest.path().join("key").join(f), key_dir.join(f)).unwrap();
    }
    build(other.path(), Some(650));
    let name = format!("{:020}.cp", 700);
    let target = honest.path().join("checkpoints").join(&name);
    std::fs::remove_file(&target).unwrap();
    std::fs::copy(other.path().join("checkpoints").join(&name), &target).unwrap();

    let r = ward_store::verify(honest.path()).unwrap();
    let p = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::CheckpointMismatch)
        .unwrap_or_else(|| panic!("no mismatch in {:#?}", r.problems));
    assert!(p.file.ends_with(&name), "{}", p.file);
    assert_eq!(p.last_offset, Some(699));
    assert_eq!(r.checkpoints_verified, r.checkpoints - 1);
}

/// Sealing removes the checkpoints signed inside the segment (the one at
/// its end commits to them all): a day of one-second checkpoints would
/// otherwise be 86,400 files. The newest stays, and verify still passes.
#[test]
fn sealing_keeps_only_the_checkpoint_at_the_segment_end_and_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    for b in 0..20u64 {
        store.append(events(b * 10..b * 10 + 10)).unwrap();
        store.checkpoint().unwrap();
    }
    let sizes = |d: &std::path::Path| -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(d.join("checkpoints"))
            .unwrap()
            .filter_map(|e| {
                let n = e.unwrap().file_name().to_string_lossy().into_owned();
                n.strip_suffix(".cp")?.parse().ok()
            })
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(sizes(dir.path()).len(), 20);
    store.seal_now().unwrap();
    store.append(events(200..205)).unwrap();
    store.checkpoint().unwrap();
    store.close().unwrap();
    let left = sizes(dir.path());
    // Small test segments: every seal end plus the newest, nothing between.
    let sealed: Vec<u64> = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "seg").then(|| p.file_stem()?.to_str()?.parse::<u64>().ok())?
        })
        .collect();
    assert!(
        left.len() <= sealed.len() + 2,
        "{left:?} for {} sealed",
        sealed.len()
    );
    assert!(left.contains(&200) && left.contains(&205), "{left:?}");
    assert!(!left.contains(&10), "{left:?}");
    let r = ward_store::verify(dir.path()).unwrap();
    assert!(r.ok(), "{:#?}", r.problems);
    assert_eq!(r.checkpoints_verified, r.checkpoints);
    assert_eq!(r.uncovered_records, 0);
}

/// A store stopped before its first event has a checkpoint of the empty
/// log: verify checks it rather than failing (it once overflowed).
#[test]
fn a_store_closed_before_its_first_event_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    store.close().unwrap();
    let r = ward_store::verify(dir.path()).unwrap();
    assert!(r.ok(), "{:#?}", r.problems);
    assert_eq!((r.checkpoints, r.checkpoints_verified), (1, 1));
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    store.append(events(0..5)).unwrap();
    store.close().unwrap();
    let r = ward_store::verify(dir.path()).unwrap();
    assert!(r.ok(), "{:#?}", r.problems);
    assert_eq!((r.checkpoints, r.checkpoints_verified), (2, 2));
}

/// A checkpoint signed before the first event (tree size 0) verifies
/// against the empty tree, alone and with records appended after it.
#[test]
fn a_checkpoint_of_the_empty_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    store.checkpoint().unwrap();
    store.close().unwrap();
    let key = std::fs::read_to_string(dir.path().join("key/verifier.pub")).unwrap();
    let empty = verify_with_threads(dir.path(), &key, 1).unwrap();
    assert!(empty.ok(), "{:#?}", empty.problems);
    assert_eq!(empty.checkpoints_verified, empty.checkpoints);
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    store.append(events(0..5)).unwrap();
    store.checkpoint().unwrap();
    store.close().unwrap();
    let after = verify_with_threads(dir.path(), &key, 1).unwrap();
    assert!(after.ok(), "{:#?}", after.problems);
    assert_eq!(after.checkpoints_verified, after.checkpoints);
}
