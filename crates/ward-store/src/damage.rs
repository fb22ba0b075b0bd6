//! Damage in the middle of a write-ahead segment: found, set aside, never
//! cut away.
//!
//! A frame that fails its checksum (or whose length is impossible) is
//! *damage* if a valid frame follows it, and a *torn tail* only if nothing
//! valid follows (the last write was cut by a crash). Only a torn tail is
//! truncated at start-up. Damage is skipped by resynchronizing on the next
//! valid frame: its record must carry an offset at or after the expected
//! one (records carry their offset as their last 8 bytes), and its crc32c
//! must match, so a false resynchronization inside a record body is as
//! unlikely as a forged checksum. Every later record keeps its offset and
//! is served.
//!
//! The offsets in between (usually one) have no readable record, so their
//! Merkle leaf cannot be recomputed. The tree holds a placeholder for each,
//! [`damaged_leaf`] = `SHA-256(0x02 || "ward damaged record" || offset u64
//! LE)`: the `0x02` prefix keeps it apart from every record leaf (`0x00`)
//! and node (`0x01`). Start-up and `verify` put the same placeholder there,
//! so checkpoints signed after the damage verify, while every checkpoint
//! signed before it fails, and `verify` reports the damaged range
//! (`Changed`) until the records are restored.
//!
//! The damaged bytes stay in the segment (so the file is never rewritten)
//! and are copied next to it into a quarantine file,
//! `segments/<first:020>.wal.<byte>.quarantine`: one JSON line
//! ([`QuarantineHeader`]) and then the raw bytes. A segment with damage is
//! not sealed (sealing would drop the evidence).

use crate::error::StoreError;
use crate::format::{self, FRAME_HEADER_LEN, MAX_FRAME_LEN};
use crate::merkle::Hash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One item of a write-ahead file, in file order.
pub enum WalItem<'a> {
    /// A good frame at `pos`.
    Frame {
        /// File position.
        pos: u64,
        /// Its payload (terms and record).
        payload: &'a [u8],
    },
    /// Damaged bytes `pos..end` standing for `count` offsets.
    Damaged(Damage),
}

/// A damaged range of a write-ahead file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Damage {
    /// First damaged byte.
    pub pos: u64,
    /// Where the next good frame starts.
    pub end: u64,
    /// First offset without a readable record.
    pub first_offset: u64,
    /// How many offsets (zero for bytes that held no record).
    pub count: u64,
    /// What was wrong at `pos`.
    pub reason: String,
}

/// How a write-ahead file ends.
pub struct WalEnd {
    /// Where the last good frame (or damage) ends.
    pub good_len: u64,
    /// Why the bytes after `good_len` are a torn tail, if there are any.
    pub torn: Option<String>,
}

/// Walks the frames of a write-ahead file's bytes (after the header),
/// resynchronizing after damage. `first` is the file's first offset.
pub fn walk(
    bytes: &[u8],
    first: u64,
    f: &mut dyn FnMut(WalItem<'_>) -> Result<(), StoreError>,
) -> Result<WalEnd, StoreError> {
    let mut pos = format::HEADER_LEN;
    let mut next = first;
    while pos < bytes.len() {
        let reason = match format::parse_frame(&bytes[pos..]) {
            format::Frame::Ok { payload, len } => {
                f(WalItem::Frame {
                    pos: pos as u64,
                    payload,
                })?;
                next += 1;
                pos += len;
                continue;
            }
            format::Frame::Short => format!("incomplete frame ({} bytes)", bytes.len() - pos),
            format::Frame::Bad(reason) => reason,
        };
        let Some((end, found)) = resync(bytes, pos, next) else {
            return Ok(WalEnd {
                good_len: pos as u64,
                torn: Some(reason),
            });
        };
        f(WalItem::Damaged(Damage {
            pos: pos as u64,
            end: end as u64,
            first_offset: next,
            count: found - next,
            reason,
        }))?;
        next = found;
        pos = end;
    }
    Ok(WalEnd {
        good_len: pos as u64,
        torn: None,
    })
}

/// The next valid frame after damage at `pos`: `(position, its offset)`.
/// Its offset is at least `next` and at most one per frame header's worth
/// of skipped bytes further.
fn resync(bytes: &[u8], pos: usize, next: u64) -> Option<(usize, u64)> {
    for q in pos + 1..bytes.len().saturating_sub(FRAME_HEADER_LEN) {
        let len = format::u32_at(bytes, q) as usize;
        let end = q + FRAME_HEADER_LEN + len;
        if !(8..=MAX_FRAME_LEN).contains(&len) || end > bytes.len() {
            continue;
        }
        let off = format::u64_at(bytes, end - 8);
        let skipped = (q - pos) as u64 / FRAME_HEADER_LEN as u64 + 1;
        if off < next || off > next + skipped {
            continue;
        }
        if let format::Frame::Ok { payload, .. } = format::parse_frame(&bytes[q..])
            && format::split_payload(payload).is_ok()
        {
            return Some((q, off));
        }
    }
    None
}

/// The Merkle leaf that stands for a damaged record at `offset`.
pub fn damaged_leaf(offset: u64) -> Hash {
    let mut h = Sha256::new();
    h.update([0x02]);
    h.update(b"ward damaged record");
    h.update(offset.to_le_bytes());
    h.finalize().into()
}

/// The first line of a quarantine file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineHeader {
    /// Quarantine format version (1).
    pub format: u32,
    /// The segment file name.
    pub segment: String,
    /// The damage.
    #[serde(flatten)]
    pub damage: Damage,
}

