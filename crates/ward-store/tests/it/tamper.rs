//! Tampering is detected and reported precisely: which file, which records,
//! and what kind of change.

use super::*;
use std::path::{Path, PathBuf};
use ward_store::format::{self, Frame, HEADER_LEN};
use ward_store::{ProblemKind, Store, VerifyReport, verify};

/// A store with sealed segments (offsets 0..600) and an open write-ahead
/// segment (600..630), checkpoints at every segment end and at 630.
fn build() -> (tempfile::TempDir, Vec<PathBuf>, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    for b in 0..12u64 {
        store.append(events(b * 50..b * 50 + 50)).unwrap();
    }
    store.seal_now().unwrap();
    store.append(events(600..630)).unwrap();
    store.checkpoint().unwrap();
    store.close().unwrap();
    let mut sealed = Vec::new();
    let mut wal = None;
    for e in std::fs::read_dir(dir.path().join("segments")).unwrap() {
        let p = e.unwrap().path();
        match p.extension().unwrap().to_str().unwrap() {
            "seg" => sealed.push(p),
            "wal" => wal = Some(p),
            _ => {}
        }
    }
    sealed.sort();
    assert!(sealed.len() >= 3, "need several sealed segments");
    assert!(verify(dir.path()).unwrap().ok());
    (dir, sealed, wal.unwrap())
}

fn first_offset_of(seg: &Path) -> u64 {
    seg.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

fn writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// (start, len) of each frame of a write-ahead file.
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while let Frame::Ok { len, .. } = format::parse_frame(&bytes[pos..]) {
        out.push((pos, len));
        pos += len;
    }
    out
}

