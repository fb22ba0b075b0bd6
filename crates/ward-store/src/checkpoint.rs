//! Signed checkpoints in the C2SP signed-note format, and the store's
//! Ed25519 key.
//!
//! A checkpoint note body is `origin\nsize\nbase64(root)\nward-time <ms>\n`,
//! followed by a blank line and `— <origin> base64(key_hash[4] || sig[64])`.
//! The key hash is the first four bytes of
//! `SHA-256(name || "\n" || 0x01 || public_key)`, and the public key text
//! (verifier key) is `name+hex(key_hash)+base64(0x01 || public_key)`, so any
//! signed-note tool can check a checkpoint.
//!
//! The key is created on first start in `key/signing.key` (mode 0600) with
//! its verifier key in `key/verifier.pub`.

use crate::error::{ProofError, StoreError};
use crate::merkle::Hash;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

const SIG_PREFIX: &str = "\u{2014} ";
const KEY_FILE_HEADER: &str = "ward-store-key v1";
/// Limit on the size of a note, so a hostile file cannot exhaust memory.
pub const MAX_NOTE_LEN: usize = 64 << 10;

/// A parsed, signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The log's origin line (its name).
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// Root hash, hex.
    pub root: String,
    /// Signing time, ms since the Unix epoch.
    pub time_ms: i64,
    /// The full signed note.
    pub note: String,
}

impl Checkpoint {
    /// The root as bytes.
    pub fn root_hash(&self) -> Result<Hash, ProofError> {
        parse_hex_hash(&self.root)
    }
}

/// Parses a 64-digit hex hash.
pub fn parse_hex_hash(s: &str) -> Result<Hash, ProofError> {
    let v = hex::decode(s).map_err(|_| ProofError::Malformed("hash is not hex".into()))?;
    v.try_into()
        .map_err(|_| ProofError::Malformed("hash is not 32 bytes".into()))
}

/// The store's signing identity.
pub struct StoreKey {
    key: SigningKey,
    /// The origin (key name).
    pub origin: String,
}