/// Where the damaged bytes of `segment` at byte `pos` are set aside.
pub fn quarantine_path(segment: &Path, pos: u64) -> PathBuf {
    let mut name = segment.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{pos}.quarantine"));
    segment.with_file_name(name)
}

/// Writes the quarantine file for `d` (once: an existing one is kept).
pub fn quarantine(segment: &Path, bytes: &[u8], d: &Damage) -> Result<PathBuf, StoreError> {
    let path = quarantine_path(segment, d.pos);
    if path.exists() {
        return Ok(path);
    }
    let header = QuarantineHeader {
        format: 1,
        segment: segment
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        damage: d.clone(),
    };
    let mut out =
        serde_json::to_vec(&header).map_err(|e| StoreError::corrupt(&path, 0, e.to_string()))?;
    out.push(b'\n');
    out.extend_from_slice(
        bytes
            .get(d.pos as usize..d.end as usize)
            .unwrap_or_default(),
    );
    crate::seal::write_synced(&path, &out)?;
    Ok(path)
}

/// First line of the body of a damage acknowledgement note.
const ACK_HEADER: &str = "ward damage acknowledgement v1";

/// An operator's signed statement that a damaged range was looked at: the
/// quarantine file it names (by hash), who and why. `verify` reports
/// acknowledged damage as a warning rather than a failure, as long as the
/// quarantine file still holds the same bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The write-ahead file name.
    pub segment: String,
    /// The damage, as the quarantine header gives it.
    pub damage: Damage,
    /// SHA-256 of the whole quarantine file, hex.
    pub quarantine_sha256: String,
    /// Who acknowledged it.
    pub by: String,
    /// Why it is accepted (a disk fault, restored from the archive, ...).
    pub reason: String,
    /// When, ms since the epoch.
    pub time_ms: i64,
}

/// The directory of acknowledgements in a store directory.
pub fn ack_dir(store_dir: &Path) -> PathBuf {
    store_dir.join("damage")
}

fn sha256_file(path: &Path) -> Result<String, StoreError> {
    let bytes = std::fs::read(path).map_err(|e| StoreError::io("read", path, e))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Signs an acknowledgement of the damage set aside in `quarantine` (a
/// `*.quarantine` file of the store in `store_dir`) with the store's key,
/// into `damage/<first offset>.<byte>.ack`. Works with or without a
/// running server (it takes no lock: it only adds a file).
pub fn acknowledge(
    store_dir: &Path,
    quarantine: &Path,
    by: &str,
    reason: &str,
    now_ms: i64,
) -> Result<(PathBuf, Acknowledgement), StoreError> {
    let bad = |why: String| StoreError::corrupt(quarantine, 0, why);
    if by.trim().is_empty() || reason.trim().is_empty() {
        return Err(StoreError::Config(
            "an acknowledgement needs who (--by) and why (--reason)".into(),
        ));
    }
    let one_line = |s: &str| {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
    };
    let bytes = std::fs::read(quarantine).map_err(|e| StoreError::io("read", quarantine, e))?;
    let nl = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| bad("not a quarantine file: no header line".into()))?;
    let header: QuarantineHeader = serde_json::from_slice(&bytes[..nl])
        .map_err(|e| bad(format!("not a quarantine file: {e}")))?;
    let ack = Acknowledgement {
        segment: header.segment,
        damage: header.damage,
        quarantine_sha256: hex::encode(Sha256::digest(&bytes)),
        by: one_line(by.trim()),
        reason: one_line(reason.trim()),
        time_ms: now_ms,
    };
    let key = crate::checkpoint::StoreKey::load_or_create(store_dir)?;
    let json = serde_json::to_string(&ack).map_err(|e| bad(e.to_string()))?;
    let note = key.sign_note(&format!("{ACK_HEADER}\n{json}\n"));
    let dir = ack_dir(store_dir);
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
    let path = dir.join(format!(
        "{:020}.{}.ack",
        ack.damage.first_offset, ack.damage.pos
    ));
    let tmp = path.with_extension("ack.tmp");
    crate::seal::write_synced(&tmp, note.as_bytes())?;
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &path, e))?;
    crate::disk::sync_dir(&dir)?;
    Ok((path, ack))
}

