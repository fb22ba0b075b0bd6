//! The [`Store`]: opening (with crash recovery), the shared state, reads.
//!
//! Directory layout:
//!
//! ```text
//! key/signing.key, key/verifier.pub     Ed25519 key (created on first start)
//! segments/<first:020>.wal               write-ahead segments (active, or closed and waiting to be sealed)
//! segments/<first:020>.seg               sealed segments, mode 0444
//! checkpoints/<size:020>.cp              signed checkpoints (C2SP signed notes)
//! deletions/<first:020>-<last:020>.del   signed deletion records, with .leaves (leaf hashes)
//! ```

use crate::checkpoint::{Checkpoint, StoreKey, VerifierKey};
use crate::config::StoreConfig;
use crate::deletion::Deletion;
use crate::disk;
use crate::error::StoreError;
use crate::format;
use crate::merkle::{Hash, leaf_hash};
use crate::record::{Offset, StoredRecord};
use crate::segment::{Catalog, OpenSegment, OpenState, SealedSegment, Segment, scan_wal};
use crate::tree::TreeCache;
use crate::writer::{ActiveWal, Writer, create_wal};
use parking_lot::{Condvar, Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// What start-up found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenReport {
    /// Durable records in the log (deleted ones included).
    pub records: u64,
    /// Segments on disk.
    pub segments: usize,
    /// A torn tail that was cut off, if any.
    pub torn_tail: Option<TornTail>,
    /// Files of interrupted operations that were removed.
    pub removed_files: Vec<PathBuf>,
    /// Closed write-ahead segments queued for sealing.
    pub pending_seal: usize,
    /// The latest checkpoint's tree size.
    pub checkpoint_size: Option<u64>,
}

/// A torn tail cut off at start-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TornTail {
    /// The write-ahead segment.
    pub segment: PathBuf,
    /// Byte where the good part ends (the file's new length).
    pub byte: u64,
    /// Bytes removed.
    pub bytes_removed: u64,
    /// Complete records kept in that segment.
    pub records_kept: u64,
    /// What was wrong at `byte`.
    pub reason: String,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Counters {
    /// fsyncs of appended data.
    pub fsyncs: AtomicU64,
    /// Group commits.
    pub groups: AtomicU64,
    /// Records in all group commits.
    pub group_records: AtomicU64,
    /// Largest group.
    pub max_group: AtomicU64,
    /// Checkpoints signed.
    pub checkpoints: AtomicU64,
    /// Segments sealed.
    pub sealed: AtomicU64,
}

/// The store's numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Durable records (deleted included).
    pub records: u64,
    /// Records deleted by retention.
    pub deleted_records: u64,
    /// Bytes of segment files.
    pub bytes: u64,
    /// Segments (sealed and open).
    pub segments: usize,
    /// Sealed segments.
    pub sealed_segments: usize,
    /// fsyncs of appended data.
    pub fsyncs: u64,
    /// Group commits.
    pub groups: u64,
    /// Mean records per group commit.
    pub mean_group: f64,
    /// Largest group commit.
    pub max_group: u64,
    /// Checkpoints signed since start.
    pub checkpoints: u64,
    /// Tree size of the latest checkpoint.
    pub checkpoint_size: u64,
}

/// The shared state behind [`Store`].
pub struct Inner {
    pub(crate) cfg: StoreConfig,
    pub(crate) key: StoreKey,
    pub(crate) verifier: VerifierKey,
    pub(crate) seg_dir: PathBuf,
    pub(crate) cp_dir: PathBuf,
    pub(crate) del_dir: PathBuf,
    pub(crate) writer: Writer,
    pub(crate) wal: Mutex<Option<ActiveWal>>,
    pub(crate) catalog: RwLock<Catalog>,
    pub(crate) tree: RwLock<TreeCache>,
    pub(crate) durable: AtomicU64,
    pub(crate) latest_checkpoint: Mutex<Option<Checkpoint>>,
    pub(crate) deletions: RwLock<Vec<Deletion>>,
    pub(crate) stats: Counters,
    pub(crate) bg: Mutex<bool>,
    pub(crate) bg_wake: Condvar,
    pub(crate) seal_lock: Mutex<()>,
    pub(crate) started: Instant,
}

/// The event store. `Send + Sync`; every method blocks.
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    pub(crate) background: Option<std::thread::JoinHandle<()>>,
}

