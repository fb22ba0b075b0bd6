//! Each phase of [`verify_with_threads`](super::verify_with_threads) alone.

use super::*;
use crate::testing::store_with;

/// A closed store of `n` records with a checkpoint at `n`, and its key.
fn closed_store(n: u64) -> (tempfile::TempDir, VerifierKey) {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), n);
    let vk = VerifierKey::parse(&store.public_key()).unwrap();
    store.close().unwrap();
    (dir, vk)
}

fn kinds(ctx: &Ctx<'_>) -> Vec<ProblemKind> {
    ctx.report.problems.iter().map(|p| p.kind).collect()
}

#[test]
fn parse_key_names_the_key_file() {
    let err = parse_key(Path::new("/data"), "not a key").unwrap_err();
    assert!(err.to_string().contains("/data/key/verifier.pub"), "{err}");
}

#[test]
fn ctx_runs_on_at_least_one_thread() {
    let (_dir, vk) = closed_store(1);
    let ctx = Ctx::new(Path::new("/x"), 0, vk);
    assert_eq!(ctx.threads, 1);
    assert_eq!(ctx.report.dir, Path::new("/x"));
}

#[test]
fn load_checkpoints_keeps_valid_ones_and_reports_misnamed_ones() {
    let (dir, vk) = closed_store(20);
    let cps = dir.path().join("checkpoints");
    std::fs::copy(
        cps.join("00000000000000000020.cp"),
        cps.join("00000000000000000007.cp"),
    )
    .unwrap();
    let mut ctx = Ctx::new(dir.path(), 1, vk.clone());
    load_checkpoints(&mut ctx, &vk);
    assert_eq!(ctx.report.checkpoints, 2);
    assert_eq!(ctx.checkpoints.len(), 1);
    assert_eq!(ctx.checkpoints[0].0, 20);
    assert_eq!(kinds(&ctx), vec![ProblemKind::CheckpointInvalid]);
    assert!(ctx.report.problems[0].detail.contains("another size"));
}

#[test]
fn list_segments_marks_the_newest_wal_and_reports_bad_headers() {
    let (dir, vk) = closed_store(20);
    let segs = dir.path().join("segments");
    std::fs::write(segs.join("00000000000000000099.seg"), b"garbage").unwrap();
    let mut ctx = Ctx::new(dir.path(), 1, vk.clone());
    let sources = list_segments(&mut ctx);
    assert_eq!(sources.len(), 1);
    assert!(matches!(sources[0], (0, Source::Wal(_, true))));
    assert_eq!(kinds(&ctx), vec![ProblemKind::Unreadable]);
}

#[test]
fn add_deletions_reports_an_unsigned_record() {
    let (dir, vk) = closed_store(5);
    std::fs::write(
        dir.path()
            .join("deletions/00000000000000000000-00000000000000000004.del"),
        b"forged",
    )
    .unwrap();
    let mut ctx = Ctx::new(dir.path(), 1, vk.clone());
    let mut sources = Vec::new();
    add_deletions(&mut ctx, &vk, &mut sources);
    assert!(sources.is_empty());
    assert_eq!(ctx.report.deletions, 0);
    assert_eq!(kinds(&ctx), vec![ProblemKind::DeletionInvalid]);
}

#[test]
fn check_sources_reports_a_hole_before_a_segment() {
    let (dir, vk) = closed_store(10);
    let wal = dir.path().join("segments/00000000000000000000.wal");
    let mut ctx = Ctx::new(dir.path(), 1, vk.clone());
    // The same file claimed at offset 4: offsets 0..=3 have no segment.
    let end = check_sources(&mut ctx, vec![(4, Source::Wal(wal, true))]).unwrap();
    let p = &ctx.report.problems[0];
    assert_eq!(p.kind, ProblemKind::SegmentMissing);
    assert_eq!((p.first_offset, p.last_offset), (Some(0), Some(3)));
    assert_eq!(ctx.broken_at, Some(0));
    assert!(end >= 10);
}

#[test]
fn report_unreached_checkpoints_names_records_beyond_the_log() {
    let (dir, vk) = closed_store(10);
    let mut ctx = Ctx::new(dir.path(), 1, vk.clone());
    load_checkpoints(&mut ctx, &vk);
    // Nothing was read: the checkpoint at 10 is beyond a log of 6.
    report_unreached_checkpoints(&mut ctx, 6);
    let p = &ctx.report.problems[0];
    assert_eq!(p.kind, ProblemKind::CheckpointBeyondLog);
    assert_eq!((p.first_offset, p.last_offset), (Some(6), Some(9)));
}

#[test]
fn uncovered_counts_records_after_the_largest_signed_checkpoint() {
    let (dir, vk) = closed_store(10);
    let store = crate::testing::store_with(dir.path(), 0);
    store.append(crate::testing::records(10..17)).unwrap();
    drop(store);
    let mut ctx = Ctx::new(dir.path(), 1, vk.clone());
    load_checkpoints(&mut ctx, &vk);
    assert_eq!(uncovered(&ctx.checkpoints, 17), 7);
    assert_eq!(uncovered(&[], 17), 17);
    let r = super::verify(dir.path()).unwrap();
    assert_eq!(r.uncovered_records, 7);
}
