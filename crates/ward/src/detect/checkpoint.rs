//! The detection checkpoint: the log offset reached, with the correlation,
//! metric-rule and baseline state that reflects exactly the events before
//! it. Written atomically (temporary file, fsync, rename, fsync of the
//! directory), so a crash leaves either the old or the new checkpoint.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// What is persisted.
#[derive(Debug, Default, Deserialize)]
pub struct State {
    /// The next log offset to read.
    pub offset: u64,
    /// Identifies the rule set the correlation state belongs to.
    #[serde(default)]
    pub rules_digest: String,
    #[serde(default)]
    pub correlator: Option<ward_sigma::Correlator>,
    #[serde(default)]
    pub metric: Option<super::metric::MetricRules>,
    #[serde(default)]
    pub baselines: super::baseline::Baselines,
}

impl State {
    /// Reads the checkpoint; a missing file is a fresh start.
    pub fn load(path: &Path) -> anyhow::Result<State> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a valid detection checkpoint", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

/// The checkpoint that [`State::load`] reads, written from the live state
/// it borrows: the detection thread saves without cloning every
/// correlation window and baseline first. Field for field [`State`]'s JSON.
#[derive(Serialize)]
pub struct StateRef<'a> {
    pub offset: u64,
    pub rules_digest: &'a str,
    pub correlator: Option<&'a ward_sigma::Correlator>,
    pub metric: Option<&'a super::metric::MetricRules>,
    pub baselines: &'a super::baseline::Baselines,
}

impl StateRef<'_> {
    /// Writes the checkpoint atomically: temporary file, fsync, rename,
    /// fsync of the directory.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(self)?;
        let dir = path.parent().context("checkpoint path has no directory")?;
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}
