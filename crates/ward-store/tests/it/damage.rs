//! Damage in the middle of the active write-ahead segment is never cut
//! away: every later record is kept and served, the damaged bytes are set
//! aside in a quarantine file, and `verify` names the damaged range.

use super::*;
use std::path::{Path, PathBuf};
use ward_store::format::{self, Frame, HEADER_LEN};
use ward_store::{Offset, ProblemKind, Store, verify};

const N: u64 = 200;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        segment_max_bytes: 4 << 20,
        ..test_config(dir)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else if p.file_name().unwrap() != "lock" {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

fn wal(dir: &Path) -> PathBuf {
    dir.join("segments").join(format!("{:020}.wal", 0))
}

/// (start, len) of each frame.
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while let Frame::Ok { len, .. } = format::parse_frame(&bytes[pos..]) {
        out.push((pos, len));
        pos += len;
    }
    out
}

/// A closed store of `N` records in one write-ahead segment, signed at `N`.
fn template() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(config(dir.path())).unwrap();
    for b in 0..N / 10 {
        store.append(events(b * 10..b * 10 + 10)).unwrap();
    }
    store.close().unwrap();
    dir
}

#[test]
fn flipped_bytes_at_random_offsets_lose_nothing_after_the_damage() {
    let template = template();
    let bytes = std::fs::read(wal(template.path())).unwrap();
    let f = frames(&bytes);
    assert_eq!(f.len() as u64, N);
    // Anywhere from the first frame to the end of the second-to-last: the
    // last record has nothing after it to resynchronize on (a torn tail).
    let (last_start, _) = f[f.len() - 1];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for case in 0..50 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = HEADER_LEN + (seed as usize % (last_start - HEADER_LEN));
        let flip = 1 + (seed >> 32) as u8 % 255;
        let damaged = f
            .iter()
            .position(|(s, l)| (*s..s + l).contains(&at))
            .unwrap() as u64;

        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        let mut b = bytes.clone();
        b[at] ^= flip;
        std::fs::write(wal(dir.path()), &b).unwrap();

        let ctx = format!("case {case}: byte {at} ^ {flip:#x} in record {damaged}");
        let (store, report) = Store::open(config(dir.path())).expect(&ctx);
        assert!(report.torn_tail.is_none(), "{ctx}: {report:?}");
        assert_eq!(report.records, N, "{ctx}");
        assert_eq!(report.damaged_records, 1, "{ctx}: {report:?}");
        let d = &report.damaged[0];
        assert_eq!((d.first_offset, d.records), (damaged, 1), "{ctx}");
        assert!(d.quarantine.exists(), "{ctx}");
        let kept = store.read_from(Offset(0), 1000).unwrap();
        assert_eq!(kept.len() as u64, N - 1, "{ctx}");
        let expect: Vec<String> = (0..N)
            .filter(|i| *i != damaged)
            .map(|i| event(i).id)
            .collect();
        let got: Vec<String> = kept.iter().map(|r| r.id.clone()).collect();
        assert_eq!(got, expect, "{ctx}");
        // The log goes on, and a new checkpoint covers the damaged offset.
        assert_eq!(store.append(events(N..N + 1)).unwrap(), vec![Offset(N)]);
        store.close().unwrap();

        let r = verify(dir.path()).unwrap();
        let changed: Vec<_> = r
            .problems
            .iter()
            .filter(|p| p.kind == ProblemKind::Changed)
            .collect();
        assert_eq!(changed.len(), 1, "{ctx}: {:#?}", r.problems);
        let p = changed[0];
        assert_eq!(
            (p.first_offset, p.last_offset),
            (Some(damaged), Some(damaged)),
            "{ctx}"
        );
        let qname = d.quarantine.file_name().unwrap().to_str().unwrap();
        assert!(p.detail.contains(qname), "{ctx}: {}", p.detail);
        // Signed before the damage: fails; signed after it: verifies.
        assert!(
            r.problems
                .iter()
                .any(|p| p.kind == ProblemKind::CheckpointMismatch),
            "{ctx}"
        );
        assert_eq!(r.checkpoints_verified, 1, "{ctx}: {:#?}", r.problems);
        assert_eq!(r.uncovered_records, 0, "{ctx}");
    }
}

