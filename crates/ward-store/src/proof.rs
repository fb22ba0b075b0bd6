//! Inclusion and consistency proofs that can be checked offline with only
//! the store's public key.

use crate::checkpoint::{Checkpoint, VerifierKey, parse_hex_hash};
use crate::error::{ProofError, StoreError};
use crate::format;
use crate::merkle::{self, Hash, leaf_hash};
use crate::store::{Inner, Store};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// Proof that an event is leaf `leaf_index` of the signed tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The event's id.
    pub event_id: String,
    /// Its offset (leaf index).
    pub leaf_index: u64,
    /// Size of the tree the proof is for (the checkpoint's size).
    pub tree_size: u64,
    /// The record's leaf bytes, base64 (holds the event body).
    pub record: String,
    /// The audit path, hex hashes from the leaf up.
    pub path: Vec<String>,
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// Offsets of other stored records that carry the same event id (Ward
    /// assigns ids itself, so normally none). Not covered by the proof: a
    /// reader told of them should ask which record is meant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicate_offsets: Vec<u64>,
}

/// Proof that the tree of `new_size` extends the tree of `old_size`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// Older size.
    pub old_size: u64,
    /// Newer size.
    pub new_size: u64,
    /// Root of the older tree, hex.
    pub old_root: String,
    /// Root of the newer tree, hex.
    pub new_root: String,
    /// The proof hashes, hex.
    pub path: Vec<String>,
    /// Signed checkpoint at `old_size`, if one was signed at that size.
    pub old_checkpoint: Option<String>,
    /// Signed checkpoint at `new_size`, if one was signed at that size.
    pub new_checkpoint: Option<String>,
}

fn hashes_from_hex(v: &[String]) -> Result<Vec<Hash>, ProofError> {
    v.iter().map(|h| parse_hex_hash(h)).collect()
}

