//! The redact stage: every event passes through `ward-redact` before it is
//! stored, with the tenant's own keyed-hash key. [`log`] redacts Ward's
//! own log lines, where it may quote input.

pub mod log;

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use ward_redact::{Redactor, Report};

use crate::model::Event;

/// The redactor and the per-tenant hash keys derived from one master key.
pub struct Stage {
    redactor: Redactor,
    master: [u8; 32],
    keys: Mutex<HashMap<String, [u8; 32]>>,
}

impl Stage {
    /// Builds the stage; the master key lives in `<data>/keys/redact.key`
    /// and is created on first start.
    pub fn new(cfg: &ward_redact::RedactConfig, data_dir: &Path) -> anyhow::Result<Stage> {
        let redactor = Redactor::new(cfg).context("invalid redaction settings")?;
        let master = load_or_create_key(&data_dir.join("keys").join("redact.key"))?;
        Ok(Stage {
            redactor,
            master,
            keys: Mutex::new(HashMap::new()),
        })
    }

    fn tenant_key(&self, tenant: &str) -> [u8; 32] {
        *self
            .keys
            .lock()
            .entry(tenant.to_owned())
            .or_insert_with(|| {
                // A fixed-length secret prefix makes SHA-256 a sound key derivation here.
                let mut h = Sha256::new();
                h.update(self.master);
                h.update(b"ward-redact-tenant:");
                h.update(tenant.as_bytes());
                h.finalize().into()
            })
    }

    /// Redacts one event in place.
    pub fn redact_event(&self, event: &mut Event) -> Report {
        let tenant = event.get_str("tenant.id").unwrap_or("default").to_owned();
        let key = self.tenant_key(&tenant);
        self.redactor.redact_event(&mut event.0, &key)
    }
}

/// Reads a 32-byte key, or creates it (mode 0600) if the file is missing.
pub fn load_or_create_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Ok(bytes) = std::fs::read(path) {
        return bytes.try_into().map_err(|_| {
            anyhow::anyhow!(
                "{} is not a 32-byte key: restore it from backup",
                path.display()
            )
        });
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let key: [u8; 32] = rand::random();
    write_private(path, &key)?;
    Ok(key)
}

/// Writes a file readable by the owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
