//! Sealing closed write-ahead segments into compressed, indexed, read-only
//! segments; signing checkpoints; the background thread that does both.
//!
//! Sealing writes `<first>.seg.tmp`, fsyncs it, signs its index into
//! `<first>.seg.sig` ([`crate::index::signature`]), makes it 0444, renames it to
//! `<first>.seg`, fsyncs the directory and only then removes the `.wal`. A
//! crash at any step leaves either the `.wal` (sealed again) or both (the
//! `.wal` is removed at start-up). A checkpoint is signed at every segment
//! end, so every archived segment is covered by a checkpoint.

use crate::checkpoint::{Checkpoint, VerifierKey};
use crate::disk;
use crate::error::StoreError;
use crate::format::{self, sealed::SealedWriter};
use crate::segment::{SealedSegment, Segment};
use crate::store::Inner;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The background loop: age-based sealing, sealing, periodic checkpoints.
pub fn background(inner: &Inner) {
    let tick = inner
        .cfg
        .checkpoint_interval
        .min(inner.cfg.segment_max_age)
        .min(Duration::from_secs(1));
    let mut last_checkpoint = Instant::now();
    loop {
        {
            // Wake for the next checkpoint on time even after an early
            // wake-up (a rotation), so small intervals are honoured.
            let due = inner
                .cfg
                .checkpoint_interval
                .saturating_sub(last_checkpoint.elapsed());
            let wait = tick.min(due).max(Duration::from_millis(1));
            let mut stop = inner.bg.lock();
            if !*stop {
                inner.bg_wake.wait_for(&mut stop, wait);
            }
            if *stop {
                return;
            }
        }
        let age_due = inner.wal.lock().as_ref().is_some_and(|a| {
            a.opened.elapsed() >= inner.cfg.segment_max_age && a.segment.count() > 0
        });
        if age_due {
            inner.request_rotation();
        }
        inner.probe_space();
        // Sealing needs room for the sealed copy; while the disk is full it
        // would only take the space that appends need.
        if inner.writer.state.lock().no_space.is_none()
            && let Err(e) = seal_pending(inner)
        {
            tracing::error!(error = %e, "sealing a segment failed; will retry");
        }
        if last_checkpoint.elapsed() >= inner.cfg.checkpoint_interval {
            last_checkpoint = Instant::now();
            if let Err(e) = inner.checkpoint_if_grown() {
                tracing::error!(error = %e, "signing a checkpoint failed; will retry");
            }
        }
    }
}

/// Seals every closed write-ahead segment; returns how many.
pub fn seal_pending(inner: &Inner) -> Result<usize, StoreError> {
    let _one_sealer = inner.seal_lock.lock();
    let closed: Vec<Arc<Segment>> = inner
        .catalog
        .read()
        .segments
        .iter()
        // A segment with damage stays a write-ahead file: sealing would
        // drop the damaged bytes, the evidence verify reports.
        .filter(|s| {
            matches!(&***s, Segment::Open(o)
                if { let st = o.state.read(); st.closed && st.damaged.is_empty() })
        })
        .cloned()
        .collect();
    for seg in &closed {
        seal_one(inner, seg)?;
    }
    Ok(closed.len())
}

fn seal_one(inner: &Inner, seg: &Arc<Segment>) -> Result<(), StoreError> {
    let Segment::Open(o) = &**seg else {
        return Ok(());
    };
    let first = o.header.first_offset;
    let final_path = inner.seg_dir.join(disk::segment_name(first, "seg"));
    let tmp = inner
        .seg_dir
        .join(format!("{}.tmp", disk::segment_name(first, "seg")));
    if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(|e| StoreError::io("remove", &tmp, e))?;
    }
    let mut w = SealedWriter::create(&tmp, first, o.header.created_ms)?;
    o.read_all(&mut |off, terms, rec| {
        let bad =
            |reason: String| StoreError::corrupt(&o.path, 0, format!("record {off}: {reason}"));
        let d = format::decode_record(rec).map_err(bad)?;
        let t = format::decode_terms(terms).map_err(bad)?;
        w.add(rec, d.time_ms, &d.category, &t, &d.id)
    })?;
    let index = w.finish(disk::now_ms())?;
    // The index signature goes first: a crash before the rename leaves the
    // write-ahead file, and sealing it again signs again.
    crate::index::signature::write(&inner.key, &final_path, first, &index)?;
    disk::set_read_only(&tmp)?;
    std::fs::rename(&tmp, &final_path).map_err(|e| StoreError::io("rename", &final_path, e))?;
    disk::sync_dir(&inner.seg_dir)?;
    let sealed = SealedSegment::open(final_path)?;
    let end = first + index.count;
    inner
        .catalog
        .write()
        .replace(first, Arc::new(Segment::Sealed(sealed)));
    std::fs::remove_file(&o.path).map_err(|e| StoreError::io("remove", &o.path, e))?;
    disk::sync_dir(&inner.seg_dir)?;
    inner
        .stats
        .sealed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::debug!(first, end, "sealed segment");
    inner.checkpoint_at(end)?;
    if !inner.cfg.keep_superseded_checkpoints {
        inner.thin_checkpoints(first, end);
    }
    Ok(())
}

