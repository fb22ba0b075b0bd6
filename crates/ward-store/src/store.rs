//! The [`Store`]: opening (with crash recovery), the shared state, reads.
//!
//! Directory layout:
//!
//! ```text
//! key/signing.key, key/verifier.pub     Ed25519 key (created on first start)
//! segments/<first:020>.wal               write-ahead segments (active, or closed and waiting to be sealed)
//! segments/<first:020>.seg               sealed segments, mode 0444
//! segments/<first:020>.seg.sig           the signature of a sealed segment's index (crate::index::signature)
//! segments/<first:020>.seg.agg           kept aggregates of a sealed segment, signed (crate::search::persist)
//! checkpoints/<size:020>.cp              signed checkpoints (C2SP signed notes)
//! deletions/<first:020>-<last:020>.del   signed deletion records, with .leaves (leaf hashes)
//! ```

use crate::checkpoint::{Checkpoint, StoreKey, VerifierKey};
use crate::config::StoreConfig;
use crate::deletion::Deletion;
use crate::error::StoreError;
use crate::format;
use crate::merkle::{Hash, leaf_hash};
use crate::record::{Offset, StoredRecord};
use crate::segment::{Catalog, RecordVisitor, Segment};
use crate::tree::TreeCache;
use crate::writer::{ActiveWal, Writer};
use parking_lot::{Condvar, Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What start-up found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenReport {
    /// Durable records in the log (deleted ones included).
    pub records: u64,
    /// Segments on disk.
    pub segments: usize,
    /// A torn tail that was cut off, if any.
    pub torn_tail: Option<TornTail>,
    /// Damaged records in the middle of write-ahead segments: kept in
    /// place, copied to quarantine files, every later record kept.
    pub damaged: Vec<DamagedRange>,
    /// Offsets without a readable record because of that damage.
    pub damaged_records: u64,
    /// Files of interrupted operations that were removed.
    pub removed_files: Vec<PathBuf>,
    /// Closed write-ahead segments queued for sealing.
    pub pending_seal: usize,
    /// The latest checkpoint's tree size.
    pub checkpoint_size: Option<u64>,
    /// Sealed segments whose index was not the signed one and was rebuilt
    /// from their records (search and retention use the rebuilt one).
    pub index_rebuilt: Vec<IndexRebuilt>,
}

/// A sealed segment whose index start-up did not trust.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRebuilt {
    /// The segment file.
    pub segment: PathBuf,
    /// Why its index was not used.
    pub reason: String,
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

/// Damage found at start-up in the middle of a write-ahead segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamagedRange {
    /// The write-ahead segment.
    pub segment: PathBuf,
    /// Damaged bytes `byte..end_byte`.
    pub byte: u64,
    /// Where the next good record starts.
    pub end_byte: u64,
    /// First offset without a readable record.
    pub first_offset: u64,
    /// How many offsets (usually one; zero for bytes that held no record).
    pub records: u64,
    /// The copy of the damaged bytes.
    pub quarantine: PathBuf,
    /// What was wrong.
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
    /// Group commits that failed (a full disk or an I/O error).
    pub write_failures: AtomicU64,
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
    /// Group commits that failed since start (a full disk or an I/O error).
    pub write_failures: u64,
    /// Checkpoints the witness took since start.
    pub witness_published: u64,
    /// Failed attempts to publish to the witness since start.
    pub witness_failures: u64,
    /// Tree size of the newest checkpoint the witness took.
    pub witness_size: u64,
}

/// Why appends are refused right now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFailure {
    /// [`crate::ErrorClass::NoSpace`] heals by itself once space is freed;
    /// [`crate::ErrorClass::Unavailable`] needs a restart.
    pub class: crate::ErrorClass,
    /// What failed.
    pub reason: String,
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
    /// Held while a checkpoint file is looked for, written and renamed: the
    /// background signer and a proof request may sign the same size at
    /// once, and share its temporary file name.
    pub(crate) signing: Mutex<()>,
    pub(crate) deletions: RwLock<Vec<Deletion>>,
    pub(crate) stats: Counters,
    pub(crate) bg: Mutex<bool>,
    pub(crate) bg_wake: Condvar,
    pub(crate) seal_lock: Mutex<()>,
    /// Aggregates of sealed data kept between passes of
    /// [`Store::aggregate_many`].
    pub(crate) partials: Mutex<crate::search::Partials>,
    /// Hand-over to the witness thread, if a witness is configured.
    pub(crate) witness: Option<Arc<crate::witness::Feed>>,
    /// Held for the store's lifetime: one writer per directory.
    pub(crate) _lock: File,
}

/// The event store. `Send + Sync`; every method blocks.
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    pub(crate) background: Option<std::thread::JoinHandle<()>>,
    pub(crate) witness: Option<std::thread::JoinHandle<()>>,
}

