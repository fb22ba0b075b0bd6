//! The witness `store.witness` names: a directory ([`ward_store::DirWitness`]),
//! a witness service over HTTPS ([`super::witness_http`]) or an S3 bucket with Object Lock (`s3://bucket/prefix`, credentials from
//! `[archive.s3]`). Each signed checkpoint becomes the object
//! `<prefix>/<size:020>.cp`, locked in COMPLIANCE mode for the longest
//! retention period, so even someone holding the data directory, its key
//! and the bucket's credentials cannot take a witnessed checkpoint back.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use ward_store::{Checkpoint, Witness};

use super::s3::{Location, S3};
use crate::config::{Config, S3Config};

/// The witness the configuration names, if any; an `http(s)://` witness
/// whose token cannot be read is an error.
pub fn from_config(config: &Config) -> anyhow::Result<Option<Arc<dyn Witness>>> {
    let w = &config.raw.store.witness;
    if w.is_empty() {
        return Ok(None);
    }
    if w.starts_with("http://") || w.starts_with("https://") {
        let http =
            super::witness_http::HttpWitness::new(&config.raw.store).map_err(anyhow::Error::msg)?;
        return Ok(Some(Arc::new(http)));
    }
    if let Some(location) = Location::parse(w) {
        let r = &config.raw.retention;
        let keep_days = r
            .categories
            .values()
            .copied()
            .chain([r.default_days])
            .max()
            .unwrap_or(r.default_days);
        return Ok(Some(Arc::new(S3Witness {
            cfg: config.raw.archive.s3.clone(),
            location,
            keep_days,
            s3: OnceLock::new(),
        })));
    }
    Ok(Some(Arc::new(ward_store::DirWitness::new(w))))
}

/// Writes each checkpoint to a bucket (see the module docs). The client is
/// made on the witness thread at the first checkpoint.
#[derive(Debug)]
pub struct S3Witness {
    cfg: S3Config,
    location: Location,
    keep_days: u32,
    s3: OnceLock<Result<S3, String>>,
}

impl Witness for S3Witness {
    fn publish(&self, cp: &Checkpoint) -> Result<(), String> {
        let s3 = self
            .s3
            .get_or_init(|| {
                S3::new(&self.cfg, self.location.clone(), &|k| std::env::var(k).ok())
                    .map_err(|e| e.to_string())
            })
            .as_ref()?;
        let key = s3.key(&note_name(cp.size));
        if let Some(old) = s3.get(&key).map_err(|e| e.to_string())? {
            return ward_store::witness::same_tree(
                &String::from_utf8_lossy(&old),
                cp,
                &s3.show(&key),
            );
        }
        let until = jiff::Timestamp::now()
            .as_millisecond()
            .saturating_add(i64::from(self.keep_days) * 86_400_000);
        s3.put(&key, cp.note.as_bytes(), Some(until))
            .map_err(|e| e.to_string())
    }

    fn describe(&self) -> String {
        self.location.to_string()
    }
}

/// A witnessed note's name: `<size:020>.cp`.
pub fn note_name(size: u64) -> String {
    format!("{size:020}.cp")
}

/// Copies the notes a bucket witness holds into `dir`, for
/// [`ward_store::verify_with_witness`]; returns how many.
pub fn fetch(cfg: &S3Config, location: Location, dir: &Path) -> anyhow::Result<usize> {
    let s3 = S3::new(cfg, location, &|k| std::env::var(k).ok())?;
    s3.download(dir, &|rel| !rel.contains('/') && rel.ends_with(".cp"))
}