#[test]
fn quarantine_file_holds_a_header_line_and_the_bytes() {
    let template = template();
    let path = wal(template.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let (pos, len) = frames(&bytes)[7];
    bytes[pos + len / 2] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let (_store, report) = Store::open(config(template.path())).unwrap();
    let d = &report.damaged[0];
    let q = std::fs::read(&d.quarantine).unwrap();
    let nl = q.iter().position(|b| *b == b'\n').unwrap();
    let header: ward_store::QuarantineHeader = serde_json::from_slice(&q[..nl]).unwrap();
    assert_eq!(header.format, 1);
    assert_eq!(header.segment, path.file_name().unwrap().to_str().unwrap());
    assert_eq!((header.damage.first_offset, header.damage.count), (7, 1));
    assert_eq!(&q[nl + 1..], &bytes[pos..pos + len]);
}

#[test]
fn a_torn_last_write_after_damage_is_still_cut() {
    let template = template();
    let path = wal(template.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let (pos, len) = frames(&bytes)[3];
    bytes[pos + len - 12] ^= 0x01;
    bytes.truncate(bytes.len() - 50);
    std::fs::write(&path, &bytes).unwrap();
    // Without the checkpoint that covers the cut record (start-up would
    // refuse to cut a signed record).
    std::fs::remove_dir_all(template.path().join("checkpoints")).unwrap();
    std::fs::create_dir(template.path().join("checkpoints")).unwrap();
    let (store, report) = Store::open(config(template.path())).unwrap();
    let torn = report.torn_tail.expect("torn tail");
    assert_eq!(torn.records_kept, N - 2);
    assert_eq!(report.damaged_records, 1);
    assert_eq!(report.records, N - 1);
    assert_eq!(
        store.read_from(Offset(0), 1000).unwrap().len() as u64,
        N - 2
    );
}

/// Damage acknowledged by an operator with a signed record: verify warns
/// instead of failing, names who and why; a changed quarantine file, a
/// record not signed by the store, or no checkpoint after the damage bring
/// the failure back.
#[test]
fn acknowledged_damage_is_a_warning_until_its_evidence_changes() {
    let template = template();
    let path = wal(template.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let (pos, len) = frames(&bytes)[42];
    bytes[pos + len / 2] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let dir = template.path();
    let (store, report) = Store::open(config(dir)).unwrap();
    let q = report.damaged[0].quarantine.clone();
    store.append(events(N..N + 5)).unwrap();
    store.close().unwrap();
    assert!(!verify(dir).unwrap().ok());

    // Who and why are required.
    assert!(ward_store::acknowledge(dir, &q, "", "x", 0).is_err());
    let (ack_path, ack) = ward_store::acknowledge(
        dir,
        &q,
        "alice",
        "disk fault; record 42 restored from the archive",
        T0,
    )
    .unwrap();
    assert_eq!((ack.damage.first_offset, ack.damage.count), (42, 1));
    let r = verify(dir).unwrap();
    assert!(r.ok(), "{:#?}", r.problems);
    let kinds: Vec<ProblemKind> = r.warnings.iter().map(|w| w.kind).collect();
    assert!(
        kinds.contains(&ProblemKind::DamageAcknowledged),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&ProblemKind::CheckpointBeforeDamage),
        "{kinds:?}"
    );
    let w = r
        .warnings
        .iter()
        .find(|w| w.kind == ProblemKind::DamageAcknowledged)
        .unwrap();
    assert!(
        w.detail.contains("alice") && w.detail.contains("disk fault"),
        "{}",
        w.detail
    );

    // The quarantined bytes changed: the acknowledgement no longer holds.
    let original = std::fs::read(&q).unwrap();
    let mut changed = original.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    std::fs::write(&q, &changed).unwrap();
    let r = verify(dir).unwrap();
    assert!(
        r.problems.iter().any(|p| p.kind == ProblemKind::Changed),
        "{:#?}",
        r.problems
    );
    std::fs::write(&q, &original).unwrap();
    assert!(verify(dir).unwrap().ok());

    // An acknowledgement signed by another key is refused and reported.
    let other = tempfile::tempdir().unwrap();
    copy_dir(dir, other.path());
    std::fs::remove_dir_all(other.path().join("key")).unwrap();
    std::fs::remove_dir_all(other.path().join("damage")).unwrap();
    let other_q = other.path().join(q.strip_prefix(dir).unwrap());
    let (forged, _) =
        ward_store::acknowledge(other.path(), &other_q, "mallory", "nothing to see", T0).unwrap();
    std::fs::copy(&forged, &ack_path).unwrap();
    let r = verify(dir).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == ProblemKind::AcknowledgementInvalid),
        "{:#?}",
        r.problems
    );
    assert!(r.problems.iter().any(|p| p.kind == ProblemKind::Changed));
}
