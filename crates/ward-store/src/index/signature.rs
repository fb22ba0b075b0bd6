//! Index signatures: everything search and retention believe about a
//! sealed segment without reading its records (block places and counts,
//! time bounds, bloom filters, the latest event time per category, the
//! Merkle summary) is signed with the store key when the segment is sealed.
//!
//! The signature is a signed note (the checkpoint format) in
//! `<first:020>.seg.sig` beside the segment:
//!
//! ```text
//! ward-segment-index v1
//! <origin>
//! first <first offset>
//! count <records>
//! index <hex SHA-256 of the canonical encoding of the index section>
//!
//! — <origin> <signature>
//! ```
//!
//! The digest is taken over the index as Ward decodes and uses it (encoded
//! again, canonically), so an index that decodes to anything else than
//! what was signed fails the check, whatever its bytes. A CRC recomputed by
//! whoever changed the index does not help them.
//!
//! Invariant: an index that is not signed, or whose signature does not
//! match, is never used. Start-up rebuilds it from the records themselves
//! (whose hashes the signed Merkle tree binds), says so loudly, and counts
//! it; `ward verify` reports it naming the segment and the block.

use crate::checkpoint::{StoreKey, VerifierKey};
use crate::disk;
use crate::error::StoreError;
use crate::format::sealed::{SegmentIndex, index_digest};
use std::path::{Path, PathBuf};

const HEADER: &str = "ward-segment-index v1";

/// The signature file of the sealed segment at `segment`.
pub fn path_for(segment: &Path) -> PathBuf {
    let mut name = segment.file_name().unwrap_or_default().to_os_string();
    name.push(".sig");
    segment.with_file_name(name)
}

fn body(origin: &str, first: u64, index: &SegmentIndex) -> String {
    format!(
        "{HEADER}\n{origin}\nfirst {first}\ncount {}\nindex {}\n",
        index.count,
        hex::encode(index_digest(index))
    )
}

/// Signs `index` (of the segment whose first offset is `first`) and writes
/// the signature beside `segment`, synced, replacing any older one.
pub fn write(
    key: &StoreKey,
    segment: &Path,
    first: u64,
    index: &SegmentIndex,
) -> Result<(), StoreError> {
    let note = key.sign_note(&body(&key.origin, first, index));
    let path = path_for(segment);
    let mut tmp = path.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    crate::seal::write_synced(&tmp, note.as_bytes())?;
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &path, e))?;
    if let Some(dir) = path.parent() {
        disk::sync_dir(dir)?;
    }
    Ok(())
}

/// Whether a sealed segment's index is the one that was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Signed by the store key, and it matches.
    Signed,
    /// No signature file (sealed by a version without them, or removed).
    Unsigned,
    /// A signature file that is invalid or does not match; why.
    Mismatch(String),
}

/// Checks the signature of `index` (read from `segment`, first offset
/// `first`) with the store's verifier key.
pub fn check(vk: &VerifierKey, segment: &Path, first: u64, index: &SegmentIndex) -> Trust {
    let path = path_for(segment);
    let note = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Trust::Unsigned,
        Err(e) => return Trust::Mismatch(format!("cannot read {}: {e}", path.display())),
    };
    let Ok(note) = std::str::from_utf8(&note) else {
        return Trust::Mismatch("the signature file is not UTF-8".into());
    };
    check_note(vk, note, first, index)
}

/// Checks the signature `note` (the text of a `.seg.sig` file, read from
/// wherever the segment is kept) of `index`.
pub fn check_note(vk: &VerifierKey, note: &str, first: u64, index: &SegmentIndex) -> Trust {
    if note.is_empty() {
        return Trust::Unsigned;
    }
    let signed = match vk.open_note(note) {
        Ok(body) => body,
        Err(e) => return Trust::Mismatch(format!("the signature does not verify: {e}")),
    };
    if signed != body(&vk.name, first, index) {
        return Trust::Mismatch(
            "the index differs from the one signed when the segment was sealed".into(),
        );
    }
    Trust::Signed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::sealed::SealedWriter;

    fn sealed(dir: &Path) -> (PathBuf, SegmentIndex) {
        let p = dir.join(disk::segment_name(0, "seg"));
        let mut w = SealedWriter::create(&p, 0, 1).unwrap();
        for i in 0..10u64 {
            let mut rec = Vec::new();
            crate::format::encode_record_prefix(
                &mut rec,
                1_000 + i as i64,
                &format!("id{i}"),
                &["auth".into()],
                b"{}",
            )
            .unwrap();
            crate::format::set_record_offset(&mut rec, i);
            w.add(
                &rec,
                1_000 + i as i64,
                &["auth".into()],
                &[],
                &format!("id{i}"),
            )
            .unwrap();
        }
        (p.clone(), w.finish(2).unwrap())
    }

    #[test]
    fn a_signed_index_checks_and_any_change_to_it_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let key = StoreKey::load_or_create(dir.path()).unwrap();
        let vk = VerifierKey::parse(&key.verifier_key()).unwrap();
        let (p, index) = sealed(dir.path());
        assert_eq!(check(&vk, &p, 0, &index), Trust::Unsigned);
        write(&key, &p, 0, &index).unwrap();
        assert_eq!(check(&vk, &p, 0, &index), Trust::Signed);
        // Each thing search and retention rely on, changed alone.
        let mut changes: Vec<SegmentIndex> = Vec::new();
        let mut c = index.clone();
        c.blocks[0].bloom.words.iter_mut().for_each(|w| *w = 0);
        changes.push(c);
        let mut c = index.clone();
        c.blocks[0].min_time = 0;
        changes.push(c);
        let mut c = index.clone();
        c.max_time += 1;
        changes.push(c);
        let mut c = index.clone();
        c.categories.insert("auth".into(), 0);
        changes.push(c);
        let mut c = index.clone();
        c.blocks[0].fields.clear();
        changes.push(c);
        for changed in &changes {
            assert!(matches!(check(&vk, &p, 0, changed), Trust::Mismatch(_)));
        }
        // The signature of another segment (another first offset) does not fit.
        assert!(matches!(check(&vk, &p, 5, &index), Trust::Mismatch(_)));
        // A signature by another key does not verify.
        let other = tempfile::tempdir().unwrap();
        let other_key = StoreKey::load_or_create(other.path()).unwrap();
        write(&other_key, &p, 0, &index).unwrap();
        assert!(matches!(check(&vk, &p, 0, &index), Trust::Mismatch(_)));
    }
}
