//! Local users: a name, a role, a tenant and an Argon2id password hash,
//! stored in `<data>/users.json` (mode 0600). `ward users` changes the file
//! whether or not the server runs (under an exclusive lock, written to a
//! temporary file and renamed); the server re-reads it when its
//! modification time changes, at most once a second ([`UserStore`]).
//!
//! Passwords are hashed with Argon2id and OWASP's parameters (19 MiB of
//! memory, 2 passes, 1 lane), each with its own random 16-byte salt, in the
//! PHC string format, so parameters can be raised later without breaking
//! stored hashes. A password is never printed nor logged.
//!
//! Every change of a user's password, role, tenant or state moves its
//! `changed_at`: a browser session remembers the value it was opened
//! under and dies when it moves ([`crate::access::session`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

/// The file, in the data directory.
pub const FILE: &str = "users.json";
/// Shortest password accepted, in characters.
pub const MIN_PASSWORD: usize = 12;
/// Longest password accepted, in bytes: Argon2 would take any length, the
/// login route must not.
pub const MAX_PASSWORD: usize = 1024;
/// Most users in the file.
pub const MAX_USERS: usize = 10_000;
/// How often the server looks for changes to the file.
const RECHECK: Duration = Duration::from_secs(1);

/// What a user name may be, as said to people.
pub const NAME_RULE: &str = "a user name is 1 to 64 ASCII letters, digits, '.', '_', '-' or '@', starting with a letter or digit";

/// Whether `name` is a valid user name ([`NAME_RULE`]).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

/// One stored user (never the password).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserRecord {
    pub name: String,
    pub role: String,
    pub tenant: String,
    /// Argon2id hash in PHC string format.
    pub password: String,
    pub created_at: jiff::Timestamp,
    pub created_by: String,
    /// When the password, role, tenant or state last changed: sessions
    /// opened before are void.
    pub changed_at: jiff::Timestamp,
    #[serde(default)]
    pub disabled_at: Option<jiff::Timestamp>,
}

impl UserRecord {
    pub fn active(&self) -> bool {
        self.disabled_at.is_none()
    }
}

/// Argon2id with OWASP's recommended parameters: m = 19 MiB, t = 2, p = 1.
fn hasher() -> Argon2<'static> {
    // The constants are valid; `Params::DEFAULT` is the same set.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> anyhow::Result<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD {
        bail!("the password is too short: at least {MIN_PASSWORD} characters");
    }
    if password.len() > MAX_PASSWORD {
        bail!("the password is too long: at most {MAX_PASSWORD} bytes");
    }
    Ok(())
}

/// Hashes a password with a fresh random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| anyhow::anyhow!("cannot encode a salt: {e}"))?;
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?
        .to_string())
}

/// Whether `password` matches the PHC hash `phc` (false for a malformed
/// hash). Takes as long as one Argon2id hash.
pub fn verify_password(phc: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    password.len() <= MAX_PASSWORD
        && hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
}

/// A hash of a password nobody knows, verified for unknown user names so
/// that the answer takes as long as for a known one.
pub fn dummy_hash() -> &'static str {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        let secret = hex::encode(rand::random::<[u8; 32]>());
        hash_password(&secret).unwrap_or_default()
    });
    &DUMMY
}

/// The users file: read.
pub fn read(data_dir: &Path) -> anyhow::Result<Vec<UserRecord>> {
    let path = data_dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid users file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Runs `change` on the users under an exclusive lock of the file, then
/// writes them (temporary file, rename): two `ward users` at once do not
/// lose each other's change.
fn update<T>(
    data_dir: &Path,
    change: impl FnOnce(&mut Vec<UserRecord>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    crate::access::private_dir(data_dir)?;
    let lock_path = data_dir.join(format!("{FILE}.lock"));
    use std::os::unix::fs::OpenOptionsExt as _;
    let lock = std::fs::OpenOptions::new()
        .mode(0o600)
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    let mut users = read(data_dir)?;
    let out = change(&mut users)?;
    crate::access::replace_file(data_dir, FILE, &serde_json::to_vec_pretty(&users)?)?;
    Ok(out)
}

/// What `add` needs.
pub struct NewUser<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub tenant: &'a str,
    pub password: &'a str,
    pub created_by: &'a str,
}

/// Adds a user.
pub fn add(data_dir: &Path, new: &NewUser<'_>) -> anyhow::Result<UserRecord> {
    if !valid_name(new.name) {
        bail!("{NAME_RULE}");
    }
    if !crate::access::valid_tenant(new.tenant) {
        bail!("--tenant: {}", crate::access::TENANT_RULE);
    }
    check_password(new.password)?;
    let password = hash_password(new.password)?;
    update(data_dir, |users| {
        if users.iter().any(|u| u.name == new.name) {
            bail!("a user named {} already exists", new.name);
        }
        if users.len() >= MAX_USERS {
            bail!("there are already {MAX_USERS} users");
        }
        let now = jiff::Timestamp::now();
        let rec = UserRecord {
            name: new.name.to_owned(),
            role: new.role.to_owned(),
            tenant: new.tenant.to_owned(),
            password,
            created_at: now,
            created_by: new.created_by.to_owned(),
            changed_at: now,
            disabled_at: None,
        };
        users.push(rec.clone());
        Ok(rec)
    })
}

fn find<'a>(users: &'a mut [UserRecord], name: &str) -> anyhow::Result<&'a mut UserRecord> {
    users
        .iter_mut()
        .find(|u| u.name == name)
        .with_context(|| format!("no user is named {name:?} (see `ward users list`)"))
}