impl StoreKey {
    /// Loads the key from `dir/key`, creating it on first start.
    pub fn load_or_create(dir: &Path) -> Result<StoreKey, StoreError> {
        let kdir = dir.join("key");
        let path = kdir.join("signing.key");
        if !path.exists() {
            std::fs::create_dir_all(&kdir).map_err(|e| StoreError::io("create", &kdir, e))?;
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            let mut id = [0u8; 8];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
            let origin = format!("ward.store/{}", hex::encode(id));
            let text = format!(
                "{KEY_FILE_HEADER}\n{origin}\n{}\n",
                B64.encode(key.to_bytes())
            );
            let tmp = kdir.join("signing.key.tmp");
            write_private(&tmp, text.as_bytes())?;
            std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &path, e))?;
            let signer = StoreKey { key, origin };
            let pubp = kdir.join("verifier.pub");
            std::fs::write(&pubp, format!("{}\n", signer.verifier_key()))
                .map_err(|e| StoreError::io("write", &pubp, e))?;
            crate::disk::sync_dir(&kdir)?;
            return Ok(signer);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| StoreError::io("read", &path, e))?;
        let bad = |reason: &str| StoreError::Key {
            path: path.clone(),
            reason: reason.to_owned(),
        };
        let mut lines = text.lines();
        if lines.next() != Some(KEY_FILE_HEADER) {
            return Err(bad("first line is not the key file header"));
        }
        let origin = lines
            .next()
            .ok_or_else(|| bad("no origin line"))?
            .to_owned();
        if origin.is_empty() || origin.contains(['+', ' ', '\t']) {
            return Err(bad("origin contains '+' or whitespace"));
        }
        let seed = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| bad("third line is not a base64 32-byte Ed25519 seed"))?;
        let signer = StoreKey {
            key: SigningKey::from_bytes(&seed),
            origin,
        };
        // A seed that still decodes but was changed gives another key: say
        // so here, naming the key file, rather than let every checkpoint
        // fail to verify later as if the checkpoints were at fault.
        let pubp = kdir.join("verifier.pub");
        if let Ok(published) = std::fs::read_to_string(&pubp)
            && published.trim() != signer.verifier_key()
        {
            return Err(bad(&format!(
                "does not match the public key in {}: the signing key was damaged or replaced; restore it from a backup",
                pubp.display()
            )));
        }
        Ok(signer)
    }

    /// The verifier key text.
    pub fn verifier_key(&self) -> String {
        verifier_key_text(&self.origin, &self.key.verifying_key())
    }

    /// Signs a note body (which must end with a newline).
    pub fn sign_note(&self, body: &str) -> String {
        let sig = self.key.sign(body.as_bytes());
        let mut blob = key_hash(&self.origin, &self.key.verifying_key()).to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        format!("{body}\n{SIG_PREFIX}{} {}\n", self.origin, B64.encode(blob))
    }

    /// Signs a checkpoint.
    pub fn checkpoint(&self, size: u64, root: &Hash, time_ms: i64) -> Checkpoint {
        let body = format!(
            "{}\n{size}\n{}\nward-time {time_ms}\n",
            self.origin,
            B64.encode(root)
        );
        Checkpoint {
            origin: self.origin.clone(),
            size,
            root: hex::encode(root),
            time_ms,
            note: self.sign_note(&body),
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::io("create", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| StoreError::io("write", path, e))
}

fn key_hash(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n\x01");
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn verifier_key_text(name: &str, key: &VerifyingKey) -> String {
    let mut blob = vec![1u8];
    blob.extend_from_slice(key.as_bytes());
    format!(
        "{name}+{}+{}",
        hex::encode(key_hash(name, key)),
        B64.encode(blob)
    )
}

/// A parsed verifier key.
#[derive(Clone, Debug)]
pub struct VerifierKey {
    /// Key name (the log origin).
    pub name: String,
    hash: [u8; 4],
    key: VerifyingKey,
}

impl VerifierKey {
    /// Parses `name+hash+base64(0x01 || key)`.
    pub fn parse(text: &str) -> Result<VerifierKey, ProofError> {
        let text = text.trim();
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(h), Some(k)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ProofError::BadKey("expected name+hash+key".into()));
        };
        let hash: [u8; 4] = hex::decode(h)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| ProofError::BadKey("key hash is not 8 hex digits".into()))?;
        let blob = B64
            .decode(k)
            .map_err(|_| ProofError::BadKey("key is not base64".into()))?;
        if blob.len() != 33 || blob[0] != 1 {
            return Err(ProofError::BadKey(
                "not an Ed25519 key (type 0x01, 32 bytes)".into(),
            ));
        }
        let mut kb = [0u8; 32];
        kb.copy_from_slice(&blob[1..]);
        let key = VerifyingKey::from_bytes(&kb)
            .map_err(|_| ProofError::BadKey("invalid Ed25519 point".into()))?;
        if key_hash(name, &key) != hash {
            return Err(ProofError::BadKey(
                "key hash does not match name and key".into(),
            ));
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            hash,
            key,
        })
    }

    /// Checks a signed note; returns its body if a signature by this key
    /// verifies.
    pub fn open_note<'a>(&self, note: &'a str) -> Result<&'a str, ProofError> {
        if note.len() > MAX_NOTE_LEN {
            return Err(ProofError::MalformedCheckpoint("note too large".into()));
        }
        let split = note.find("\n\n").ok_or_else(|| {
            ProofError::MalformedCheckpoint("no blank line before signatures".into())
        })?;
        let body = &note[..split + 1];
        let sigs = &note[split + 2..];
        for line in sigs.lines() {
            let Some(rest) = line.strip_prefix(SIG_PREFIX) else {
                return Err(ProofError::MalformedCheckpoint(
                    "signature line without em dash".into(),
                ));
            };
            let Some((name, b64)) = rest.split_once(' ') else {
                return Err(ProofError::MalformedCheckpoint(
                    "signature line without key name".into(),
                ));
            };
            if name != self.name {
                continue;
            }
            let Ok(blob) = B64.decode(b64) else {
                return Err(ProofError::MalformedCheckpoint(
                    "signature is not base64".into(),
                ));
            };
            if blob.len() != 68 || blob[..4] != self.hash {
                continue;
            }
            let Ok(sig) = ed25519_dalek::Signature::from_slice(&blob[4..]) else {
                continue;
            };
            if self.key.verify(body.as_bytes(), &sig).is_ok() {
                return Ok(body);
            }
        }
        Err(ProofError::BadSignature)
    }

    /// Checks and parses a checkpoint note.
    pub fn open_checkpoint(&self, note: &str) -> Result<Checkpoint, ProofError> {
        let body = self.open_note(note)?;
        let bad = |m: &str| ProofError::MalformedCheckpoint(m.to_owned());
        let mut lines = body.lines();
        let origin = lines.next().ok_or_else(|| bad("no origin line"))?;
        if origin != self.name {
            return Err(bad("origin does not match the key name"));
        }
        let size: u64 = lines
            .next()
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| bad("second line is not a tree size"))?;
        let root: Hash = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("third line is not a base64 SHA-256 root"))?;
        let mut time_ms = 0;
        for l in lines {
            if let Some(t) = l.strip_prefix("ward-time ") {
                time_ms = t.parse().map_err(|_| bad("ward-time is not a number"))?;
            }
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root: hex::encode(root),
            time_ms,
            note: note.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_signing_key_names_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        StoreKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join("key/signing.key");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut seed = B64.decode(&lines[2]).unwrap();
        seed[0] ^= 1;
        lines[2] = B64.encode(seed);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let e = StoreKey::load_or_create(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("signing.key") && e.contains("does not match"),
            "{e}"
        );
    }

    #[test]
    fn checkpoint_signs_and_verifies_and_rejects_changes() {
        let dir = tempfile::tempdir().unwrap();
        let s = StoreKey::load_or_create(dir.path()).unwrap();
        let again = StoreKey::load_or_create(dir.path()).unwrap();
        assert_eq!(s.verifier_key(), again.verifier_key());
        let cp = s.checkpoint(10, &[7u8; 32], 1234);
        let vk = VerifierKey::parse(&s.verifier_key()).unwrap();
        let back = vk.open_checkpoint(&cp.note).unwrap();
        assert_eq!(back, cp);
        let forged = cp.note.replacen("\n10\n", "\n11\n", 1);
        assert_eq!(vk.open_checkpoint(&forged), Err(ProofError::BadSignature));
        let other = tempfile::tempdir().unwrap();
        let s2 = StoreKey::load_or_create(other.path()).unwrap();
        let vk2 = VerifierKey::parse(&s2.verifier_key()).unwrap();
        assert!(vk2.open_checkpoint(&cp.note).is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("key/signing.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
