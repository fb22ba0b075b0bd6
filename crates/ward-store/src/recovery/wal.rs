//! Rebuilding one write-ahead segment at start-up: replay its frames into
//! the tree and the in-memory block index, and find a torn tail.

use crate::damage::{WalItem, damaged_leaf, quarantine};
use crate::error::StoreError;
use crate::format;
use crate::merkle::leaf_hash;
use crate::segment::{OpenSegment, OpenState, WalScan, scan_wal};
use crate::store::{DamagedRange, TornTail};
use crate::tree::TreeCache;
use parking_lot::RwLock;
use std::fs::File;
use std::path::Path;

/// What recovering one write-ahead file found.
pub(super) struct Recovered {
    /// The segment; `None` for a newest file too short to hold its header
    /// (removed: nothing in it was acknowledged).
    pub segment: Option<OpenSegment>,
    /// A torn tail of the newest file, cut later by the caller once no
    /// checkpoint covers it.
    pub torn: Option<TornTail>,
    /// Damage in the middle, kept and quarantined.
    pub damaged: Vec<DamagedRange>,
}

/// Rebuilds an open segment from its file: good records and placeholders
/// for damaged ones go into the tree, damage is quarantined and logged.
pub(super) fn recover_wal(
    path: &Path,
    first: u64,
    is_last: bool,
    tree: &mut TreeCache,
) -> Result<Recovered, StoreError> {
    let len = std::fs::metadata(path)
        .map_err(|e| StoreError::io("stat", path, e))?
        .len();
    if is_last && len < format::HEADER_LEN as u64 {
        std::fs::remove_file(path).map_err(|e| StoreError::io("remove", path, e))?;
        return Ok(Recovered {
            segment: None,
            torn: None,
            damaged: Vec::new(),
        });
    }
    let (scan, state) = replay(path, first, tree)?;
    let torn = torn_tail(path, &scan, is_last)?;
    let damaged = set_aside(path, &scan)?;
    let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    let segment = OpenSegment {
        path: path.to_owned(),
        file,
        header: scan.header,
        state: RwLock::new(state),
    };
    Ok(Recovered {
        segment: Some(segment),
        torn,
        damaged,
    })
}

/// Copies each damaged range to its quarantine file and says so loudly.
fn set_aside(path: &Path, scan: &WalScan) -> Result<Vec<DamagedRange>, StoreError> {
    if scan.damage.is_empty() {
        return Ok(Vec::new());
    }
    let bytes = std::fs::read(path).map_err(|e| StoreError::io("read", path, e))?;
    let mut out = Vec::new();
    for d in &scan.damage {
        let q = quarantine(path, &bytes, d)?;
        tracing::error!(
            segment = %path.display(),
            byte = d.pos,
            first_offset = d.first_offset,
            records = d.count,
            quarantine = %q.display(),
            reason = %d.reason,
            "damaged records in the middle of the log: kept every later record, set the bytes aside; run ward verify"
        );
        out.push(DamagedRange {
            segment: path.to_owned(),
            byte: d.pos,
            end_byte: d.end,
            first_offset: d.first_offset,
            records: d.count,
            quarantine: q,
            reason: d.reason.clone(),
        });
    }
    Ok(out)
}

/// Reads every good frame: checks that records carry consecutive offsets
/// from `first`, adds each to the in-memory blocks and its leaf to `tree`;
/// damaged offsets get a placeholder leaf.
fn replay(
    path: &Path,
    first: u64,
    tree: &mut TreeCache,
) -> Result<(WalScan, OpenState), StoreError> {
    let mut state = OpenState::default();
    let mut next = first;
    let mut bad_offset = None;
    let scan = scan_wal(path, &mut |item| {
        let (pos, payload) = match item {
            WalItem::Frame { pos, payload } => (pos, payload),
            WalItem::Damaged(d) => {
                state.add_damaged(d.pos, d.count, first);
                for off in d.first_offset..d.first_offset + d.count {
                    tree.push_leaf(damaged_leaf(off));
                }
                next += d.count;
                return Ok(());
            }
        };
        let corrupt = |reason: String| StoreError::corrupt(path, pos, reason);
        let (terms, rec) = format::split_payload(payload).map_err(corrupt)?;
        let d = format::decode_record(rec).map_err(corrupt)?;
        if d.offset != next {
            bad_offset.get_or_insert((pos, d.offset, next));
            return Ok(());
        }
        let terms = format::decode_terms(terms).map_err(corrupt)?;
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
    Ok((scan, state))
}

/// What follows the last good frame: nothing, a torn tail (newest file
/// only), or damage that start-up must not cut (an error).
fn torn_tail(path: &Path, scan: &WalScan, is_last: bool) -> Result<Option<TornTail>, StoreError> {
    let Some(reason) = &scan.bad else {
        return Ok(None);
    };
    if !is_last {
        return Err(StoreError::corrupt(
            path,
            scan.good_len,
            format!("{reason} in a closed segment (not a torn tail); run verify"),
        ));
    }
    Ok(Some(TornTail {
        segment: path.to_owned(),
        byte: scan.good_len,
        bytes_removed: scan.file_len - scan.good_len,
        records_kept: scan.frames,
        reason: reason.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store_with;

    fn wal_of(n: u64) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        drop(store_with(dir.path(), n));
        let p = dir
            .path()
            .join("segments")
            .join(crate::disk::segment_name(0, "wal"));
        (dir, p)
    }

    #[test]
    fn recover_wal_removes_a_newest_file_without_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("00000000000000000000.wal");
        std::fs::write(&p, [0u8; 10]).unwrap();
        let r = recover_wal(&p, 0, true, &mut TreeCache::default()).unwrap();
        assert!(r.segment.is_none() && r.torn.is_none());
        assert!(!p.exists());
    }

    #[test]
    fn replay_adds_every_record_to_tree_and_blocks() {
        let (_dir, p) = wal_of(25);
        let mut tree = TreeCache::default();
        let (scan, state) = replay(&p, 0, &mut tree).unwrap();
        assert_eq!(tree.size(), 25);
        assert_eq!(state.positions.len(), 25);
        assert_eq!(state.bytes, scan.file_len);
        assert!(scan.bad.is_none());
        let err = replay(&p, 3, &mut TreeCache::default()).err().unwrap();
        assert!(err.to_string().contains("first offset"), "{err}");
    }

    #[test]
    fn torn_tail_is_reported_for_the_newest_file_only() {
        let (_dir, p) = wal_of(5);
        let len = std::fs::metadata(&p).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (scan, _) = replay(&p, 0, &mut TreeCache::default()).unwrap();
        let t = torn_tail(&p, &scan, true).unwrap().unwrap();
        assert_eq!((t.records_kept, t.byte + t.bytes_removed), (4, len - 3));
        let err = torn_tail(&p, &scan, false).unwrap_err();
        assert!(err.to_string().contains("not a torn tail"), "{err}");
    }
}