impl Store {
    /// Opens (or creates) the store in `cfg.dir`, recovering from a crash:
    /// a torn tail of the last write-ahead segment is cut off at the last
    /// complete checksummed record and reported.
    pub fn open(cfg: StoreConfig) -> Result<(Store, OpenReport), StoreError> {
        cfg.validate()
            .map_err(|errs| StoreError::Config(errs.join("; ")))?;
        let (inner, report) = crate::recovery::recover(cfg)?;
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
        let witness = match (&inner.cfg.witness, &inner.witness) {
            (Some(w), Some(feed)) => {
                // A witness added to an existing store gets its state now.
                if let Some(cp) = inner.latest_checkpoint.lock().as_ref() {
                    feed.offer(cp);
                }
                Some(
                    crate::witness::spawn(w.clone(), feed.clone())
                        .map_err(|e| StoreError::io("spawn witness thread", &inner.cp_dir, e))?,
                )
            }
            _ => None,
        };
        Ok((
            Store {
                inner,
                background,
                witness,
            },
            report,
        ))
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

    /// The record with this `event.id`, if any: the first-written if
    /// repeated ([`Store::get_all`] says whether it is).
    pub fn get(&self, id: &str) -> Result<Option<StoredRecord>, StoreError> {
        Ok(self.get_all(id)?.into_iter().next())
    }

    /// Every record with this `event.id`, first-written first. Ward
    /// assigns ids itself, so more than one is a fault to report.
    pub fn get_all(&self, id: &str) -> Result<Vec<StoredRecord>, StoreError> {
        crate::search::find_all_by_id(&self.inner, id)
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

    /// The operator's signed acknowledgement of a damaged range found at
    /// start-up, if there is one and its quarantine file is unchanged.
    pub fn damage_acknowledgement(
        &self,
        d: &DamagedRange,
    ) -> Option<crate::damage::Acknowledgement> {
        let damage = crate::damage::Damage {
            pos: d.byte,
            end: d.end_byte,
            first_offset: d.first_offset,
            count: d.records,
            reason: d.reason.clone(),
        };
        let (acks, _) =
            crate::damage::load_acknowledgements(&self.inner.cfg.dir, &self.inner.verifier);
        acks.into_iter()
            .map(|(_, a)| a)
            .find(|a| crate::damage::acknowledged(a, &d.segment, &damage))
    }

    /// Signs a checkpoint now if records arrived since the last one, so
    /// that every durable record is covered (a graceful stop calls it after
    /// the last append).
    pub fn checkpoint_now(&self) -> Result<(), StoreError> {
        self.inner.checkpoint_if_grown().map(|_| ())
    }

    /// Why appends are refused, if a write or fsync failed: for good, or
    /// (a full disk) until space is freed.
    pub fn write_failure(&self) -> Option<WriteFailure> {
        let st = self.inner.writer.state.lock();
        if let Some(reason) = &st.failed {
            return Some(WriteFailure {
                class: crate::ErrorClass::Unavailable,
                reason: reason.clone(),
            });
        }
        st.no_space.as_ref().map(|reason| WriteFailure {
            class: crate::ErrorClass::NoSpace,
            reason: reason.clone(),
        })
    }

    /// Checks now whether the store's disk has room for appends (writes
    /// and removes a small file); the answer shows in
    /// [`Store::write_failure`]. Start-up calls it so that a full disk is
    /// reported before the first append.
    pub fn check_space(&self) {
        self.inner.check_space();
    }

    /// Stops the background thread and signs a final checkpoint.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.stop_background();
        let signed = self.inner.checkpoint_if_grown();
        // The final checkpoint reaches the witness too, if it answers soon.
        self.stop_witness(Duration::from_secs(5));
        signed.map(|_| ())
    }

    fn stop_background(&mut self) {
        *self.inner.bg.lock() = true;
        self.inner.bg_wake.notify_all();
        if let Some(h) = self.background.take() {
            let _ = h.join();
        }
    }

    fn stop_witness(&mut self, wait: Duration) {
        if let Some(feed) = &self.inner.witness {
            feed.finish(wait);
        }
        if let Some(h) = self.witness.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_background();
        self.stop_witness(Duration::ZERO);
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
            deleted_records: self
                .deletions
                .read()
                .iter()
                .map(|d| d.last - d.first + 1)
                .sum(),
            bytes: cat.segments.iter().map(|s| s.bytes()).sum(),
            segments: cat.segments.len(),
            sealed_segments: cat
                .segments
                .iter()
                .filter(|s| matches!(***s, Segment::Sealed(_)))
                .count(),
            fsyncs: self.stats.fsyncs.load(Ordering::Relaxed),
            groups,
            mean_group: if groups == 0 {
                0.0
            } else {
                recs as f64 / groups as f64
            },
            max_group: self.stats.max_group.load(Ordering::Relaxed),
            checkpoints: self.stats.checkpoints.load(Ordering::Relaxed),
            checkpoint_size: self.latest_checkpoint.lock().as_ref().map_or(0, |c| c.size),
            write_failures: self.stats.write_failures.load(Ordering::Relaxed),
            witness_published: self
                .witness
                .as_ref()
                .map_or(0, |w| w.stats.published.load(Ordering::Relaxed)),
            witness_failures: self
                .witness
                .as_ref()
                .map_or(0, |w| w.stats.failures.load(Ordering::Relaxed)),
            witness_size: self
                .witness
                .as_ref()
                .map_or(0, |w| w.stats.size.load(Ordering::Relaxed)),
        }
    }

    /// Calls `f` for the leaf bytes of durable records `from..to`, skipping
    /// deleted ranges.
    pub(crate) fn for_each_leaf(
        &self,
        from: u64,
        to: u64,
        f: &mut RecordVisitor<'_>,
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

    /// Puts the placeholder leaf of each damaged offset into `out` (leaves
    /// of offsets `from..`).
    fn fill_damaged(&self, from: u64, out: &mut [Option<Hash>]) {
        for seg in self.catalog.read().segments.iter() {
            if let Segment::Open(o) = &**seg {
                for &off in &o.state.read().damaged {
                    if let Some(slot) = off.checked_sub(from).and_then(|i| out.get_mut(i as usize))
                    {
                        *slot = Some(crate::damage::damaged_leaf(off));
                    }
                }
            }
        }
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
        self.fill_damaged(from, &mut out);
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
