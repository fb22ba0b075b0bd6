//! API keys: scoped to one role and one tenant, expiring (90 days unless
//! told otherwise), shown once and stored hashed in `<data>/apikeys.json`
//! (mode 0600).
//!
//! A key is `wk_<id>_<secret>`: 8 random bytes of id and 32 of secret, in
//! hex. Only SHA-256 of the whole key is kept. A slow password hash
//! (Argon2id) protects guessable passwords; a key has 256 bits of entropy,
//! so one SHA-256 is as strong as the key and costs about a microsecond per
//! request. The id finds the record; the digests are compared in constant
//! time.
//!
//! `ward apikey` writes the file whether or not the server runs (write to a
//! temporary file, then rename); the server looks at the file's modification
//! time at most once a second and re-reads it when it changed, so a new key
//! works and a revoked one stops working within a second.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// The file, in the data directory.
pub const FILE: &str = "apikeys.json";
/// Lifetime of a key created without `--expires`.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(90 * 86_400);
const PREFIX: &str = "wk_";
/// How often the server looks for changes to the file.
const RECHECK: Duration = Duration::from_secs(1);

/// One stored key (never the key itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub role: String,
    pub tenant: String,
    /// Hex SHA-256 of the whole key.
    pub sha256: String,
    pub created_at: jiff::Timestamp,
    pub created_by: String,
    /// None only when created with `--expires never`.
    pub expires_at: Option<jiff::Timestamp>,
    #[serde(default)]
    pub revoked_at: Option<jiff::Timestamp>,
}

impl KeyRecord {
    /// Whether the key may be used at `now`.
    pub fn active(&self, now: jiff::Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// What `create` needs.
pub struct NewKey<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub tenant: &'a str,
    pub created_by: &'a str,
    /// None: never expires.
    pub expires: Option<Duration>,
}

fn digest_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The id part of a key that has the right shape.
fn key_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && secret.len() == 64).then_some(id)
}

/// Whether a presented credential looks like an API key (and not an ingest
/// token).
pub fn is_api_key(candidate: &str) -> bool {
    key_id(candidate).is_some()
}

/// The keys file: read, written atomically, private.
pub fn read(data_dir: &Path) -> anyhow::Result<Vec<KeyRecord>> {
    let path = data_dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid API key file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write(data_dir: &Path, keys: &[KeyRecord]) -> anyhow::Result<()> {
    crate::access::replace_file(data_dir, FILE, &serde_json::to_vec_pretty(keys)?)
}

/// Creates a key; returns the key (to show once) and its record.
pub fn create(data_dir: &Path, new: &NewKey<'_>) -> anyhow::Result<(String, KeyRecord)> {
    if new.name.is_empty() || new.name.len() > 128 || new.name.chars().any(char::is_control) {
        bail!("--name must be 1 to 128 characters without control characters");
    }
    if new.tenant.is_empty() || new.tenant.len() > 128 || new.tenant.chars().any(char::is_control) {
        bail!("--tenant must be 1 to 128 characters without control characters");
    }
    let mut keys = read(data_dir)?;
    let id = hex::encode(rand::random::<[u8; 8]>());
    let key = format!("{PREFIX}{id}_{}", hex::encode(rand::random::<[u8; 32]>()));
    let now = jiff::Timestamp::now();
    let expires_at = match new.expires {
        Some(d) => Some(
            now.checked_add(jiff::SignedDuration::try_from(d)?)
                .context("--expires is too far in the future")?,
        ),
        None => None,
    };
    let rec = KeyRecord {
        id,
        name: new.name.to_owned(),
        role: new.role.to_owned(),
        tenant: new.tenant.to_owned(),
        sha256: digest_hex(&key),
        created_at: now,
        created_by: new.created_by.to_owned(),
        expires_at,
        revoked_at: None,
    };
    keys.push(rec.clone());
    write(data_dir, &keys)?;
    Ok((key, rec))
}

/// Revokes the key with this id (or, when unique, this name).
pub fn revoke(data_dir: &Path, id_or_name: &str) -> anyhow::Result<KeyRecord> {
    let mut keys = read(data_dir)?;
    let matching: Vec<usize> = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.revoked_at.is_none() && (k.id == id_or_name || k.name == id_or_name))
        .map(|(i, _)| i)
        .collect();
    let i = match matching.as_slice() {
        [i] => *i,
        [] => bail!("no active API key has that id or name (see `ward apikey list`)"),
        _ => bail!("several active API keys have that name: revoke by id"),
    };
    keys[i].revoked_at = Some(jiff::Timestamp::now());
    let rec = keys[i].clone();
    write(data_dir, &keys)?;
    Ok(rec)
}