impl Inner {
    /// Removes the checkpoints signed inside a segment now sealed, strictly
    /// between its first offset and its end: the one at its end commits to
    /// every record before it, and the sealed segment's signed index and
    /// Merkle summary locate a change inside it. Without this a store taking
    /// events all day keeps one file per checkpoint interval (86,400 a day
    /// at one second). The newest checkpoint is never removed; copies
    /// already handed to a witness stay there.
    pub(crate) fn thin_checkpoints(&self, first: u64, end: u64) {
        let _one = self.signing.lock();
        let latest = self.latest_checkpoint.lock().as_ref().map(|c| c.size);
        let Ok(entries) = std::fs::read_dir(&self.cp_dir) else {
            return;
        };
        let mut removed = 0u64;
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(size) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".cp"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if size > first && size < end && Some(size) != latest {
                match std::fs::remove_file(e.path()) {
                    Ok(()) => removed += 1,
                    Err(err) => {
                        tracing::warn!(file = %e.path().display(), error = %err, "cannot remove a superseded checkpoint");
                    }
                }
            }
        }
        if removed > 0 {
            if let Err(err) = disk::sync_dir(&self.cp_dir) {
                tracing::warn!(error = %err, "cannot sync the checkpoint directory");
            }
            tracing::debug!(
                first,
                end,
                removed,
                "removed checkpoints superseded by a sealed segment's"
            );
        }
    }

    /// Signs a checkpoint at the current size unless the latest one has it.
    pub(crate) fn checkpoint_if_grown(&self) -> Result<Checkpoint, StoreError> {
        let size = self.tree.read().size();
        if let Some(cp) = self.latest_checkpoint.lock().as_ref()
            && cp.size == size
        {
            return Ok(cp.clone());
        }
        self.checkpoint_at(size)
    }

    /// Signs (or returns the existing) checkpoint at tree size `size`.
    pub(crate) fn checkpoint_at(&self, size: u64) -> Result<Checkpoint, StoreError> {
        let _one = self.signing.lock();
        let path = self.cp_dir.join(disk::segment_name(size, "cp"));
        if path.exists() {
            let note =
                std::fs::read_to_string(&path).map_err(|e| StoreError::io("read", &path, e))?;
            return self
                .verifier
                .open_checkpoint(&note)
                .map_err(|e| StoreError::corrupt(&path, 0, e.to_string()));
        }
        let root = {
            let tree = self.tree.read();
            if size > tree.size() {
                return Err(StoreError::TreeSize {
                    requested: size,
                    size: tree.size(),
                });
            }
            tree.view(|c| self.chunk_leaves(c, size)).root(size)?
        };
        let cp = self.key.checkpoint(size, &root, disk::now_ms());
        let tmp = self
            .cp_dir
            .join(format!("{}.tmp", disk::segment_name(size, "cp")));
        write_synced(&tmp, cp.note.as_bytes())?;
        std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &path, e))?;
        disk::sync_dir(&self.cp_dir)?;
        self.stats
            .checkpoints
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut latest = self.latest_checkpoint.lock();
        if latest.as_ref().is_none_or(|l| l.size <= size) {
            *latest = Some(cp.clone());
        }
        if let Some(w) = &self.witness {
            w.offer(&cp);
        }
        Ok(cp)
    }
}

/// Writes a whole file and fsyncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| StoreError::io("create", path, e))?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| StoreError::io("write", path, e));
    if written.is_err() {
        // A partial file (a full disk) must not keep the space it took.
        let _ = std::fs::remove_file(path);
    }
    written
}

/// The checkpoint with the largest size in `dir`, checked with `vk`.
pub fn load_latest_checkpoint(
    dir: &Path,
    vk: &VerifierKey,
) -> Result<Option<Checkpoint>, StoreError> {
    let mut best: Option<(u64, std::path::PathBuf)> = None;
    for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io("list", dir, e))? {
        let entry = entry.map_err(|e| StoreError::io("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(size) = name.strip_suffix(".cp").and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| size > *b) {
            best = Some((size, entry.path()));
        }
    }
    let Some((size, path)) = best else {
        return Ok(None);
    };
    let note = std::fs::read_to_string(&path).map_err(|e| StoreError::io("read", &path, e))?;
    let cp = vk
        .open_checkpoint(&note)
        .map_err(|e| StoreError::corrupt(&path, 0, e.to_string()))?;
    if cp.size != size {
        return Err(StoreError::corrupt(
            &path,
            0,
            "checkpoint size differs from its file name",
        ));
    }
    Ok(Some(cp))
}
