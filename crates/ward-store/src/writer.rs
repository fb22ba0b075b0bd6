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
//! After a failed write or fsync the store refuses every further append:
//! the kernel may have dropped the dirty pages, so nothing after that point
//! can be promised.

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
    file.write_all(&header.encode())
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io("write", &path, e))?;
    crate::disk::sync_dir(&inner.seg_dir)?;
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
        w.arrived.notify_all();
        loop {
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
            }
            Err(e) => {
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
            wal.file
                .write_all(buf)
                .map_err(|e| StoreError::io("write", &wal.path, e))?;
            wal.file
                .sync_data()
                .map_err(|e| StoreError::io("fsync", &wal.path, e))?;
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
            let next = create_wal(self, end)?;
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
