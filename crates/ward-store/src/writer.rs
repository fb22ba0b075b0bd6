//! Durable appends with group commit.
//!
//! Appenders encode their records outside any lock, then under the writer
//! lock take offsets and add their frames to the pending buffer. One of them
//! becomes the leader: it takes the whole buffer, writes it and fsyncs
//! (`fdatasync`) once for everyone, then publishes the new durable mark and
//! wakes the others. Appenders that arrive while an fsync runs form the next
//! group, so the number of fsyncs per second stays near the disk's limit
//! whatever the number of senders. An append returns only when its records
//! are durable.
//!
//! A full disk (ENOSPC, or a quota) heals itself: the leader cuts the file
//! back to the last durable byte and fsyncs it, so the file holds exactly
//! what was acknowledged; every record not yet durable (the failed group
//! and those queued behind it) is refused with [`StoreError::NoSpace`] and
//! its offsets are handed out again. The next append tries again, and the
//! background thread probes for space so that readiness returns without
//! one. Any other failed write or fsync, or a failed cut, makes the store
//! refuse every further append: the kernel may have dropped the dirty
//! pages, so nothing after that point can be promised.

use crate::error::StoreError;
use crate::format::{FORMAT_VERSION, FileHeader, WAL_MAGIC};
use crate::merkle::Hash;
use crate::record::{Offset, Prepared, Record};
use crate::segment::{OpenSegment, OpenState, Segment};
use crate::store::Inner;
use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Shared writer state and its wake-ups.
pub struct Writer {
    /// The state.
    pub state: Mutex<WriterState>,
    /// Signalled when a group commit finishes.
    pub flushed: Condvar,
    /// Signalled when an appender has queued its frames.
    pub arrived: Condvar,
    /// Appenders currently encoding (the leader may wait for them).
    pub encoding: AtomicUsize,
}

/// Rollback marks kept for appenders still waiting (see
/// [`WriterState::rollback_marks`]).
const MAX_ROLLBACK_MARKS: usize = 4096;

/// Pending frames and the durable mark.
#[derive(Default)]
pub struct WriterState {
    /// Next offset to assign.
    pub next_offset: u64,
    /// Every offset below this is durable.
    pub durable: u64,
    /// Encoded frames not yet written.
    pub pending: Vec<u8>,
    /// Their leaf hashes.
    pub hashes: Vec<Hash>,
    /// Their index metadata.
    pub meta: Vec<PendingMeta>,
    /// A leader is writing.
    pub flushing: bool,
    /// A write failed; the store is read-only from here on.
    pub failed: Option<String>,
    /// The last group commit found the disk full (and was cut back);
    /// cleared by the next one that succeeds or by a successful probe.
    pub no_space: Option<String>,
    /// How many times queued records were discarded after a full disk: an
    /// appender whose records were queued before a change was refused.
    pub rollbacks: u64,
    /// The durable mark at each of the latest rollbacks, oldest first, as
    /// (rollback number, durable mark): the offsets from that mark on were
    /// handed out again. An appender's records were discarded exactly when
    /// the first rollback after it queued them left the mark below their end.
    pub rollback_marks: std::collections::VecDeque<(u64, u64)>,
    /// Close the active segment at the next group commit.
    pub rotate: bool,
}

/// What the in-memory index needs of a pending record.
pub struct PendingMeta {
    len: u64,
    time_ms: i64,
    term_hashes: Vec<u64>,
    fields: Vec<String>,
}

/// The active write-ahead file; only the leader touches it.
pub struct ActiveWal {
    /// File opened for appending.
    pub file: File,
    /// Its path.
    pub path: PathBuf,
    /// The catalog entry.
    pub segment: Arc<Segment>,
    /// Bytes written.
    pub bytes: u64,
    /// When it was created.
    pub opened: Instant,
}

impl Writer {
    /// A writer whose next offset is `next`.
    pub fn new(next: u64) -> Writer {
        Writer {
            state: Mutex::new(WriterState {
                next_offset: next,
                durable: next,
                ..WriterState::default()
            }),
            flushed: Condvar::new(),
            arrived: Condvar::new(),
            encoding: AtomicUsize::new(0),
        }
    }
}

/// Creates a new, empty write-ahead file starting at `first` and its
/// catalog entry.
pub fn create_wal(inner: &Inner, first: u64) -> Result<ActiveWal, StoreError> {
    let path = inner.seg_dir.join(crate::disk::segment_name(first, "wal"));
    let header = FileHeader {
        magic: *WAL_MAGIC,
        version: FORMAT_VERSION,
        first_offset: first,
        created_ms: crate::disk::now_ms(),
    };
    let mut file = File::options()
        .create_new(true)
        .append(true)
        .read(true)
        .open(&path)
        .map_err(|e| StoreError::io("create", &path, e))?;
    let written = file
        .write_all(&header.encode())
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io("write", &path, e))
        .and_then(|()| crate::disk::sync_dir(&inner.seg_dir));
    if let Err(e) = written {
        // A half-made file (a full disk) would make the retry fail with
        // "file exists"; it holds no record.
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    let read = File::open(&path).map_err(|e| StoreError::io("open", &path, e))?;
    let bytes = crate::format::HEADER_LEN as u64;
    let segment = Arc::new(Segment::Open(OpenSegment {
        path: path.clone(),
        file: read,
        header,
        state: RwLock::new(OpenState {
            bytes,
            ..OpenState::default()
        }),
    }));
    Ok(ActiveWal {
        file,
        path,
        segment,
        bytes,
        opened: Instant::now(),
    })
}