impl Store {
    /// Opens (or creates) the store in `cfg.dir`, recovering from a crash:
    /// a torn tail of the last write-ahead segment is cut off at the last
    /// complete checksummed record and reported.
    pub fn open(cfg: StoreConfig) -> Result<(Store, OpenReport), StoreError> {
        cfg.validate()
            .map_err(|errs| StoreError::Config(errs.join("; ")))?;
        let (inner, report) = recover(cfg)?;
        let inner = Arc::new(inner);
        let background = if inner.cfg.background {
            let bg = inner.clone();
            Some(
                std::thread::Builder::new()
                    .name("ward-store".into())
                    .spawn(move || crate::seal::background(&bg))
                    .map_err(|e| StoreError::io("spawn background thread", &inner.seg_dir, e))?,
            )
        } else {
            None
        };
        if report.pending_seal > 0 {
            inner.wake_background();
        }
        Ok((Store { inner, background }, report))
    }

    /// Appends a batch; returns its offsets once it is fsynced. Concurrent
    /// callers share fsyncs (group commit).
    pub fn append(&self, batch: Vec<crate::Record>) -> Result<Vec<Offset>, StoreError> {
        self.inner.append(batch)
    }

    /// Up to `max` durable records from `from` on, in order; deleted ranges
    /// are skipped. For tailing readers (live detection).
    pub fn read_from(&self, from: Offset, max: usize) -> Result<Vec<StoredRecord>, StoreError> {
        self.inner.read_from(from.0, max)
    }

    /// The offset the next appended record will get once durable: every
    /// offset below it is durable.
    pub fn next_offset(&self) -> Offset {
        Offset(self.inner.durable.load(Ordering::SeqCst))
    }

    /// The record with this `event.id`, if any (the newest if repeated).
    pub fn get(&self, id: &str) -> Result<Option<StoredRecord>, StoreError> {
        self.inner.get(id)
    }

    /// The verifier key (signed-note text) that checks checkpoints and
    /// proofs offline.
    pub fn public_key(&self) -> String {
        self.inner.key.verifier_key()
    }

    /// Numbers for `/metrics`.
    pub fn stats(&self) -> StoreStats {
        self.inner.stats()
    }

    /// Closes the active segment and seals every closed one now.
    pub fn seal_now(&self) -> Result<usize, StoreError> {
        self.inner.request_rotation();
        crate::seal::seal_pending(&self.inner)
    }

    /// Stops the background thread and signs a final checkpoint.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.stop_background();
        self.inner.checkpoint_if_grown()?;
        Ok(())
    }

    fn stop_background(&mut self) {
        *self.inner.bg.lock() = true;
        self.inner.bg_wake.notify_all();
        if let Some(h) = self.background.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_background();
    }
}

impl Inner {
    pub(crate) fn wake_background(&self) {
        self.bg_wake.notify_all();
    }

    /// Closes the active segment at the next group commit, running one now
    /// if no writer is.
    pub(crate) fn request_rotation(&self) {
        let mut st = self.writer.state.lock();
        st.rotate = true;
        while st.flushing {
            self.writer.flushed.wait(&mut st);
        }
        if st.rotate && st.failed.is_none() {
            self.lead(&mut st);
        }
    }

    pub(crate) fn stats(&self) -> StoreStats {
        let cat = self.catalog.read();
        let groups = self.stats.groups.load(Ordering::Relaxed);
        let recs = self.stats.group_records.load(Ordering::Relaxed);
        StoreStats {
            records: self.durable.load(Ordering::SeqCst),
            deleted_records: self.deletions.read().iter().map(|d| d.last - d.first + 1).sum(),
            bytes: cat.segments.iter().map(|s| s.bytes()).sum(),
            segments: cat.segments.len(),
            sealed_segments: cat
                .segments
                .iter()
                .filter(|s| matches!(***s, Segment::Sealed(_)))
                .count(),
            fsyncs: self.stats.fsyncs.load(Ordering::Relaxed),
            groups,
            mean_group: if groups == 0 { 0.0 } else { recs as f64 / groups as f64 },
            max_group: self.stats.max_group.load(Ordering::Relaxed),
            checkpoints: self.stats.checkpoints.load(Ordering::Relaxed),
            checkpoint_size: self.latest_checkpoint.lock().as_ref().map_or(0, |c| c.size),
        }
    }

