//! Start-up: find the segments, deletion records and checkpoints, rebuild
//! the in-memory tree and catalog, and cut a torn tail of the newest
//! write-ahead segment (only after checking that no signed record is in it).
//!
//! [`recover`] reads as the list of phases; each phase is a function below
//! with its own tests. Rebuilding one write-ahead file is in [`wal`].

use crate::checkpoint::{Checkpoint, StoreKey, VerifierKey};
use crate::config::StoreConfig;
use crate::deletion::Deletion;
use crate::disk;
use crate::error::StoreError;
use crate::segment::{Catalog, SealedSegment, Segment};
use crate::store::{Counters, IndexRebuilt, Inner, OpenReport, TornTail};
use crate::tree::TreeCache;
use crate::writer::{ActiveWal, Writer, create_wal};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

mod wal;

pub(crate) fn recover(cfg: StoreConfig) -> Result<(Inner, OpenReport), StoreError> {
    let dirs = create_dirs(&cfg.dir)?;
    let lock = lock_dir(&cfg.dir)?;
    let (key, verifier) = load_key(&cfg.dir)?;
    let mut report = OpenReport::default();
    let (mut sealed, mut wals) = list_segments(&dirs.seg, &mut report)?;
    let deletions = crate::deletion::load_all(&dirs.del, &verifier)?;
    drop_superseded(&mut sealed, &mut wals, &deletions, &mut report)?;
    let items = order_items(sealed, wals, &deletions);
    let log = rebuild(items, &deletions, &dirs.seg, &verifier, &mut report)?;
    let latest = check_latest_checkpoint(&dirs.cp, &verifier, log.expected)?;
    report.checkpoint_size = latest.as_ref().map(|cp| cp.size);
    // Only now, with no signed record in it, is the torn tail cut.
    if let Some(t) = &report.torn_tail {
        cut_torn_tail(t)?;
    }
    let inner = Inner {
        writer: Writer::new(log.expected),
        wal: Mutex::new(None),
        catalog: RwLock::new(log.catalog),
        tree: RwLock::new(log.tree),
        durable: AtomicU64::new(log.expected),
        latest_checkpoint: Mutex::new(latest),
        signing: Mutex::new(()),
        deletions: RwLock::new(deletions),
        stats: Counters::default(),
        bg: Mutex::new(false),
        bg_wake: Condvar::new(),
        seal_lock: Mutex::new(()),
        partials: Mutex::default(),
        witness: cfg
            .witness
            .as_ref()
            .map(|_| Arc::new(crate::witness::Feed::default())),
        _lock: lock,
        cfg,
        key,
        verifier,
        seg_dir: dirs.seg,
        cp_dir: dirs.cp,
        del_dir: dirs.del,
    };
    install_active(&inner, log.active, log.expected)?;
    Ok((inner, report))
}

/// The store's subdirectories.
struct Dirs {
    seg: PathBuf,
    cp: PathBuf,
    del: PathBuf,
}

/// Creates the store directory and its subdirectories if missing.
fn create_dirs(dir: &Path) -> Result<Dirs, StoreError> {
    let dirs = Dirs {
        seg: dir.join("segments"),
        cp: dir.join("checkpoints"),
        del: dir.join("deletions"),
    };
    for d in [dir, &dirs.seg, &dirs.cp, &dirs.del] {
        disk::create_dir(d)?;
    }
    Ok(dirs)
}

/// Takes the directory's lock file: one writer per directory.
fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let lock_path = dir.join("lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::io("open", &lock_path, e))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked { path: lock_path }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io("lock", &lock_path, e)),
    }
}

/// Loads (or creates, on first start) the signing key and its verifier.
fn load_key(dir: &Path) -> Result<(StoreKey, VerifierKey), StoreError> {
    let key = StoreKey::load_or_create(dir)?;
    let verifier = VerifierKey::parse(&key.verifier_key()).map_err(|e| StoreError::Key {
        path: dir.join("key"),
        reason: e.to_string(),
    })?;
    Ok((key, verifier))
}

/// Files by the first offset in their name.
type ByFirst = BTreeMap<u64, PathBuf>;

