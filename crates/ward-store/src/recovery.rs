//! Start-up: find the segments, deletion records and checkpoints, rebuild
//! the in-memory tree and catalog, and cut a torn tail of the newest
//! write-ahead segment (only after checking that no signed record is in it).

use crate::checkpoint::{StoreKey, VerifierKey};
use crate::config::StoreConfig;
use crate::disk;
use crate::error::StoreError;
use crate::format;
use crate::merkle::leaf_hash;
use crate::segment::{Catalog, OpenSegment, OpenState, SealedSegment, Segment, scan_wal};
use crate::store::{Counters, Inner, OpenReport, TornTail};
use crate::tree::TreeCache;
use crate::writer::{ActiveWal, Writer, create_wal};
use parking_lot::{Condvar, Mutex, RwLock};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

pub(crate) fn recover(cfg: StoreConfig) -> Result<(Inner, OpenReport), StoreError> {
    let seg_dir = cfg.dir.join("segments");
    let cp_dir = cfg.dir.join("checkpoints");
    let del_dir = cfg.dir.join("deletions");
    for d in [&cfg.dir, &seg_dir, &cp_dir, &del_dir] {
        disk::create_dir(d)?;
    }
    let lock_path = cfg.dir.join("lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::io("open", &lock_path, e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(StoreError::Locked { path: lock_path });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io("lock", &lock_path, e)),
    }
    let key = StoreKey::load_or_create(&cfg.dir)?;
    let verifier = VerifierKey::parse(&key.verifier_key()).map_err(|e| StoreError::Key {
        path: cfg.dir.join("key"),
        reason: e.to_string(),
    })?;
    let mut report = OpenReport::default();

    // Segment files by first offset; a sealed file wins over its WAL.
    let mut sealed = std::collections::BTreeMap::new();
    let mut wals = std::collections::BTreeMap::new();
    let entries = std::fs::read_dir(&seg_dir).map_err(|e| StoreError::io("list", &seg_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", &seg_dir, e))?;
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
            "seg" => {
                sealed.insert(first, path);
            }
            "wal" => {
                wals.insert(first, path);
            }
            _ => {}
        }
    }
    for first in sealed.keys() {
        if let Some(p) = wals.remove(first) {
            std::fs::remove_file(&p).map_err(|e| StoreError::io("remove", &p, e))?;
            report.removed_files.push(p);
        }
    }
    let deletions = crate::deletion::load_all(&del_dir, &verifier)?;
    for d in &deletions {
        // A deletion record is written before its segment is removed; a
        // crash in between leaves the segment to remove now.
        if let Some(p) = sealed.remove(&d.first) {
            std::fs::remove_file(&p).map_err(|e| StoreError::io("remove", &p, e))?;
            report.removed_files.push(p);
        }
    }

    enum Item {
        Sealed(PathBuf),
        Wal(PathBuf),
        Deleted(usize),
    }
    let mut items: Vec<(u64, Item)> = Vec::new();
    items.extend(sealed.into_iter().map(|(f, p)| (f, Item::Sealed(p))));
    let last_wal = wals.keys().next_back().copied();
    items.extend(wals.into_iter().map(|(f, p)| (f, Item::Wal(p))));
    items.extend(
        deletions
            .iter()
            .enumerate()
            .map(|(i, d)| (d.first, Item::Deleted(i))),
    );
    items.sort_by_key(|(f, _)| *f);

    let mut tree = TreeCache::default();
    let mut catalog = Catalog::default();
    let mut active: Option<ActiveWal> = None;
    let mut expected = 0u64;
    for (first, item) in items {
        if first != expected {
            return Err(StoreError::Corrupt {
                path: seg_dir.clone(),
                byte: 0,
                reason: format!(
                    "the log is not contiguous: expected a segment starting at offset {expected}, found one at {first}; run verify to see what is missing"
                ),
            });
        }
        match item {
            Item::Deleted(i) => {
                for h in &deletions[i].leaves {
                    tree.push_leaf(*h);
                }
                expected = deletions[i].last + 1;
            }
            Item::Sealed(path) => {
                let seg = SealedSegment::open(path)?;
                if seg.header.first_offset != first {
                    return Err(StoreError::corrupt(
                        &seg.path,
                        12,
                        "header first offset does not match the file name",
                    ));
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
                expected = first + seg.index.count;
                if tree.size() != expected {
                    return Err(StoreError::corrupt(
                        &seg.path,
                        0,
                        "Merkle summary does not cover the segment's records",
                    ));
                }
                catalog.segments.push(Arc::new(Segment::Sealed(seg)));
            }
            Item::Wal(path) => {
                let is_last = Some(first) == last_wal;
                let (seg, torn) = recover_wal(&path, first, is_last, &mut tree)?;
                if let Some(t) = torn {
                    report.torn_tail = Some(t);
                }
                let Some(seg) = seg else {
                    // A write-ahead file whose header never became durable:
                    // nothing in it was acknowledged.
                    report.removed_files.push(path);
                    continue;
                };
                expected = first + seg.state.read().positions.len() as u64;
                let seg = Arc::new(Segment::Open(seg));
                if is_last {
                    let file = File::options()
                        .append(true)
                        .open(&path)
                        .map_err(|e| StoreError::io("open", &path, e))?;
                    active = Some(ActiveWal {
                        file,
                        path,
                        segment: seg.clone(),
                        bytes: seg.bytes(),
                        opened: Instant::now(),
                    });
                } else {
                    if let Segment::Open(o) = &*seg {
                        o.state.write().closed = true;
                    }
                    report.pending_seal += 1;
                }
                catalog.segments.push(seg);
            }
        }
    }
    report.records = expected;
    report.segments = catalog.segments.len();

    let latest = crate::seal::load_latest_checkpoint(&cp_dir, &verifier)?;
    if let Some(cp) = &latest {
        if cp.size > expected {
            return Err(StoreError::Corrupt {
                path: cp_dir.join(disk::segment_name(cp.size, "cp")),
                byte: 0,
                reason: format!(
                    "a signed checkpoint covers {} records but only {expected} are on disk: acknowledged records are missing; run verify",
                    cp.size
                ),
            });
        }
        report.checkpoint_size = Some(cp.size);
    }
    // Only now, with no signed record in it, is the torn tail cut.
    if let Some(t) = &report.torn_tail {
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
    }

    let inner = Inner {
        writer: Writer::new(expected),
        wal: Mutex::new(None),
        catalog: RwLock::new(catalog),
        tree: RwLock::new(tree),
        durable: AtomicU64::new(expected),
        latest_checkpoint: Mutex::new(latest),
        deletions: RwLock::new(deletions),
        stats: Counters::default(),
        bg: Mutex::new(false),
        bg_wake: Condvar::new(),
        seal_lock: Mutex::new(()),
        _lock: lock,
        cfg,
        key,
        verifier,
        seg_dir,
        cp_dir,
        del_dir,
    };
    let active = match active {
        Some(a) => a,
        None => {
            let a = create_wal(&inner, expected)?;
            inner.catalog.write().segments.push(a.segment.clone());
            a
        }
    };
    *inner.wal.lock() = Some(active);
    Ok((inner, report))
}

/// Rebuilds an open segment from its file; cuts a torn tail of the last one.
fn recover_wal(
    path: &std::path::Path,
    first: u64,
    is_last: bool,
    tree: &mut TreeCache,
) -> Result<(Option<OpenSegment>, Option<TornTail>), StoreError> {
    let len = std::fs::metadata(path)
        .map_err(|e| StoreError::io("stat", path, e))?
        .len();
    if is_last && len < format::HEADER_LEN as u64 {
        std::fs::remove_file(path).map_err(|e| StoreError::io("remove", path, e))?;
        return Ok((None, None));
    }
    let mut state = OpenState::default();
    let mut next = first;
    let mut bad_offset = None;
    let scan = scan_wal(path, &mut |pos, payload| {
        let (terms, rec) = format::split_payload(payload)
            .map_err(|reason| StoreError::corrupt(path, pos, reason))?;
        let d =
            format::decode_record(rec).map_err(|reason| StoreError::corrupt(path, pos, reason))?;
        if d.offset != next {
            bad_offset.get_or_insert((pos, d.offset, next));
            return Ok(());
        }
        let terms =
            format::decode_terms(terms).map_err(|reason| StoreError::corrupt(path, pos, reason))?;
        let mut hashes = Vec::new();
        let mut fields: Vec<String> = Vec::new();
        for (f, v) in crate::record::all_terms(&d.id, &d.category, &terms) {
            hashes.push(crate::index::bloom::term_hash(f, v));
            if !fields.iter().any(|x| x == f) {
                fields.push(f.to_owned());
            }
        }
        let len = (format::FRAME_HEADER_LEN + payload.len()) as u64;
        state.add(pos, len, d.time_ms, &hashes, &fields, first);
        tree.push_leaf(leaf_hash(rec));
        next += 1;
        Ok(())
    })?;
    if scan.header.first_offset != first {
        return Err(StoreError::corrupt(
            path,
            12,
            "header first offset does not match the file name",
        ));
    }
    if let Some((pos, found, want)) = bad_offset {
        return Err(StoreError::corrupt(
            path,
            pos,
            format!("record holds offset {found} where {want} was expected; run verify"),
        ));
    }
    state.bytes = scan.good_len;
    let mut torn = None;
    if let Some(reason) = scan.bad {
        if !is_last {
            return Err(StoreError::corrupt(
                path,
                scan.good_len,
                format!("{reason} in a closed segment (not a torn tail); run verify"),
            ));
        }
        torn = Some(TornTail {
            segment: path.to_owned(),
            byte: scan.good_len,
            bytes_removed: scan.file_len - scan.good_len,
            records_kept: scan.frames.len() as u64,
            reason,
        });
    }
    let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    Ok((
        Some(OpenSegment {
            path: path.to_owned(),
            file,
            header: scan.header,
            state: RwLock::new(state),
        }),
        torn,
    ))
}
