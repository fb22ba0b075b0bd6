//! Rebuilding one write-ahead segment at start-up: replay its frames into
//! the tree and the in-memory block index, and find a torn tail.

use crate::error::StoreError;
use crate::format;
use crate::merkle::leaf_hash;
use crate::segment::{OpenSegment, OpenState, WalScan, scan_wal};
use crate::store::TornTail;
use crate::tree::TreeCache;
use parking_lot::RwLock;
use std::fs::File;
use std::path::Path;

/// Rebuilds an open segment from its file; finds a torn tail of the last
/// one (cut later by the caller, once no checkpoint covers it). `None` for
/// a newest file too short to hold its header (removed: nothing in it was
/// acknowledged).
pub(super) fn recover_wal(
    path: &Path,
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
    let (scan, state) = replay(path, first, tree)?;
    let torn = torn_tail(path, &scan, is_last)?;
    let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    let segment = OpenSegment {
        path: path.to_owned(),
        file,
        header: scan.header,
        state: RwLock::new(state),
    };
    Ok((Some(segment), torn))
}

/// Reads every good frame: checks that records carry consecutive offsets
/// from `first`, adds each to the in-memory blocks and its leaf to `tree`.
fn replay(
    path: &Path,
    first: u64,
    tree: &mut TreeCache,
) -> Result<(WalScan, OpenState), StoreError> {
    let mut state = OpenState::default();
    let mut next = first;
    let mut bad_offset = None;
    let scan = scan_wal(path, &mut |pos, payload| {
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
        records_kept: scan.frames.len() as u64,
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
        let (seg, torn) = recover_wal(&p, 0, true, &mut TreeCache::default()).unwrap();
        assert!(seg.is_none() && torn.is_none());
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