/// Segment files by first offset: `(sealed, write-ahead)`. Leftover `.tmp`
/// files of an interrupted seal are removed and reported.
fn list_segments(
    seg_dir: &Path,
    report: &mut OpenReport,
) -> Result<(ByFirst, ByFirst), StoreError> {
    let mut sealed = BTreeMap::new();
    let mut wals = BTreeMap::new();
    let entries = std::fs::read_dir(seg_dir).map_err(|e| StoreError::io("list", seg_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", seg_dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            std::fs::remove_file(&path).map_err(|e| StoreError::io("remove", &path, e))?;
            report.removed_files.push(path);
            continue;
        }
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let Ok(first) = stem.parse::<u64>() else {
            continue;
        };
        match ext {
            "seg" => sealed.insert(first, path),
            "wal" => wals.insert(first, path),
            _ => None,
        };
    }
    Ok((sealed, wals))
}

/// Removes what an interrupted operation left behind: a write-ahead file
/// whose sealed copy exists, and a sealed segment whose deletion record
/// was written before the crash.
fn drop_superseded(
    sealed: &mut BTreeMap<u64, PathBuf>,
    wals: &mut BTreeMap<u64, PathBuf>,
    deletions: &[Deletion],
    report: &mut OpenReport,
) -> Result<(), StoreError> {
    let mut remove = |p: PathBuf| -> Result<(), StoreError> {
        std::fs::remove_file(&p).map_err(|e| StoreError::io("remove", &p, e))?;
        report.removed_files.push(p);
        Ok(())
    };
    for first in sealed.keys() {
        if let Some(p) = wals.remove(first) {
            remove(p)?;
        }
    }
    for d in deletions {
        if let Some(p) = sealed.remove(&d.first) {
            remove(p)?;
        }
    }
    Ok(())
}

/// One piece of the log, by first offset.
enum Item {
    Sealed(PathBuf),
    /// A write-ahead file; `true` for the newest (the active one).
    Wal(PathBuf, bool),
    /// Index into the deletion records.
    Deleted(usize),
}

/// Every piece of the log in offset order.
fn order_items(
    sealed: BTreeMap<u64, PathBuf>,
    wals: BTreeMap<u64, PathBuf>,
    deletions: &[Deletion],
) -> Vec<(u64, Item)> {
    let last_wal = wals.keys().next_back().copied();
    let mut items: Vec<(u64, Item)> = Vec::new();
    items.extend(sealed.into_iter().map(|(f, p)| (f, Item::Sealed(p))));
    items.extend(
        wals.into_iter()
            .map(|(f, p)| (f, Item::Wal(p, Some(f) == last_wal))),
    );
    items.extend(
        deletions
            .iter()
            .enumerate()
            .map(|(i, d)| (d.first, Item::Deleted(i))),
    );
    items.sort_by_key(|(f, _)| *f);
    items
}

/// The log as rebuilt from disk.
struct Rebuilt {
    tree: TreeCache,
    catalog: Catalog,
    active: Option<ActiveWal>,
    /// The next offset: every offset below is on disk (or deleted).
    expected: u64,
}

/// Rebuilds the tree and the catalog from the pieces, in order, refusing a
/// log with a hole.
fn rebuild(
    items: Vec<(u64, Item)>,
    deletions: &[Deletion],
    seg_dir: &Path,
    verifier: &VerifierKey,
    report: &mut OpenReport,
) -> Result<Rebuilt, StoreError> {
    let mut log = Rebuilt {
        tree: TreeCache::default(),
        catalog: Catalog::default(),
        active: None,
        expected: 0,
    };
    for (first, item) in items {
        if first != log.expected {
            return Err(StoreError::Corrupt {
                path: seg_dir.to_owned(),
                byte: 0,
                reason: format!(
                    "the log is not contiguous: expected a segment starting at offset {}, found one at {first}; run verify to see what is missing",
                    log.expected
                ),
            });
        }
        match item {
            Item::Deleted(i) => {
                let d = &deletions[i];
                for h in &d.leaves {
                    log.tree.push_leaf(*h);
                }
                log.expected = d.last + 1;
            }
            Item::Sealed(path) => {
                let seg = add_sealed(&mut log.tree, path, first, verifier, report)?;
                log.expected = first + seg.index.count;
                log.catalog.segments.push(Arc::new(Segment::Sealed(seg)));
            }
            Item::Wal(path, is_last) => add_wal(&mut log, path, first, is_last, report)?,
        }
    }
    report.records = log.expected;
    report.segments = log.catalog.segments.len();
    Ok(log)
}

