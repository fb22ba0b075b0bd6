//! Checkpoints copied to a witness catch what the data directory alone
//! cannot: a store rolled back to an older copy, or rewritten and re-signed
//! with its own (stolen) key.

use super::*;
use std::sync::Arc;
use ward_store::{DirWitness, ProblemKind, Store, VerifyReport, verify, verify_with_witness};

fn open(dir: &Path, witness: &Path) -> Store {
    let cfg = StoreConfig {
        witness: Some(Arc::new(DirWitness::new(witness))),
        ..test_config(dir)
    };
    Store::open(cfg).unwrap().0
}

fn with_witness(dir: &Path, witness: &Path) -> VerifyReport {
    let key = std::fs::read_to_string(dir.join("key/verifier.pub")).unwrap();
    verify_with_witness(dir, &key, 1, Some(witness)).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn an_honest_store_verifies_with_every_witnessed_checkpoint() {
    let t = tempfile::tempdir().unwrap();
    let (dir, w) = (t.path().join("data"), t.path().join("witness"));
    let store = open(&dir, &w);
    store.append(events(0..100)).unwrap();
    store.checkpoint().unwrap();
    store.append(events(100..150)).unwrap();
    // The clean stop signs the last 50 and hands them to the witness.
    store.close().unwrap();
    let r = with_witness(&dir, &w);
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(r.witness_checkpoints, 2, "{r:?}");
    assert_eq!(r.uncovered_records, 0);
    // The witness only ever holds notes, one per size.
    let names: Vec<String> = std::fs::read_dir(&w)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".cp")), "{names:?}");
}

#[test]
fn a_store_rolled_back_to_an_older_copy_fails_against_the_witness() {
    let t = tempfile::tempdir().unwrap();
    let (dir, w) = (t.path().join("data"), t.path().join("witness"));
    let store = open(&dir, &w);
    store.append(events(0..100)).unwrap();
    store.close().unwrap();
    let old = t.path().join("old");
    copy_dir(&dir, &old);
    let store = open(&dir, &w);
    store.append(events(100..250)).unwrap();
    store.close().unwrap();
    // Someone puts the older copy back: the data directory alone is a
    // consistent, validly signed store of 100 records.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::rename(&old, &dir).unwrap();
    assert!(verify(&dir).unwrap().ok());
    let r = with_witness(&dir, &w);
    assert!(!r.ok());
    let p = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::CheckpointBeyondLog)
        .unwrap_or_else(|| panic!("{:?}", r.problems));
    assert!(p.file.starts_with("witness:"), "{p:?}");
    assert!(p.file.ends_with("00000000000000000250.cp"), "{p:?}");
    assert_eq!((p.first_offset, p.last_offset), (Some(100), Some(249)));
}

#[test]
fn a_store_rewritten_and_re_signed_with_its_own_key_fails_against_the_witness() {
    let t = tempfile::tempdir().unwrap();
    let (dir, w) = (t.path().join("data"), t.path().join("witness"));
    let store = open(&dir, &w);
    store.append(events(0..200)).unwrap();
    store.close().unwrap();
    // With the signing key from the data directory, an attacker builds a
    // store of the same size whose record 150 says something else.
    let forged = t.path().join("forged");
    std::fs::create_dir_all(&forged).unwrap();
    copy_dir(&dir.join("key"), &forged.join("key"));
    let (f, _) = Store::open(test_config(&forged)).unwrap();
    let mut evs = events(0..200);
    evs[150] = event(9_999);
    f.append(evs).unwrap();
    f.close().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::rename(&forged, &dir).unwrap();
    assert!(verify(&dir).unwrap().ok(), "the forgery is self-consistent");
    let r = with_witness(&dir, &w);
    let p = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::CheckpointMismatch)
        .unwrap_or_else(|| panic!("{:?}", r.problems));
    assert!(p.file.starts_with("witness:"), "{p:?}");
}

#[test]
fn a_note_in_the_witness_not_signed_by_this_store_is_reported() {
    let t = tempfile::tempdir().unwrap();
    let (dir, w) = (t.path().join("data"), t.path().join("witness"));
    let store = open(&dir, &w);
    store.append(events(0..10)).unwrap();
    store.close().unwrap();
    let other = t.path().join("other");
    let (o, _) = Store::open(test_config(&other)).unwrap();
    o.append(events(0..20)).unwrap();
    o.checkpoint().unwrap();
    o.close().unwrap();
    let note = std::fs::read_dir(other.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cp"))
        .unwrap();
    std::fs::copy(&note, w.join("00000000000000000020.cp")).unwrap();
    let r = with_witness(&dir, &w);
    let p = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::CheckpointInvalid)
        .unwrap_or_else(|| panic!("{:?}", r.problems));
    assert!(p.file.ends_with("00000000000000000020.cp"), "{p:?}");
    assert_eq!(r.witness_checkpoints, 1);
}

#[test]
fn a_witness_that_cannot_be_written_never_stops_appends() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    // A file where the witness directory should be: every publish fails.
    let w = t.path().join("not-a-dir");
    std::fs::write(&w, b"x").unwrap();
    let store = open(&dir, &w);
    store.append(events(0..50)).unwrap();
    store.checkpoint().unwrap();
    store.append(events(50..60)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.stats().witness_failures == 0 {
        assert!(std::time::Instant::now() < deadline, "no failure counted");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(store.stats().witness_published, 0);
    assert_eq!(store.next_offset().0, 60);
    store.close().unwrap();
    assert!(verify(&dir).unwrap().ok());
}