/// Acknowledgements read from a store: the valid ones by file, and the
/// files that are not (with why).
pub type Acknowledgements = (Vec<(PathBuf, Acknowledgement)>, Vec<(PathBuf, String)>);

/// The validly signed acknowledgements in `store_dir`, and the files that
/// are not (with why).
pub fn load_acknowledgements(
    store_dir: &Path,
    vk: &crate::checkpoint::VerifierKey,
) -> Acknowledgements {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(ack_dir(store_dir)) else {
        return (good, bad);
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ack"))
        .collect();
    paths.sort();
    for p in paths {
        let parsed = std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|note| {
                let body = vk.open_note(&note).map_err(|e| e.to_string())?;
                let json = body
                    .strip_prefix(ACK_HEADER)
                    .and_then(|r| r.strip_prefix('\n'))
                    .ok_or("not a damage acknowledgement")?;
                serde_json::from_str::<Acknowledgement>(json.trim()).map_err(|e| e.to_string())
            });
        match parsed {
            Ok(a) => good.push((p, a)),
            Err(e) => bad.push((p, e)),
        }
    }
    (good, bad)
}

/// Whether `ack` covers damage `d` of the write-ahead file `segment`, whose
/// quarantine file still holds the acknowledged bytes.
pub fn acknowledged(ack: &Acknowledgement, segment: &Path, d: &Damage) -> bool {
    let name = segment.file_name().map(|n| n.to_string_lossy());
    name.as_deref() == Some(ack.segment.as_str())
        && ack.damage.pos == d.pos
        && ack.damage.first_offset == d.first_offset
        && ack.damage.count == d.count
        && sha256_file(&quarantine_path(segment, d.pos)).is_ok_and(|h| h == ack.quarantine_sha256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store_with;

    fn wal_bytes(n: u64) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        drop(store_with(dir.path(), n));
        std::fs::read(dir.path().join("segments/00000000000000000000.wal")).unwrap()
    }

    fn items(bytes: &[u8]) -> (Vec<u64>, Vec<Damage>, WalEnd) {
        let (mut frames, mut damage) = (Vec::new(), Vec::new());
        let end = walk(bytes, 0, &mut |item| {
            match item {
                WalItem::Frame { pos, .. } => frames.push(pos),
                WalItem::Damaged(d) => damage.push(d),
            }
            Ok(())
        })
        .unwrap();
        (frames, damage, end)
    }

    #[test]
    fn walk_skips_a_damaged_length_and_keeps_the_rest() {
        let mut bytes = wal_bytes(5);
        let (frames, _, _) = items(&bytes);
        // The length field of record 2 made huge: "incomplete" but not last.
        bytes[frames[2] as usize + 3] = 0x7f;
        let (kept, damage, end) = items(&bytes);
        assert_eq!(kept, vec![frames[0], frames[1], frames[3], frames[4]]);
        assert_eq!((damage[0].first_offset, damage[0].count), (2, 1));
        assert_eq!((damage[0].pos, damage[0].end), (frames[2], frames[3]));
        assert!(end.torn.is_none());
    }

    #[test]
    fn walk_calls_an_unfollowed_bad_end_a_torn_tail() {
        let mut bytes = wal_bytes(3);
        let n = bytes.len();
        bytes[n - 5] ^= 1;
        let (kept, damage, end) = items(&bytes);
        assert_eq!((kept.len(), damage.len()), (2, 0));
        assert_eq!(end.torn.as_deref(), Some("checksum mismatch"));
    }

    #[test]
    fn resync_needs_the_expected_offset() {
        let bytes = wal_bytes(3);
        let (frames, _, _) = items(&bytes);
        let from = frames[0] as usize;
        assert_eq!(resync(&bytes, from, 1), Some((frames[1] as usize, 1)));
        // A frame whose offset is behind the expected one is not a resync.
        assert_eq!(resync(&bytes, from, 2), Some((frames[2] as usize, 2)));
        assert_eq!(resync(&bytes, frames[2] as usize, 3), None);
    }

    #[test]
    fn damaged_leaf_is_apart_from_record_leaves() {
        assert_ne!(damaged_leaf(1), damaged_leaf(2));
        assert_ne!(
            damaged_leaf(1),
            crate::merkle::leaf_hash(&1u64.to_le_bytes())
        );
        let q = quarantine_path(Path::new("/s/00000000000000000000.wal"), 77);
        assert_eq!(q, Path::new("/s/00000000000000000000.wal.77.quarantine"));
    }
}