/// Checks an inclusion proof offline: the checkpoint's signature with
/// `public_key`, the record's id and offset, and the path to the root.
pub fn verify_inclusion(proof: &InclusionProof, public_key: &str) -> Result<(), ProofError> {
    let vk = VerifierKey::parse(public_key)?;
    let cp = vk.open_checkpoint(&proof.checkpoint)?;
    if cp.size != proof.tree_size {
        return Err(ProofError::Malformed(
            "tree_size differs from the checkpoint's size".into(),
        ));
    }
    let record = B64
        .decode(&proof.record)
        .map_err(|_| ProofError::Malformed("record is not base64".into()))?;
    let decoded = format::decode_record(&record).map_err(ProofError::Malformed)?;
    if decoded.id != proof.event_id {
        return Err(ProofError::Malformed(
            "record holds a different event id".into(),
        ));
    }
    if decoded.offset != proof.leaf_index {
        return Err(ProofError::Malformed(
            "record holds a different offset".into(),
        ));
    }
    let path = hashes_from_hex(&proof.path)?;
    let root = cp.root_hash()?;
    if merkle::verify_inclusion_path(&leaf_hash(&record), proof.leaf_index, cp.size, &path, &root) {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks a signed note offline with `public_key`; returns its body. Used
/// for documents Ward signs besides checkpoints (evidence manifests), whose
/// bodies start with their own kind line so that no note is mistaken for
/// another.
pub fn open_note(note: &str, public_key: &str) -> Result<String, ProofError> {
    let vk = VerifierKey::parse(public_key)?;
    vk.open_note(note).map(str::to_owned)
}

/// Checks a consistency proof offline; signed checkpoints in it are checked
/// with `public_key` and must match the sizes and roots.
pub fn verify_consistency(proof: &ConsistencyProof, public_key: &str) -> Result<(), ProofError> {
    let vk = VerifierKey::parse(public_key)?;
    for (note, size, root) in [
        (&proof.old_checkpoint, proof.old_size, &proof.old_root),
        (&proof.new_checkpoint, proof.new_size, &proof.new_root),
    ] {
        if let Some(note) = note {
            let cp = vk.open_checkpoint(note)?;
            if cp.size != size || &cp.root != root {
                return Err(ProofError::Malformed(
                    "checkpoint does not match the proof's size and root".into(),
                ));
            }
        }
    }
    let old_root = parse_hex_hash(&proof.old_root)?;
    let new_root = parse_hex_hash(&proof.new_root)?;
    let path = hashes_from_hex(&proof.path)?;
    if merkle::verify_consistency_path(proof.old_size, proof.new_size, &old_root, &new_root, &path)
    {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

impl Store {
    /// Signs a note body (ending with a newline) with the store's key, as a
    /// C2SP signed note; [`open_note`] checks it. The body must not look
    /// like a checkpoint: start it with a line naming its kind.
    pub fn sign_note(&self, body: &str) -> String {
        self.inner.key.sign_note(body)
    }

    /// Proof that the event `id` is in the log, against the latest signed
    /// checkpoint (one is signed now if the event is newer): of the
    /// first-written record with that id, naming any others.
    pub fn inclusion_proof(&self, id: &str) -> Result<InclusionProof, StoreError> {
        let all = self.get_all(id)?;
        let rec = all
            .first()
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        let others = all[1..].iter().map(|r| r.offset.0).collect();
        self.inclusion_proof_at(rec.offset, id, others)
    }

    /// The inclusion proof of the record at `offset`, whose id is `id`,
    /// naming `duplicate_offsets` (other records with that id).
    pub fn inclusion_proof_at(
        &self,
        offset: crate::Offset,
        id: &str,
        duplicate_offsets: Vec<u64>,
    ) -> Result<InclusionProof, StoreError> {
        let inner = &self.inner;
        let offset = offset.0;
        let mut leaf = None;
        inner.for_each_leaf(offset, offset + 1, &mut |_, bytes| {
            leaf = Some(bytes.to_vec());
            Ok(())
        })?;
        let leaf = leaf.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        let latest = inner.latest_checkpoint.lock().clone();
        let cp = match latest {
            Some(cp) if cp.size > offset => cp,
            _ => inner.checkpoint_if_grown()?,
        };
        let path = {
            let tree = inner.tree.read();
            let size = cp.size;
            let mut view = tree.view(|c| inner.chunk_leaves(c, size));
            merkle::inclusion_path(&mut view, offset, size)?
        };
        Ok(InclusionProof {
            event_id: id.to_owned(),
            leaf_index: offset,
            tree_size: cp.size,
            record: B64.encode(&leaf),
            path: path.iter().map(hex::encode).collect(),
            checkpoint: cp.note,
            duplicate_offsets,
        })
    }

    /// Proof that the tree of `new_size` records extends that of
    /// `old_size`; `0 < old_size <= new_size <= ` the durable size.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, StoreError> {
        let inner = &self.inner;
        let (old_root, new_root, path) = {
            let tree = inner.tree.read();
            let size = tree.size();
            for requested in [old_size, new_size] {
                if requested == 0 || requested > size || old_size > new_size {
                    return Err(StoreError::TreeSize { requested, size });
                }
            }
            let mut view = tree.view(|c| inner.chunk_leaves(c, new_size));
            let old_root = view.root(old_size)?;
            let new_root = view.root(new_size)?;
            let path = merkle::consistency_path(&mut view, old_size, new_size)?;
            (old_root, new_root, path)
        };
        Ok(ConsistencyProof {
            old_size,
            new_size,
            old_root: hex::encode(old_root),
            new_root: hex::encode(new_root),
            path: path.iter().map(hex::encode).collect(),
            old_checkpoint: inner.stored_checkpoint(old_size),
            new_checkpoint: inner.stored_checkpoint(new_size),
        })
    }

    /// Signs a checkpoint of the current tree now (returns the latest one if
    /// the tree has not grown since).
    pub fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        self.inner.checkpoint_if_grown()
    }
}

impl Inner {
    fn stored_checkpoint(&self, size: u64) -> Option<String> {
        std::fs::read_to_string(self.cp_dir.join(crate::disk::segment_name(size, "cp"))).ok()
    }
}
