//! Archive layout for write-once storage, and verification of the copy.

use super::*;
use ward_store::{ProblemKind, Store, archive, verify};

#[test]
fn archive_is_write_once_and_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    for b in 0..6u64 {
        store.append(events(b * 100..b * 100 + 100)).unwrap();
    }
    store.seal_now().unwrap();
    store.append(events(600..620)).unwrap();
    store.checkpoint().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let rep = archive(dir.path(), dest.path()).unwrap();
    assert!(rep.segments >= 2);
    assert_eq!(rep.archived_end, 600, "only sealed segments are archived");
    assert!(
        rep.checkpoints >= rep.segments,
        "a checkpoint at every segment end"
    );
    let mut names = Vec::new();
    ward_store_walk(dest.path(), &mut names);
    let day = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let prefix = format!(
        "segments/{:04}/{:02}/{:02}/00000000000000000000-",
        day.year(),
        day.month(),
        day.day()
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with(&prefix) && n.ends_with(".seg")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "key/verifier.pub"));
    assert!(
        names
            .iter()
            .any(|n| n == "manifests/00000000000000000600.json")
    );
    assert!(
        !names.iter().any(|n| n.contains("00000000000000000620.cp")),
        "checkpoints beyond the archive stay out"
    );
    let v = verify(dest.path()).unwrap();
    assert!(v.ok(), "{:#?}", v.problems);
    assert_eq!(v.records, 600);
    assert_eq!(v.checkpoints_verified, v.checkpoints);

    // A second run writes only what is new.
    let again = archive(dir.path(), dest.path()).unwrap();
    assert_eq!(again.written, 0);
    store.append(events(620..1000)).unwrap();
    store.seal_now().unwrap();
    let more = archive(dir.path(), dest.path()).unwrap();
    assert!(more.written > 0 && more.already_present > 0);
    assert!(verify(dest.path()).unwrap().ok());

    // Tampering with the copy is found as well.
    let seg = dest
        .path()
        .join(names.iter().find(|n| n.ends_with(".seg")).unwrap());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&seg).unwrap().permissions().mode() & 0o777,
        0o444
    );
    std::fs::set_permissions(&seg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let v = verify(dest.path()).unwrap();
    assert!(
        v.problems
            .iter()
            .any(|p| p.kind == ProblemKind::Changed && p.file.starts_with("segments/"))
    );
    // An object that differs is never overwritten.
    let err = archive(dir.path(), dest.path()).unwrap_err();
    assert!(
        matches!(err, ward_store::StoreError::ArchiveConflict { .. }),
        "{err}"
    );
}

fn ward_store_walk(root: &std::path::Path, out: &mut Vec<String>) {
    fn go(root: &std::path::Path, d: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                go(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    go(root, root, out);
}