/// The server's view of the keys file, re-read when it changes.
pub struct KeyStore {
    path: PathBuf,
    keys: RwLock<Arc<BTreeMap<String, KeyRecord>>>,
    /// When the file was last looked at, and its modification time then.
    seen: Mutex<(Instant, Option<SystemTime>)>,
}

impl KeyStore {
    pub fn open(data_dir: &Path) -> anyhow::Result<KeyStore> {
        let store = KeyStore {
            path: data_dir.join(FILE),
            keys: RwLock::new(Arc::default()),
            seen: Mutex::new((Instant::now(), None)),
        };
        store.reload(crate::access::mtime(&store.path))?;
        Ok(store)
    }

    fn reload(&self, modified: Option<SystemTime>) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let map = read(dir)?.into_iter().map(|k| (k.id.clone(), k)).collect();
        *self.keys.write() = Arc::new(map);
        *self.seen.lock() = (Instant::now(), modified);
        Ok(())
    }

    /// Re-reads the file when its modification time changed, at most once
    /// per [`RECHECK`].
    fn refresh(&self) {
        let modified = {
            let mut seen = self.seen.lock();
            if seen.0.elapsed() < RECHECK {
                return;
            }
            seen.0 = Instant::now();
            let m = crate::access::mtime(&self.path);
            if m == seen.1 {
                return;
            }
            m
        };
        if let Err(e) = self.reload(modified) {
            tracing::error!(error = %format!("{e:#}"), "cannot re-read the API key file; keeping the keys loaded before");
        }
    }

    /// The record of a valid, active key.
    pub fn verify(&self, key: &str) -> Option<KeyRecord> {
        let id = key_id(key)?;
        self.refresh();
        let keys = Arc::clone(&self.keys.read());
        let rec = keys.get(id)?;
        let want = hex::decode(&rec.sha256).ok()?;
        let got = Sha256::digest(key.as_bytes());
        if !bool::from(got.as_slice().ct_eq(&want)) {
            return None;
        }
        rec.active(jiff::Timestamp::now()).then(|| rec.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new<'a>(name: &'a str, expires: Option<Duration>) -> NewKey<'a> {
        NewKey {
            name,
            role: "analyst",
            tenant: "acme",
            created_by: "test",
            expires,
        }
    }

    #[test]
    fn created_keys_verify_and_only_the_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (key, rec) = create(dir.path(), &new("laptop", Some(DEFAULT_EXPIRY))).unwrap();
        assert!(is_api_key(&key));
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(!text.contains(&key[20..]), "the secret must not be stored");
        let store = KeyStore::open(dir.path()).unwrap();
        assert_eq!(store.verify(&key).unwrap().id, rec.id);
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('0') { '1' } else { '0' });
        assert!(store.verify(&wrong).is_none());
        assert!(store.verify("wk_short").is_none());
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }

    #[test]
    fn expired_and_revoked_keys_are_refused_and_the_store_sees_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (expired, _) = create(dir.path(), &new("old", Some(Duration::ZERO))).unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        assert!(store.verify(&expired).is_none());
        let (key, rec) = create(dir.path(), &new("new", None)).unwrap();
        // Seen after the recheck interval, without a restart.
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert!(store.verify(&key).is_some());
        revoke(dir.path(), &rec.id).unwrap();
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert!(store.verify(&key).is_none());
        assert!(revoke(dir.path(), &rec.id).is_err(), "already revoked");
    }
}