/// Opens a sealed segment and adds its leaves to the tree from its Merkle
/// summary (no re-hashing). An index that is not the signed one is not
/// used: it is rebuilt from the records and reported.
fn add_sealed(
    tree: &mut TreeCache,
    path: PathBuf,
    first: u64,
    verifier: &VerifierKey,
    report: &mut OpenReport,
) -> Result<SealedSegment, StoreError> {
    let mut seg = SealedSegment::open(path)?;
    if seg.header.first_offset != first {
        return Err(StoreError::corrupt(
            &seg.path,
            12,
            "header first offset does not match the file name",
        ));
    }
    let trust = crate::index::signature::check(verifier, &seg.path, first, &seg.index);
    if trust != crate::index::signature::Trust::Signed {
        seg.index = crate::format::sealed::rebuild_index(&seg.file, &seg.path)?;
        report.index_rebuilt.push(IndexRebuilt {
            segment: seg.path.clone(),
            reason: match trust {
                crate::index::signature::Trust::Mismatch(why) => why,
                _ => "the index has no signature".to_owned(),
            },
        });
    }
    let m = &seg.index.merkle;
    for h in &m.head {
        tree.push_leaf(*h);
    }
    for h in &m.chunks {
        tree.push_chunk(*h)
            .map_err(|reason| StoreError::corrupt(&seg.path, 0, reason))?;
    }
    for h in &m.tail {
        tree.push_leaf(*h);
    }
    if tree.size() != first + seg.index.count {
        return Err(StoreError::corrupt(
            &seg.path,
            0,
            "Merkle summary does not cover the segment's records",
        ));
    }
    Ok(seg)
}

/// Rebuilds a write-ahead segment: the newest becomes the active one,
/// older ones wait to be sealed.
fn add_wal(
    log: &mut Rebuilt,
    path: PathBuf,
    first: u64,
    is_last: bool,
    report: &mut OpenReport,
) -> Result<(), StoreError> {
    let found = wal::recover_wal(&path, first, is_last, &mut log.tree)?;
    if let Some(t) = found.torn {
        report.torn_tail = Some(t);
    }
    report.damaged_records += found.damaged.iter().map(|d| d.records).sum::<u64>();
    report.damaged.extend(found.damaged);
    let Some(seg) = found.segment else {
        // A write-ahead file whose header never became durable: nothing in
        // it was acknowledged.
        report.removed_files.push(path);
        return Ok(());
    };
    log.expected = first + seg.state.read().positions.len() as u64;
    let seg = Arc::new(Segment::Open(seg));
    if is_last {
        log.active = Some(active_wal(path, seg.clone())?);
    } else {
        if let Segment::Open(o) = &*seg {
            o.state.write().closed = true;
        }
        report.pending_seal += 1;
    }
    log.catalog.segments.push(seg);
    Ok(())
}

/// The newest write-ahead file, opened for appending. Its age counts from
/// when it was created (its header), not from this start: a store
/// restarted more often than `segment_max_age` still seals by age.
fn active_wal(path: PathBuf, segment: Arc<Segment>) -> Result<ActiveWal, StoreError> {
    let file = File::options()
        .append(true)
        .open(&path)
        .map_err(|e| StoreError::io("open", &path, e))?;
    let created_ms = match &*segment {
        Segment::Open(o) => o.header.created_ms,
        Segment::Sealed(_) => crate::disk::now_ms(),
    };
    let age = u64::try_from(crate::disk::now_ms().saturating_sub(created_ms)).unwrap_or(0);
    let now = Instant::now();
    Ok(ActiveWal {
        file,
        path,
        bytes: segment.bytes(),
        segment,
        opened: now
            .checked_sub(std::time::Duration::from_millis(age))
            .unwrap_or(now),
    })
}

/// The latest signed checkpoint; refuses to start if it covers more
/// records than are on disk (acknowledged, signed records were lost).
fn check_latest_checkpoint(
    cp_dir: &Path,
    verifier: &VerifierKey,
    on_disk: u64,
) -> Result<Option<Checkpoint>, StoreError> {
    let latest = crate::seal::load_latest_checkpoint(cp_dir, verifier)?;
    if let Some(cp) = &latest
        && cp.size > on_disk
    {
        return Err(StoreError::Corrupt {
            path: cp_dir.join(disk::segment_name(cp.size, "cp")),
            byte: 0,
            reason: format!(
                "a signed checkpoint covers {} records but only {on_disk} are on disk: acknowledged records are missing; run verify",
                cp.size
            ),
        });
    }
    Ok(latest)
}

