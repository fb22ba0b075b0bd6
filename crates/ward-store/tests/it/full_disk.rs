//! A full disk heals itself: appends are refused with `NoSpace` while it
//! lasts, every acknowledged record survives exactly once, and appends
//! resume as soon as space is freed, without reopening the store. Runs on
//! a small tmpfs (the tests run as root); skipped with a message where
//! mounting is not permitted.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use ward_store::{ErrorClass, Offset, Store};

use crate::{event, test_config};

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
pub struct Tmpfs {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs (needs root): the full-disk test did not run");
            return None;
        }
        Some(Tmpfs { path, _dir: dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the file system holding `path` completely with a ballast file.
fn fill(path: &Path) -> std::fs::File {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 64 << 10];
    while f.write_all(&chunk).is_ok() {}
    let mut small = [0u8; 512];
    small.fill(1);
    while f.write_all(&small).is_ok() {}
    f
}

#[test]
fn a_full_disk_refuses_appends_then_heals_without_reopening() {
    let Some(fs) = Tmpfs::mount("4m") else { return };
    let dir = fs.path.join("store");
    let (store, _) = Store::open(test_config(&dir)).unwrap();
    let store = Arc::new(store);
    // Leave some room, then fill it from four appenders at once.
    let ballast = fill(&fs.path.join("ballast"));
    let len = ballast.metadata().unwrap().len();
    ballast.set_len(len.saturating_sub(300 << 10)).unwrap();
    drop(ballast);

    let acked = Arc::new(Mutex::new(Vec::<(Offset, String)>::new()));
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (store, acked, refused) = (store.clone(), acked.clone(), refused.clone());
            std::thread::spawn(move || {
                let mut no_space = 0;
                for b in 0.. {
                    let batch: Vec<_> =
                        (0..20).map(|i| event(t * 1_000_000 + b * 20 + i)).collect();
                    let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
                    match store.append(batch) {
                        Ok(offsets) => acked.lock().unwrap().extend(offsets.into_iter().zip(ids)),
                        Err(e) => {
                            assert_eq!(e.class(), ErrorClass::NoSpace, "{e}");
                            refused.lock().unwrap().extend(ids);
                            no_space += 1;
                            if no_space == 5 {
                                return;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let failure = store.write_failure().expect("the full disk is reported");
    assert_eq!(failure.class, ErrorClass::NoSpace);
    assert!(store.stats().write_failures >= 5);
    let before = acked.lock().unwrap().len();
    assert!(before > 0, "some appends fitted before the disk filled");

    // Space returns: the next append works, with no reopen.
    std::fs::remove_file(fs.path.join("ballast")).unwrap();
    let batch: Vec<_> = (0..20).map(|i| event(9_000_000 + i)).collect();
    let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
    let offsets = store.append(batch).unwrap();
    acked.lock().unwrap().extend(offsets.into_iter().zip(ids));
    assert!(store.write_failure().is_none());

    // Every acknowledged record exactly once, at its offset; nothing refused.
    let acked = acked.lock().unwrap().clone();
    let stored = store.read_from(Offset(0), 1_000_000).unwrap();
    assert_eq!(
        stored.len(),
        acked.len(),
        "offsets are dense: no hole left by a refused group"
    );
    let by_offset: std::collections::HashMap<u64, &str> =
        stored.iter().map(|r| (r.offset.0, r.id.as_str())).collect();
    for (off, id) in &acked {
        assert_eq!(by_offset.get(&off.0), Some(&id.as_str()));
    }
    let ids: HashSet<&str> = stored.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), stored.len(), "no record twice");
    for id in refused.lock().unwrap().iter() {
        assert!(!ids.contains(id.as_str()), "refused {id} was stored");
    }

    // And so after a restart, and the log verifies.
    let store = Arc::into_inner(store).unwrap();
    store.close().unwrap();
    let (store, report) = Store::open(test_config(&dir)).unwrap();
    assert_eq!(report.records, acked.len() as u64);
    assert!(report.torn_tail.is_none(), "{report:?}");
    drop(store);
    let v = ward_store::verify(&dir).unwrap();
    assert!(v.ok(), "{:?}", v.problems);
}
