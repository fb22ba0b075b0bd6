//! Old on-disk formats stay readable: `tests/compat/v1` is a store written
//! by format version 1 (sealed segments, checkpoints, verifier key).
//! Regenerate only when adding a new version directory:
//! `WARD_STORE_WRITE_COMPAT=v1 cargo test -p ward-store --test it -- --ignored compat::write_fixture`

use super::*;
use std::path::PathBuf;
use ward_store::format::{self, sealed};
use ward_store::{Store, verify};

fn fixture(version: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat")
        .join(version)
}

const RECORDS: u64 = 120;

#[test]
fn v1_fixture_reads_and_verifies() {
    let dir = fixture("v1");
    let report = verify(&dir).unwrap();
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.records, RECORDS);
    assert!(report.checkpoints_verified >= 1);
    let mut n = 0u64;
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    for p in segs {
        let file = std::fs::File::open(&p).unwrap();
        let (header, index) = sealed::read_index(&file, &p).unwrap();
        assert_eq!(header.version, 1);
        assert_eq!(header.first_offset, n);
        for b in &index.blocks {
            let raw = sealed::read_block(&file, &p, b).unwrap();
            for (_, rec) in sealed::block_records(&raw) {
                let d = format::decode_record(rec.unwrap()).unwrap();
                let want = event(n);
                assert_eq!(d.offset, n);
                assert_eq!(d.id, want.id);
                assert_eq!(d.time_ms, want.time_ms);
                // The same event; key order is the writer's JSON map order,
                // which is not part of the format.
                let got: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
                let expected: serde_json::Value = serde_json::from_slice(&want.body).unwrap();
                assert_eq!(got, expected);
                n += 1;
            }
        }
    }
    assert_eq!(n, RECORDS);
}

#[test]
#[ignore = "writes the fixture for a new format version"]
fn write_fixture() {
    let Ok(version) = std::env::var("WARD_STORE_WRITE_COMPAT") else {
        return;
    };
    let out = fixture(&version);
    assert!(
        !out.exists(),
        "{} exists; fixtures are never rewritten",
        out.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    store.append(events(0..RECORDS / 2)).unwrap();
    store.seal_now().unwrap();
    store.append(events(RECORDS / 2..RECORDS)).unwrap();
    store.seal_now().unwrap();
    store.close().unwrap();
    for sub in ["segments", "checkpoints", "key"] {
        std::fs::create_dir_all(out.join(sub)).unwrap();
        for e in std::fs::read_dir(dir.path().join(sub)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            if name.ends_with(".seg") || name.ends_with(".cp") || name == "verifier.pub" {
                std::fs::copy(&p, out.join(sub).join(&name)).unwrap();
            }
        }
    }
}
