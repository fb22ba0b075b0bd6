//! Retention deletes whole expired segments with signed deletion records
//! that verification accepts; legal holds and the security floor apply.

use super::*;
use ward_store::{
    LegalHold, Offset, RetentionDecision, Store, verify, verify_consistency, verify_inclusion,
};

const DAY: i64 = 86_400_000;

fn store_with_old_and_new(dir: &std::path::Path, cfg: ward_store::StoreConfig) -> Store {
    let (store, _) = Store::open(cfg).unwrap();
    // 0..400: old events (2026-01-01 + i s); then 400..450 a year later.
    for b in 0..4u64 {
        store.append(events(b * 100..b * 100 + 100)).unwrap();
    }
    store.seal_now().unwrap();
    let mut newer = events(400..450);
    for r in &mut newer {
        r.time_ms += 500 * DAY;
    }
    store.append(newer).unwrap();
    store.checkpoint().unwrap();
    let _ = dir;
    store
}

#[test]
fn expired_segments_are_deleted_lawfully() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_old_and_new(dir.path(), test_config(dir.path()));
    let before = store.consistency_proof(100, 450).unwrap();
    // Day 399 after the old events: nothing expired yet (400 days default).
    assert!(
        store
            .apply_retention(T0 + 399 * DAY, false)
            .unwrap()
            .is_empty()
    );
    let now = T0 + 401 * DAY;
    let dry = store.apply_retention(now, true).unwrap();
    assert!(!dry.is_empty());
    assert!(
        dry.iter()
            .all(|a| a.decision == RetentionDecision::WouldDelete)
    );
    assert!(dry[0].reason.contains("400 days"), "{}", dry[0].reason);
    assert_eq!(
        store.read_from(Offset(0), 1).unwrap().len(),
        1,
        "dry run deletes nothing"
    );
    // The plan read from the directory, beside the open store, agrees.
    let policy = test_config(dir.path()).retention;
    assert_eq!(
        ward_store::retention_plan(dir.path(), &policy, now).unwrap(),
        dry
    );
    let done = store.apply_retention(now, false).unwrap();
    assert_eq!(done.len(), dry.len());
    assert!(
        done.iter()
            .all(|a| a.decision == RetentionDecision::Deleted)
    );
    let deleted: u64 = done.iter().map(|a| a.records).sum();
    assert_eq!(deleted, 400, "every old sealed segment is gone");
    // Reads skip the deleted range; proofs still work.
    let rest = store.read_from(Offset(0), 1000).unwrap();
    assert_eq!(rest.first().unwrap().offset, Offset(400));
    assert_eq!(rest.len(), 50);
    let key = store.public_key();
    verify_inclusion(&store.inclusion_proof("evt-00000420").unwrap(), &key).unwrap();
    let after = store.consistency_proof(100, 450).unwrap();
    assert_eq!(
        after.old_root, before.old_root,
        "the tree is unchanged by deletion"
    );
    verify_consistency(&after, &key).unwrap();
    store.close().unwrap();
    let r = verify(dir.path()).unwrap();
    assert!(r.ok(), "{:#?}", r.problems);
    assert_eq!(r.deleted_records, 400);
    assert!(r.deletion_records[0].2.contains("retention"));
    // And the store reopens with the deletion records.
    let (store, report) = Store::open(test_config(dir.path())).unwrap();
    assert_eq!(report.records, 450);
    assert_eq!(store.append(events(450..451)).unwrap(), vec![Offset(450)]);

    // A forged deletion record is not lawful.
    let del = std::fs::read_dir(dir.path().join("deletions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().unwrap() == "del")
        .unwrap();
    let text = std::fs::read_to_string(&del)
        .unwrap()
        .replace("reason retention", "reason because");
    std::fs::write(&del, text).unwrap();
    let r = verify(dir.path()).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == ward_store::ProblemKind::DeletionInvalid)
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == ward_store::ProblemKind::SegmentMissing)
    );
}

#[test]
fn legal_hold_and_category_periods() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.retention.holds.push(LegalHold {
        reason: "case 42".into(),
        from_ms: T0,
        until_ms: T0 + 10_000,
    });
    let store = store_with_old_and_new(dir.path(), cfg);
    let acts = store.apply_retention(T0 + 401 * DAY, false).unwrap();
    let held: Vec<_> = acts
        .iter()
        .filter(|a| a.decision == RetentionDecision::Held)
        .collect();
    assert_eq!(held.len(), 1, "only the segment with held events is kept");
    assert!(held[0].reason.contains("case 42"));
    assert_eq!(held[0].first_offset, 0);
    drop(store);

    // Authentication events (every third) kept 2 years: no segment expires at 401 days.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.retention
        .categories
        .insert("authentication".into(), 730);
    cfg.retention.categories.insert("web".into(), 30);
    let store = store_with_old_and_new(dir.path(), cfg);
    assert!(
        store
            .apply_retention(T0 + 401 * DAY, false)
            .unwrap()
            .is_empty()
    );
    let later = store.apply_retention(T0 + 731 * DAY, true).unwrap();
    assert!(!later.is_empty());
    assert!(
        later[0].reason.contains("authentication (730 days)"),
        "{}",
        later[0].reason
    );
}