impl Inner {
    /// See [`crate::Store::append`].
    pub fn append(&self, batch: Vec<Record>) -> Result<Vec<Offset>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let w = &self.writer;
        w.encoding.fetch_add(1, Ordering::SeqCst);
        let prepared: Result<Vec<Prepared>, StoreError> = batch
            .iter()
            .enumerate()
            .map(|(index, r)| {
                Prepared::new(r).map_err(|reason| StoreError::InvalidRecord { index, reason })
            })
            .collect();
        // The batch's fields go with its first record: an in-memory block
        // lists a field if any record in it brought the field, and a block
        // that misses a field is never pruned on it (safe).
        let mut fields = crate::record::batch_fields(&batch);
        let mut st = w.state.lock();
        w.encoding.fetch_sub(1, Ordering::SeqCst);
        let prepared = prepared?;
        if let Some(f) = &st.failed {
            return Err(StoreError::Failed(f.clone()));
        }
        let first = st.next_offset;
        for mut p in prepared {
            let h = p.finish(st.next_offset);
            st.pending.extend_from_slice(&p.frame);
            st.hashes.push(h);
            st.meta.push(PendingMeta {
                len: p.frame.len() as u64,
                time_ms: p.time_ms,
                term_hashes: p.term_hashes,
                fields: std::mem::take(&mut fields),
            });
            st.next_offset += 1;
        }
        let end = st.next_offset;
        let rollbacks = st.rollbacks;
        w.arrived.notify_all();
        loop {
            // A rollback since these records were queued decides first:
            // after it, the same offsets may be durable with other records.
            if st.rollbacks != rollbacks {
                let mark = st
                    .rollback_marks
                    .iter()
                    .find(|(n, _)| *n == rollbacks + 1)
                    .map(|(_, mark)| *mark);
                // Durable before the rollback: acknowledged. Otherwise (or
                // if the mark is too old to be known) refused: a sender's
                // retry may then store them twice, never zero times.
                if mark.is_some_and(|m| m >= end) {
                    return Ok((first..end).map(Offset).collect());
                }
                return Err(StoreError::NoSpace {
                    path: self.seg_dir.clone(),
                    reason: st.no_space.clone().unwrap_or_default(),
                });
            }
            if st.durable >= end {
                return Ok((first..end).map(Offset).collect());
            }
            if let Some(f) = &st.failed {
                return Err(StoreError::Failed(f.clone()));
            }
            if !st.flushing {
                self.lead(&mut st);
            } else {
                w.flushed.wait(&mut st);
            }
        }
    }

    /// Runs one group commit as leader; errors are recorded in the state.
    pub fn lead(&self, st: &mut MutexGuard<'_, WriterState>) {
        let w = &self.writer;
        st.flushing = true;
        let max_wait = self.cfg.group_commit_max_wait;
        if !max_wait.is_zero() {
            let deadline = Instant::now() + max_wait;
            while w.encoding.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                w.arrived.wait_until(st, deadline);
            }
        }
        let buf = std::mem::take(&mut st.pending);
        let hashes = std::mem::take(&mut st.hashes);
        let meta = std::mem::take(&mut st.meta);
        let end = st.next_offset;
        let rotate = std::mem::take(&mut st.rotate);
        let result =
            MutexGuard::unlocked(st, || self.write_group(&buf, &hashes, &meta, end, rotate));
        match result {
            Ok(()) => {
                st.durable = end;
                self.durable.store(end, Ordering::SeqCst);
                if st.no_space.take().is_some() {
                    tracing::info!("the event store can write again");
                }
            }
            Err(StoreError::NoSpace { reason, .. }) => {
                self.stats.write_failures.fetch_add(1, Ordering::Relaxed);
                if st.no_space.is_none() {
                    tracing::error!(%reason, dir = %self.seg_dir.display(),
                        "no space left for the event store; refusing appends until space is freed");
                }
                // The file ends at the durable mark again: hand out the
                // offsets of every record not yet durable a second time, and
                // refuse those records (their appenders see the rollback).
                st.pending.clear();
                st.hashes.clear();
                st.meta.clear();
                st.next_offset = st.durable;
                st.rollbacks += 1;
                let mark = (st.rollbacks, st.durable);
                st.rollback_marks.push_back(mark);
                if st.rollback_marks.len() > MAX_ROLLBACK_MARKS {
                    st.rollback_marks.pop_front();
                }
                st.no_space = Some(reason);
            }
            Err(e) => {
                self.stats.write_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "store write failed; refusing further appends");
                st.failed = Some(e.to_string());
            }
        }
        st.flushing = false;
        w.flushed.notify_all();
        // Reuse the allocation for the next group.
        if st.pending.is_empty() {
            let mut buf = buf;
            buf.clear();
            st.pending = buf;
        }
    }

    fn write_group(
        &self,
        buf: &[u8],
        hashes: &[Hash],
        meta: &[PendingMeta],
        end: u64,
        rotate: bool,
    ) -> Result<(), StoreError> {
        let mut guard = self.wal.lock();
        let Some(wal) = guard.as_mut() else {
            return Err(StoreError::Failed("store is closed".into()));
        };
        if !buf.is_empty() {
            let written = wal
                .file
                .write_all(buf)
                .map_err(|e| ("write", e))
                .and_then(|()| wal.file.sync_data().map_err(|e| ("fsync", e)));
            if let Err((op, e)) = written {
                return Err(cut_back(wal, op, e));
            }
            self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
            self.stats.groups.fetch_add(1, Ordering::Relaxed);
            self.stats
                .group_records
                .fetch_add(hashes.len() as u64, Ordering::Relaxed);
            self.stats
                .max_group
                .fetch_max(hashes.len() as u64, Ordering::Relaxed);
            if let Segment::Open(o) = &*wal.segment {
                let mut os = o.state.write();
                let mut pos = wal.bytes;
                for m in meta {
                    os.add(
                        pos,
                        m.len,
                        m.time_ms,
                        &m.term_hashes,
                        &m.fields,
                        o.header.first_offset,
                    );
                    pos += m.len;
                }
            }
            wal.bytes += buf.len() as u64;
            // Fsynced: readers may see these records now. Published before
            // the tree grows so that every leaf in the tree is readable.
            self.durable.store(end, Ordering::SeqCst);
            let mut tree = self.tree.write();
            for h in hashes {
                tree.push_leaf(*h);
            }
        }
        let count = wal.segment.count();
        let full = wal.bytes >= self.cfg.segment_max_bytes;
        if count > 0 && (full || rotate) {
            // The group is durable whatever happens here: a new file that
            // cannot be created (a full disk) is tried again at the next
            // group commit, which sees the segment still full.
            let next = match create_wal(self, end) {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a new write-ahead segment; will retry");
                    return Ok(());
                }
            };
            let old = std::mem::replace(wal, next);
            if let Segment::Open(o) = &*old.segment {
                o.state.write().closed = true;
            }
            self.catalog.write().segments.push(wal.segment.clone());
            drop(guard);
            self.wake_background();
        }
        Ok(())
    }
}