/// Truncates the newest write-ahead file at the end of its last complete
/// record and says so.
fn cut_torn_tail(t: &TornTail) -> Result<(), StoreError> {
    let f = File::options()
        .write(true)
        .open(&t.segment)
        .map_err(|e| StoreError::io("open", &t.segment, e))?;
    f.set_len(t.byte)
        .and_then(|()| f.sync_all())
        .map_err(|e| StoreError::io("truncate", &t.segment, e))?;
    tracing::warn!(
        segment = %t.segment.display(),
        byte = t.byte,
        removed = t.bytes_removed,
        "cut torn tail of the log"
    );
    Ok(())
}

/// Makes the recovered newest write-ahead file the active one, or starts a
/// new one at `next` if there is none.
fn install_active(inner: &Inner, active: Option<ActiveWal>, next: u64) -> Result<(), StoreError> {
    let active = match active {
        Some(a) => a,
        None => {
            let a = create_wal(inner, next)?;
            inner.catalog.write().segments.push(a.segment.clone());
            a
        }
    };
    *inner.wal.lock() = Some(active);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{config, store_with};
    use crate::{Offset, Store};

    fn touch(p: &Path) {
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn create_dirs_makes_every_subdirectory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("new/store");
        let d = create_dirs(&root).unwrap();
        for p in [&d.seg, &d.cp, &d.del] {
            assert!(p.is_dir(), "{}", p.display());
        }
        assert_eq!(d.seg, root.join("segments"));
    }

    #[test]
    fn lock_dir_admits_one_writer() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_dir(dir.path()).unwrap();
        let err = lock_dir(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        drop(held);
        lock_dir(dir.path()).unwrap();
    }

    #[test]
    fn load_key_creates_once_and_reloads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = load_key(dir.path()).unwrap();
        let (b, verifier) = load_key(dir.path()).unwrap();
        assert_eq!(a.verifier_key(), b.verifier_key());
        let cp = a.checkpoint(1, &[7; 32], 0);
        verifier.open_checkpoint(&cp.note).unwrap();
    }

    #[test]
    fn list_segments_sorts_by_kind_and_removes_tmp_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "00000000000000000010.wal",
            "00000000000000000000.seg",
            "00000000000000000010.seg.tmp",
            "notes.txt",
            "00000000000000000020.other",
        ] {
            touch(&dir.path().join(name));
        }
        let mut report = OpenReport::default();
        let (sealed, wals) = list_segments(dir.path(), &mut report).unwrap();
        assert_eq!(sealed.keys().copied().collect::<Vec<_>>(), vec![0]);
        assert_eq!(wals.keys().copied().collect::<Vec<_>>(), vec![10]);
        assert_eq!(report.removed_files.len(), 1);
        assert!(!dir.path().join("00000000000000000010.seg.tmp").exists());
        assert!(dir.path().join("notes.txt").exists());
    }

    #[test]
    fn drop_superseded_removes_a_wal_with_a_sealed_twin() {
        let dir = tempfile::tempdir().unwrap();
        let (seg, wal, newer) = (
            dir.path().join("0.seg"),
            dir.path().join("0.wal"),
            dir.path().join("5.wal"),
        );
        for p in [&seg, &wal, &newer] {
            touch(p);
        }
        let mut sealed = BTreeMap::from([(0, seg.clone())]);
        let mut wals = BTreeMap::from([(0, wal.clone()), (5, newer.clone())]);
        let mut report = OpenReport::default();
        drop_superseded(&mut sealed, &mut wals, &[], &mut report).unwrap();
        assert!(!wal.exists() && seg.exists() && newer.exists());
        assert_eq!(wals.len(), 1);
        assert_eq!(report.removed_files, vec![wal]);
    }

    #[test]
    fn order_items_sorts_by_offset_and_marks_the_newest_wal() {
        let sealed = BTreeMap::from([(0, PathBuf::from("a.seg"))]);
        let wals = BTreeMap::from([(20, PathBuf::from("c.wal")), (10, PathBuf::from("b.wal"))]);
        let items = order_items(sealed, wals, &[]);
        let shape: Vec<(u64, Option<bool>)> = items
            .iter()
            .map(|(f, i)| match i {
                Item::Wal(_, last) => (*f, Some(*last)),
                _ => (*f, None),
            })
            .collect();
        assert_eq!(shape, vec![(0, None), (10, Some(false)), (20, Some(true))]);
    }

    #[test]
    fn rebuild_refuses_a_hole() {
        let dir = tempfile::tempdir().unwrap();
        let items = vec![(5, Item::Sealed(dir.path().join("x.seg")))];
        let (_, vk) = load_key(dir.path()).unwrap();
        let err = rebuild(items, &[], dir.path(), &vk, &mut OpenReport::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("not contiguous"), "{err}");
        assert!(
            err.to_string().contains("offset 0, found one at 5"),
            "{err}"
        );
    }

    #[test]
    fn add_sealed_checks_the_file_name_against_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 30);
        store.seal_now().unwrap();
        let path = dir
            .path()
            .join("segments")
            .join(disk::segment_name(0, "seg"));
        drop(store);
        let (_, vk) = load_key(dir.path()).unwrap();
        let mut report = OpenReport::default();
        let mut tree = TreeCache::default();
        let seg = add_sealed(&mut tree, path.clone(), 0, &vk, &mut report).unwrap();
        assert_eq!((seg.index.count, tree.size()), (30, 30));
        assert!(
            report.index_rebuilt.is_empty(),
            "{:?}",
            report.index_rebuilt
        );
        let err = add_sealed(&mut TreeCache::default(), path, 7, &vk, &mut report)
            .err()
            .unwrap();
        assert!(err.to_string().contains("first offset"), "{err}");
    }

    #[test]
    fn add_wal_makes_the_newest_active_and_queues_older_ones() {
        let dir = tempfile::tempdir().unwrap();
        drop(store_with(dir.path(), 12));
        let path = dir
            .path()
            .join("segments")
            .join(disk::segment_name(0, "wal"));
        let mut log = Rebuilt {
            tree: TreeCache::default(),
            catalog: Catalog::default(),
            active: None,
            expected: 0,
        };
        let mut report = OpenReport::default();
        add_wal(&mut log, path.clone(), 0, false, &mut report).unwrap();
        assert_eq!((log.expected, report.pending_seal), (12, 1));
        assert!(log.active.is_none());
        let mut log = Rebuilt {
            active: None,
            ..log
        };
        log.tree = TreeCache::default();
        add_wal(&mut log, path, 0, true, &mut report).unwrap();
        assert!(log.active.is_some());
        assert_eq!(report.pending_seal, 1);
    }

    #[test]
    fn check_latest_checkpoint_refuses_a_checkpoint_beyond_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 20);
        let verifier = VerifierKey::parse(&store.public_key()).unwrap();
        store.close().unwrap();
        let cp_dir = dir.path().join("checkpoints");
        let cp = check_latest_checkpoint(&cp_dir, &verifier, 20).unwrap();
        assert_eq!(cp.map(|c| c.size), Some(20));
        let err = check_latest_checkpoint(&cp_dir, &verifier, 19).unwrap_err();
        assert!(
            err.to_string().contains("acknowledged records are missing"),
            "{err}"
        );
    }

    #[test]
    fn cut_torn_tail_truncates_at_the_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wal");
        std::fs::write(&path, [1u8; 100]).unwrap();
        let t = TornTail {
            segment: path.clone(),
            byte: 60,
            bytes_removed: 40,
            records_kept: 0,
            reason: "test".into(),
        };
        cut_torn_tail(&t).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 60);
    }

    #[test]
    fn install_active_starts_a_wal_only_when_none_was_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(config(dir.path())).unwrap();
        let first = dir
            .path()
            .join("segments")
            .join(disk::segment_name(0, "wal"));
        assert!(first.exists());
        store.append(crate::testing::records(0..3)).unwrap();
        drop(store);
        let (store, _) = Store::open(config(dir.path())).unwrap();
        assert_eq!(
            store.append(crate::testing::records(3..4)).unwrap(),
            vec![Offset(3)]
        );
        let files = std::fs::read_dir(dir.path().join("segments"))
            .unwrap()
            .count();
        assert_eq!(files, 1, "the recovered WAL is appended to, not replaced");
    }
}