    /// Calls `f` for the leaf bytes of durable records `from..to`, skipping
    /// deleted ranges.
    pub(crate) fn for_each_leaf(
        &self,
        from: u64,
        to: u64,
        f: &mut dyn FnMut(u64, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let to = to.min(self.durable.load(Ordering::SeqCst));
        let mut at = from;
        while at < to {
            let seg = {
                let cat = self.catalog.read();
                match cat.find(at) {
                    Some(s) => s,
                    None => match cat.next_after(at) {
                        Some(s) => {
                            at = s.first_offset();
                            continue;
                        }
                        None => return Ok(()),
                    },
                }
            };
            let end = (seg.first_offset() + seg.count()).min(to);
            seg.read_range(at, end, f)?;
            at = end;
        }
        Ok(())
    }

    fn read_from(&self, from: u64, max: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let mut out = Vec::new();
        let to = from.saturating_add(max as u64);
        self.for_each_leaf(from, to, &mut |off, rec| {
            let r = format::decode_record(rec).map_err(|reason| StoreError::Corrupt {
                path: self.seg_dir.clone(),
                byte: 0,
                reason: format!("record {off}: {reason}"),
            })?;
            out.push(r.into());
            Ok(())
        })?;
        Ok(out)
    }

    fn get(&self, id: &str) -> Result<Option<StoredRecord>, StoreError> {
        let q = crate::query::Query::term("event.id", id);
        let opts = crate::search::SearchOptions {
            limit: 1,
            ..Default::default()
        };
        let res = crate::search::run(self, &q, &opts)?;
        Ok(res.hits.into_iter().next().map(|h| h.record))
    }

    /// Leaf hashes of chunk `c` (for proofs): from the segments, or from
    /// the deletion records for deleted ranges.
    pub(crate) fn chunk_leaves(&self, c: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        use crate::format::sealed::CHUNK;
        let (from, to) = (c * CHUNK, (c + 1) * CHUNK);
        let mut out: Vec<Option<Hash>> = vec![None; CHUNK as usize];
        self.for_each_leaf(from, to, &mut |off, rec| {
            out[(off - from) as usize] = Some(leaf_hash(rec));
            Ok(())
        })?;
        for d in self.deletions.read().iter() {
            for off in d.first.max(from)..=d.last.min(to - 1) {
                if let Some(h) = d.leaves.get((off - d.first) as usize) {
                    out[(off - from) as usize] = Some(*h);
                }
            }
        }
        let mut leaves = Vec::with_capacity(CHUNK as usize);
        for (i, h) in out.into_iter().enumerate() {
            match h {
                Some(h) => leaves.push(h),
                None if from + (i as u64) < size => {
                    return Err(StoreError::Unavailable {
                        first: from + i as u64,
                        last: from + i as u64,
                        reason: "record missing from the segments".into(),
                    });
                }
                None => break,
            }
        }
        Ok(leaves)
    }
}

fn recover(cfg: StoreConfig) -> Result<(Inner, OpenReport), StoreError> {
    let seg_dir = cfg.dir.join("segments");
    let cp_dir = cfg.dir.join("checkpoints");
    let del_dir = cfg.dir.join("deletions");
    for d in [&cfg.dir, &seg_dir, &cp_dir, &del_dir] {
        disk::create_dir(d)?;
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
        let Some((stem, ext)) = name.split_once('.') else { continue };
        let Ok(first) = stem.parse::<u64>() else { continue };
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
    items.extend(deletions.iter().enumerate().map(|(i, d)| (d.first, Item::Deleted(i))));
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
                    return Err(StoreError::corrupt(&seg.path, 12, "header first offset does not match the file name"));
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
                    return Err(StoreError::corrupt(&seg.path, 0, "Merkle summary does not cover the segment's records"));
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
        started: Instant::now(),
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
        let d = format::decode_record(rec).map_err(|reason| StoreError::corrupt(path, pos, reason))?;
        if d.offset != next {
            bad_offset.get_or_insert((pos, d.offset, next));
            return Ok(());
        }
        let terms = format::decode_terms(terms).map_err(|reason| StoreError::corrupt(path, pos, reason))?;
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
        return Err(StoreError::corrupt(path, 12, "header first offset does not match the file name"));
    }
    if let Some((pos, found, want)) = bad_offset {
        return Err(StoreError::corrupt(path, pos, format!(
            "record holds offset {found} where {want} was expected; run verify"
        )));
    }
    state.bytes = scan.good_len;
    let mut torn = None;
    if let Some(reason) = scan.bad {
        if !is_last {
            return Err(StoreError::corrupt(path, scan.good_len, format!(
                "{reason} in a closed segment (not a torn tail); run verify"
            )));
        }
        let f = File::options()
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io("open", path, e))?;
        f.set_len(scan.good_len)
            .and_then(|()| f.sync_all())
            .map_err(|e| StoreError::io("truncate", path, e))?;
        tracing::warn!(
            segment = %path.display(),
            byte = scan.good_len,
            removed = scan.file_len - scan.good_len,
            "cut torn tail of the log"
        );
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
