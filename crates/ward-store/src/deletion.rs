//! Signed deletion records: the proof that a range of records was removed
//! lawfully (by retention), which keeps the removed records' leaf hashes so
//! that the rest of the tree and every checkpoint can still be verified.
//!
//! `deletions/<first:020>-<last:020>.del` is a signed note:
//!
//! ```text
//! ward-deletion v1
//! <origin>
//! range <first> <last>
//! reason <one line>
//! time <ms>
//! leaves <hex SHA-256 of the .leaves file>
//! ```
//!
//! and `deletions/<first:020>-<last:020>.leaves` holds the 32-byte leaf
//! hashes of the records `first..=last`.

use crate::checkpoint::{StoreKey, VerifierKey};
use crate::error::StoreError;
use crate::merkle::Hash;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A loaded, checked deletion record.
#[derive(Clone, Debug)]
pub struct Deletion {
    /// First deleted offset.
    pub first: u64,
    /// Last deleted offset (inclusive).
    pub last: u64,
    /// Why.
    pub reason: String,
    /// When, ms.
    pub time_ms: i64,
    /// The deleted records' leaf hashes.
    pub leaves: Vec<Hash>,
    /// The `.del` file.
    pub path: PathBuf,
}

/// File stem of a deletion record.
pub fn stem(first: u64, last: u64) -> String {
    format!("{first:020}-{last:020}")
}

/// Writes a deletion record (both files, fsynced).
pub fn write(
    dir: &Path,
    key: &StoreKey,
    first: u64,
    leaves: &[Hash],
    reason: &str,
    time_ms: i64,
) -> Result<PathBuf, StoreError> {
    let last = first + leaves.len() as u64 - 1;
    let stem = stem(first, last);
    let mut blob = Vec::with_capacity(leaves.len() * 32);
    for h in leaves {
        blob.extend_from_slice(h);
    }
    let leaves_path = dir.join(format!("{stem}.leaves"));
    crate::seal::write_synced(&leaves_path, &blob)?;
    let reason: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let body = format!(
        "ward-deletion v1\n{}\nrange {first} {last}\nreason {reason}\ntime {time_ms}\nleaves {}\n",
        key.origin,
        hex::encode(Sha256::digest(&blob))
    );
    let note = key.sign_note(&body);
    // Written under a temporary name and renamed, so that a crash never
    // leaves a half-written record that would block start-up.
    let path = dir.join(format!("{stem}.del"));
    let tmp = dir.join(format!("{stem}.del.tmp"));
    crate::seal::write_synced(&tmp, note.as_bytes())?;
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &path, e))?;
    crate::disk::sync_dir(dir)?;
    Ok(path)
}

/// Reads and checks one deletion record; `Err` says what is wrong.
pub fn load(path: &Path, vk: &VerifierKey) -> Result<Deletion, String> {
    let note = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let body = vk.open_note(&note).map_err(|e| e.to_string())?;
    let mut first = None;
    let mut last = 0;
    let mut reason = String::new();
    let mut time_ms = 0;
    let mut digest = None;
    let mut lines = body.lines();
    if lines.next() != Some("ward-deletion v1") {
        return Err("not a ward-deletion v1 record".into());
    }
    if lines.next() != Some(vk.name.as_str()) {
        return Err("origin does not match the store's key".into());
    }
    for line in lines {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        match k {
            "range" => {
                let (a, b) = v.split_once(' ').ok_or("bad range line")?;
                first = Some(a.parse::<u64>().map_err(|_| "bad range start")?);
                last = b.parse::<u64>().map_err(|_| "bad range end")?;
            }
            "reason" => reason = v.to_owned(),
            "time" => time_ms = v.parse().map_err(|_| "bad time")?,
            "leaves" => digest = Some(v.to_owned()),
            _ => {}
        }
    }
    let first = first.ok_or("no range line")?;
    if last < first {
        return Err("range end before start".into());
    }
    let expected = format!("{}.del", stem(first, last));
    if path.file_name().and_then(|n| n.to_str()) != Some(expected.as_str()) {
        return Err(format!(
            "file name does not match its signed range (expected {expected})"
        ));
    }
    let leaves_path = path.with_extension("leaves");
    let blob = std::fs::read(&leaves_path)
        .map_err(|e| format!("cannot read {}: {e}", leaves_path.display()))?;
    if Some(hex::encode(Sha256::digest(&blob))) != digest {
        return Err(format!(
            "{} does not match the signed digest",
            leaves_path.display()
        ));
    }
    if blob.len() as u64 != (last - first + 1) * 32 {
        return Err("leaf hash list has the wrong length for the range".into());
    }
    let leaves = blob
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect();
    Ok(Deletion {
        first,
        last,
        reason,
        time_ms,
        leaves,
        path: path.to_owned(),
    })
}

/// The `.del` files in a directory (recursively), sorted.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    crate::verify::walk(dir, &mut |p| {
        if p.extension().is_some_and(|e| e == "del") {
            out.push(p.to_owned());
        }
    });
    out.sort();
    out
}

/// Loads every deletion record of a store, failing on the first bad one.
pub fn load_all(dir: &Path, vk: &VerifierKey) -> Result<Vec<Deletion>, StoreError> {
    let mut out = Vec::new();
    for p in list(dir) {
        let d = load(&p, vk).map_err(|reason| StoreError::corrupt(&p, 0, reason))?;
        out.push(d);
    }
    out.sort_by_key(|d| d.first);
    Ok(out)
}