/// After a failed write or fsync of a group: on a full disk, cuts the file
/// back to the last durable byte and fsyncs it, so that it holds exactly
/// the acknowledged records and appends may resume
/// ([`StoreError::NoSpace`]). Anything else, or a cut that fails, is a
/// permanent failure.
fn cut_back(wal: &mut ActiveWal, op: &'static str, e: std::io::Error) -> StoreError {
    if !crate::error::is_no_space(&e) {
        return StoreError::io(op, &wal.path, e);
    }
    match wal
        .file
        .set_len(wal.bytes)
        .and_then(|()| wal.file.sync_all())
    {
        Ok(()) => StoreError::NoSpace {
            path: wal.path.clone(),
            reason: format!("{op}: {e}"),
        },
        Err(cut) => StoreError::io(
            "cut back to the last durable byte after a full disk",
            &wal.path,
            cut,
        ),
    }
}

impl Inner {
    /// While the disk is full, checks whether a group commit would fit
    /// again, so that readiness returns without waiting for an append.
    /// Called by the background thread.
    pub(crate) fn probe_space(&self) {
        if self.writer.state.lock().no_space.is_some() {
            self.check_space();
        }
    }

    /// Writes and removes a small synced file: clears the full-disk
    /// condition if it fits, sets it if the disk is full (start-up finds a
    /// full disk this way before any append does).
    pub(crate) fn check_space(&self) {
        let probe = self.seg_dir.join("space.probe");
        let fits = crate::seal::write_synced(&probe, &[0u8; PROBE_BYTES]);
        let _ = std::fs::remove_file(&probe);
        let mut st = self.writer.state.lock();
        match fits {
            Ok(()) => {
                if st.no_space.take().is_some() {
                    tracing::info!("space is back for the event store; appends resume");
                }
            }
            Err(e) if e.class() == crate::ErrorClass::NoSpace => {
                if st.no_space.is_none() {
                    tracing::error!(dir = %self.seg_dir.display(),
                        "no space left for the event store; appends are refused until space is freed");
                }
                st.no_space = Some(e.to_string());
            }
            Err(_) => {}
        }
    }
}

/// Bytes the space probe writes: a typical group commit.
const PROBE_BYTES: usize = 64 << 10;