/// Disables (`true`) or enables a user; disabling ends their sessions.
pub fn set_disabled(data_dir: &Path, name: &str, disabled: bool) -> anyhow::Result<UserRecord> {
    update(data_dir, |users| {
        let u = find(users, name)?;
        if u.disabled_at.is_some() == disabled {
            bail!(
                "user {name} is already {}",
                if disabled { "disabled" } else { "enabled" }
            );
        }
        let now = jiff::Timestamp::now();
        u.disabled_at = disabled.then_some(now);
        u.changed_at = now;
        Ok(u.clone())
    })
}

/// Sets a new password; ends the user's sessions.
pub fn set_password(data_dir: &Path, name: &str, password: &str) -> anyhow::Result<UserRecord> {
    check_password(password)?;
    let hash = hash_password(password)?;
    update(data_dir, |users| {
        let u = find(users, name)?;
        u.password = hash;
        u.changed_at = jiff::Timestamp::now();
        Ok(u.clone())
    })
}

/// Removes a user; ends their sessions.
pub fn remove(data_dir: &Path, name: &str) -> anyhow::Result<UserRecord> {
    update(data_dir, |users| {
        let i = users
            .iter()
            .position(|u| u.name == name)
            .with_context(|| format!("no user is named {name:?} (see `ward users list`)"))?;
        Ok(users.remove(i))
    })
}

/// The server's view of the users file, re-read when it changes.
pub struct UserStore {
    path: PathBuf,
    users: RwLock<Arc<std::collections::HashMap<String, UserRecord>>>,
    seen: Mutex<(Instant, Option<SystemTime>)>,
}

impl UserStore {
    pub fn open(data_dir: &Path) -> anyhow::Result<UserStore> {
        let store = UserStore {
            path: data_dir.join(FILE),
            users: RwLock::new(Arc::default()),
            seen: Mutex::new((Instant::now(), None)),
        };
        store.reload(crate::access::mtime(&store.path))?;
        Ok(store)
    }

    fn reload(&self, modified: Option<SystemTime>) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let map = read(dir)?
            .into_iter()
            .map(|u| (u.name.clone(), u))
            .collect();
        *self.users.write() = Arc::new(map);
        *self.seen.lock() = (Instant::now(), modified);
        Ok(())
    }

    fn refresh(&self, now: bool) {
        let modified = {
            let mut seen = self.seen.lock();
            if !now && seen.0.elapsed() < RECHECK {
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
            tracing::error!(error = %format!("{e:#}"), "cannot re-read the users file; keeping the users loaded before");
        }
    }

    /// The current record of a user, active or not.
    pub fn get(&self, name: &str) -> Option<UserRecord> {
        self.refresh(false);
        self.users.read().get(name).cloned()
    }

    /// The record of a user as the file says now, for a login: a user
    /// added a moment ago can log in at once (one `stat` per login, next
    /// to an Argon2id hash).
    pub fn get_now(&self, name: &str) -> Option<UserRecord> {
        self.refresh(true);
        self.users.read().get(name).cloned()
    }

    /// Whether the user exists, is active and has not changed since
    /// `changed_at`: a session opened then is still good.
    pub fn still(&self, name: &str, changed_at: jiff::Timestamp) -> Option<UserRecord> {
        self.get(name)
            .filter(|u| u.active() && u.changed_at == changed_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new<'a>(name: &'a str, password: &'a str) -> NewUser<'a> {
        NewUser {
            name,
            role: "analyst",
            tenant: "acme",
            password,
            created_by: "test",
        }
    }

    #[test]
    fn passwords_are_hashed_with_argon2id_and_owasp_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let rec = add(dir.path(), &new("ana", "correct horse battery")).unwrap();
        assert!(
            rec.password.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            rec.password
        );
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(!text.contains("correct horse"));
        assert!(verify_password(&rec.password, "correct horse battery"));
        assert!(!verify_password(&rec.password, "correct horse batterY"));
        assert!(!verify_password("not a hash", "correct horse battery"));
        assert!(!verify_password(dummy_hash(), "correct horse battery"));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }

    #[test]
    fn bad_names_short_passwords_and_duplicates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(add(dir.path(), &new("ana", "short")).is_err());
        assert!(add(dir.path(), &new("ana\u{1b}[2J", "long enough password")).is_err());
        assert!(add(dir.path(), &new("", "long enough password")).is_err());
        assert!(add(dir.path(), &new(&"a".repeat(65), "long enough password")).is_err());
        add(dir.path(), &new("ana", "long enough password")).unwrap();
        let dup = add(dir.path(), &new("ana", "another long password")).unwrap_err();
        assert!(dup.to_string().contains("already exists"), "{dup}");
        assert!(set_password(dir.path(), "nobody", "long enough password").is_err());
        assert!(set_password(dir.path(), "ana", "short").is_err());
    }

    #[test]
    fn every_change_moves_changed_at_and_the_store_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let rec = add(dir.path(), &new("ana", "long enough password")).unwrap();
        let store = UserStore::open(dir.path()).unwrap();
        assert!(store.still("ana", rec.changed_at).is_some());
        std::thread::sleep(Duration::from_millis(5));
        let changed = set_password(dir.path(), "ana", "a new long password").unwrap();
        assert_ne!(changed.changed_at, rec.changed_at);
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert!(store.still("ana", rec.changed_at).is_none());
        assert!(store.still("ana", changed.changed_at).is_some());
        let disabled = set_disabled(dir.path(), "ana", true).unwrap();
        assert!(set_disabled(dir.path(), "ana", true).is_err());
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert!(
            store.still("ana", disabled.changed_at).is_none(),
            "disabled"
        );
        remove(dir.path(), "ana").unwrap();
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert!(store.get("ana").is_none());
    }
}