fn find(r: &VerifyReport, kind: ProblemKind) -> &ward_store::Problem {
    r.problems
        .iter()
        .find(|p| p.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} problem in {:#?}", r.problems))
}

#[test]
fn flipped_byte_in_sealed_segment_names_the_block() {
    let (dir, sealed, _) = build();
    let seg = &sealed[1];
    writable(seg);
    let mut bytes = std::fs::read(seg).unwrap();
    bytes[HEADER_LEN + 100] ^= 0x01;
    std::fs::write(seg, &bytes).unwrap();
    let r = verify(dir.path()).unwrap();
    let p = find(&r, ProblemKind::Changed);
    assert_eq!(
        p.file,
        format!("segments/{}", seg.file_name().unwrap().to_str().unwrap())
    );
    assert_eq!(p.first_offset, Some(first_offset_of(seg)));
    assert!(p.detail.contains("checksum"), "{}", p.detail);
}

#[test]
fn flipped_byte_in_a_record_names_the_record() {
    let (dir, _, wal) = build();
    let mut bytes = std::fs::read(&wal).unwrap();
    let (pos, len) = frames(&bytes)[5];
    bytes[pos + len - 30] ^= 0x20;
    std::fs::write(&wal, &bytes).unwrap();
    let r = verify(dir.path()).unwrap();
    let p = find(&r, ProblemKind::Changed);
    assert_eq!((p.first_offset, p.last_offset), (Some(605), Some(605)));
    assert_eq!(p.byte, Some(pos as u64));
    let cp = find(&r, ProblemKind::CheckpointMismatch);
    assert_eq!(cp.last_offset, Some(629));
}

#[test]
fn record_changed_with_a_fixed_checksum_breaks_the_signed_root() {
    let (dir, _, wal) = build();
    let mut bytes = std::fs::read(&wal).unwrap();
    let (pos, len) = frames(&bytes)[7];
    // Change the body and recompute the frame checksum, as an attacker would.
    let body_byte = pos + len - 30;
    bytes[body_byte] = if bytes[body_byte] == b'1' { b'2' } else { b'1' };
    let crc = crc32c::crc32c(&bytes[pos + 8..pos + len]);
    bytes[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&wal, &bytes).unwrap();
    let r = verify(dir.path()).unwrap();
    assert!(!r.problems.iter().any(|p| p.kind == ProblemKind::Changed));
    let p = find(&r, ProblemKind::CheckpointMismatch);
    // The last checkpoint that still matches is the one at the segment end.
    assert_eq!((p.first_offset, p.last_offset), (Some(600), Some(629)));
    assert_eq!(r.checkpoints_verified, r.checkpoints - 1);
}

#[test]
fn deleted_record_is_named() {
    let (dir, _, wal) = build();
    let bytes = std::fs::read(&wal).unwrap();
    let (pos, len) = frames(&bytes)[5];
    let mut out = bytes[..pos].to_vec();
    out.extend_from_slice(&bytes[pos + len..]);
    std::fs::write(&wal, &out).unwrap();
    let r = verify(dir.path()).unwrap();
    let p = find(&r, ProblemKind::Deleted);
    assert_eq!((p.first_offset, p.last_offset), (Some(605), Some(605)));
    find(&r, ProblemKind::CheckpointMismatch);
}

#[test]
fn swapped_records_are_reported_as_reordered() {
    let (dir, _, wal) = build();
    let bytes = std::fs::read(&wal).unwrap();
    let f = frames(&bytes);
    let ((a, al), (b, bl)) = (f[5], f[6]);
    let mut out = bytes[..a].to_vec();
    out.extend_from_slice(&bytes[b..b + bl]);
    out.extend_from_slice(&bytes[a..a + al]);
    out.extend_from_slice(&bytes[b + bl..]);
    std::fs::write(&wal, &out).unwrap();
    let r = verify(dir.path()).unwrap();
    let p = find(&r, ProblemKind::Reordered);
    assert_eq!((p.first_offset, p.last_offset), (Some(605), Some(606)));
    assert!(p.detail.contains("605 after 606"), "{}", p.detail);
    assert!(!r.problems.iter().any(|p| p.kind == ProblemKind::Deleted));
    find(&r, ProblemKind::CheckpointMismatch);
}

#[test]
fn truncated_segment_says_how_far_it_is_intact() {
    let (dir, sealed, _) = build();
    let seg = &sealed[0];
    writable(seg);
    let f = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
    f.set_len(HEADER_LEN as u64 + 1500).unwrap();
    let r = verify(dir.path()).unwrap();
    let p = find(&r, ProblemKind::Truncated);
    assert_eq!(
        p.file,
        format!("segments/{}", seg.file_name().unwrap().to_str().unwrap())
    );
    let next = first_offset_of(&sealed[1]);
    assert_eq!(p.last_offset, Some(next - 1));
    assert!(p.first_offset.unwrap() < next, "{p:#?}");
    assert!(p.detail.contains("lost"), "{}", p.detail);
}

#[test]
fn deleted_segment_is_a_missing_range() {
    let (dir, sealed, _) = build();
    let first = first_offset_of(&sealed[1]);
    let next = first_offset_of(&sealed[2]);
    std::fs::remove_file(&sealed[1]).unwrap();
    let r = verify(dir.path()).unwrap();
    let p = find(&r, ProblemKind::SegmentMissing);
    assert_eq!(
        (p.first_offset, p.last_offset),
        (Some(first), Some(next - 1))
    );
    // The store refuses to start on a log with a hole.
    let err = Store::open(test_config(dir.path())).err().unwrap();
    assert!(err.to_string().contains("not contiguous"), "{err}");
}

#[test]
fn deleted_last_segment_is_found_by_the_checkpoints() {
    let (dir, _, wal) = build();
    std::fs::remove_file(&wal).unwrap();
    let r = verify(dir.path()).unwrap();
    let p = find(&r, ProblemKind::CheckpointBeyondLog);
    assert_eq!((p.first_offset, p.last_offset), (Some(600), Some(629)));
}

#[test]
fn replaced_checkpoints_are_rejected() {
    let (dir, _, _) = build();
    let cp_dir = dir.path().join("checkpoints");
    let target = cp_dir.join(format!("{:020}.cp", 630));
    // Signed by another key.
    let other = tempfile::tempdir().unwrap();
    let (o, _) = Store::open(test_config(other.path())).unwrap();
    o.append(events(0..630)).unwrap();
    let forged = o.checkpoint().unwrap();
    std::fs::write(&target, forged.note).unwrap();
    let r = verify(dir.path()).unwrap();
    let p = find(&r, ProblemKind::CheckpointInvalid);
    assert_eq!(p.file, format!("checkpoints/{:020}.cp", 630));

    // A genuine checkpoint of another size put in its place.
    let mut names: Vec<PathBuf> = std::fs::read_dir(&cp_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    std::fs::copy(&names[0], &target).unwrap();
    let r = verify(dir.path()).unwrap();
    let p = find(&r, ProblemKind::CheckpointInvalid);
    assert!(p.detail.contains("another size"), "{}", p.detail);

    // An edited root.
    let (dir, _, _) = build();
    let target = dir
        .path()
        .join("checkpoints")
        .join(format!("{:020}.cp", 630));
    let note = std::fs::read_to_string(&target).unwrap();
    let mut lines: Vec<String> = note.lines().map(str::to_owned).collect();
    lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    std::fs::write(&target, lines.join("\n") + "\n").unwrap();
    let r = verify(dir.path()).unwrap();
    assert!(
        find(&r, ProblemKind::CheckpointInvalid)
            .detail
            .contains("signature")
    );
}

/// Rewrites a sealed segment's index section after `change`, with the
/// footer and its CRC recomputed, as someone with write access could.
fn rewrite_index(seg: &Path, change: impl FnOnce(&mut ward_store::format::sealed::SegmentIndex)) {
    use ward_store::format::sealed;
    writable(seg);
    let file = std::fs::File::open(seg).unwrap();
    let (_, mut index) = sealed::read_index(&file, seg).unwrap();
    drop(file);
    change(&mut index);
    let bytes = std::fs::read(seg).unwrap();
    let footer = &bytes[bytes.len() - 32..];
    let ipos = u64::from_le_bytes(footer[0..8].try_into().unwrap()) as usize;
    let mut ix = Vec::new();
    sealed::encode_index(&index, &mut ix);
    let mut out = bytes[..ipos].to_vec();
    out.extend_from_slice(&ix);
    let mut f = footer.to_vec();
    f[8..16].copy_from_slice(&(ix.len() as u64).to_le_bytes());
    f[16..20].copy_from_slice(&crc32c::crc32c(&ix).to_le_bytes());
    out.extend_from_slice(&f);
    std::fs::write(seg, out).unwrap();
}

/// Index tampering with the CRC recomputed: a zeroed filter, block time
/// bounds moved to 2020, a category's latest time moved to 2015. Each is
/// named by `ward verify` (segment and block), and none changes what
/// search or retention see: start-up rebuilds the index from the records.
#[test]
fn index_tampering_is_detected_and_never_used() {
    type Change = fn(&mut ward_store::format::sealed::SegmentIndex);
    const Y2020: i64 = 1_577_836_800_000;
    const Y2015: i64 = 1_420_070_400_000;
    let changes: [(&str, Change); 3] = [
        ("zeroed filter", |ix| {
            ix.blocks[0].bloom.words.iter_mut().for_each(|w| *w = 0)
        }),
        ("time bounds moved", |ix| {
            for b in &mut ix.blocks {
                (b.min_time, b.max_time) = (Y2020, Y2020);
            }
            (ix.min_time, ix.max_time) = (Y2020, Y2020);
        }),
        ("category time moved", |ix| {
            for t in ix.categories.values_mut() {
                *t = Y2015;
            }
        }),
    ];
    for (what, change) in changes {
        let (dir, sealed, _) = build();
        let seg = &sealed[1];
        let first = first_offset_of(seg);
        let file = std::fs::File::open(seg).unwrap();
        let (_, index) = ward_store::format::sealed::read_index(&file, seg).unwrap();
        let in_seg = index.count;
        rewrite_index(seg, change);

        let r = verify(dir.path()).unwrap();
        assert!(!r.ok(), "{what}: verify passed");
        let p = find(&r, ProblemKind::IndexMismatch);
        assert!(
            p.file.ends_with(seg.file_name().unwrap().to_str().unwrap()),
            "{what}: {p:?}"
        );
        assert!(
            r.problems
                .iter()
                .any(
                    |p| p.kind == ProblemKind::IndexMismatch && p.detail.contains("block")
                        || p.detail.contains("category")
                ),
            "{what}: no block or category named: {:#?}",
            r.problems
        );

        let (store, report) = Store::open(test_config(dir.path())).unwrap();
        assert_eq!(report.index_rebuilt.len(), 1, "{what}");
        assert_eq!(report.index_rebuilt[0].segment, *seg, "{what}");
        // Every record of the segment is found by its user and by time.
        let q = ward_store::query::parse(&format!("event.id:evt-{first:08}")).unwrap();
        let hits = store
            .search(&q, &ward_store::SearchOptions::default())
            .unwrap();
        assert_eq!(
            hits.hits.len(),
            1,
            "{what}: a record of the segment is hidden"
        );
        let all = ward_store::query::parse("user.name:user1* | count").unwrap();
        let opts = ward_store::SearchOptions {
            since: Some(T0),
            ..Default::default()
        };
        let n = match store.search(&all, &opts).unwrap().aggregation {
            Some(ward_store::AggregationResult::Count(n)) => n,
            other => panic!("{what}: {other:?}"),
        };
        let want = (0..630u64)
            .filter(|i| (i % 50).to_string().starts_with('1'))
            .count();
        assert_eq!(n as usize, want, "{what}: search misses events");
        // Retention a day after the events: nothing is old enough.
        assert!(
            store
                .apply_retention(T0 + 86_400_000, true)
                .unwrap()
                .is_empty(),
            "{what}: retention would delete {in_seg} records of a one-day-old segment"
        );
        store.close().unwrap();
    }
}

/// A segment sealed now carries a signature that verify accepts; removing
/// it is a warning, and start-up rebuilds the index rather than trust it.
#[test]
fn an_unsigned_index_is_rebuilt_and_warned_about() {
    let (dir, sealed, _) = build();
    let r = verify(dir.path()).unwrap();
    assert!(
        r.warnings
            .iter()
            .all(|w| w.kind != ProblemKind::IndexUnsigned)
    );
    let sig = ward_store::index_signature_path(&sealed[0]);
    assert!(sig.exists(), "no signature beside {}", sealed[0].display());
    std::fs::remove_file(&sig).unwrap();
    let r = verify(dir.path()).unwrap();
    assert!(r.ok(), "{:#?}", r.problems);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.kind == ProblemKind::IndexUnsigned)
    );
    let (store, report) = Store::open(test_config(dir.path())).unwrap();
    assert_eq!(report.index_rebuilt.len(), 1);
    assert_eq!(
        store.read_from(ward_store::Offset(0), 630).unwrap().len(),
        630
    );
}
