//! Store settings and the retention policy, with validation that reports
//! every problem at once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Categories that hold security events (kept at least
/// [`MIN_SECURITY_DAYS`] days unless `force` is set).
pub const SECURITY_CATEGORIES: &[&str] = &[
    "authentication",
    "session",
    "iam",
    "configuration",
    "intrusion_detection",
    "malware",
    "threat",
    "vulnerability",
    "ai",
];
/// The floor for security categories.
pub const MIN_SECURITY_DAYS: u32 = 365;

/// How the store runs.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Data directory (created if missing).
    pub dir: PathBuf,
    /// Size of a write-ahead segment at which it is closed and sealed.
    pub segment_max_bytes: u64,
    /// Age of the active segment at which it is closed and sealed.
    pub segment_max_age: Duration,
    /// How long the writer that leads a group commit waits for concurrent
    /// appenders still encoding their batches before it fsyncs. Zero: never
    /// wait (a lone writer is never delayed either way).
    pub group_commit_max_wait: Duration,
    /// How often a checkpoint is signed while the log grows (none while it
    /// does not); records after the latest one are not yet signed.
    pub checkpoint_interval: Duration,
    /// Retention policy.
    pub retention: RetentionPolicy,
    /// Run the background thread (sealing, checkpoints). Tests turn it off
    /// to control timing; then `checkpoint()`/`seal_now()` do the work.
    pub background: bool,
    /// Keep the checkpoints signed inside a segment after it is sealed
    /// (by default only the one at its end stays, with the newest).
    pub keep_superseded_checkpoints: bool,
    /// Where every signed checkpoint is also copied ([`crate::witness`]).
    pub witness: Option<std::sync::Arc<dyn crate::Witness>>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            dir: PathBuf::from("ward-data/store"),
            segment_max_bytes: 64 << 20,
            segment_max_age: Duration::from_secs(3600),
            group_commit_max_wait: Duration::from_micros(200),
            checkpoint_interval: Duration::from_secs(1),
            retention: RetentionPolicy::default(),
            background: true,
            keep_superseded_checkpoints: false,
            witness: None,
        }
    }
}

impl StoreConfig {
    /// Every problem with the settings, each naming its key.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        if self.segment_max_bytes < 4096 {
            errs.push("store.segment_max_bytes must be at least 4096".to_owned());
        }
        if self.segment_max_age < Duration::from_secs(1) {
            errs.push("store.segment_max_age must be at least 1s".to_owned());
        }
        if self.group_commit_max_wait > Duration::from_millis(100) {
            errs.push("store.group_commit_max_wait must be at most 100ms (it delays every acknowledgement)".to_owned());
        }
        if self.checkpoint_interval < Duration::from_millis(10) {
            errs.push("store.checkpoint_interval must be at least 10ms".to_owned());
        }
        errs.extend(self.retention.validate());
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}

/// Which sealed segments may be deleted and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionPolicy {
    /// Days a record without a category rule is kept.
    pub default_days: u32,
    /// Days per `event.category`; a record is kept for the longest period of
    /// its categories.
    pub categories: BTreeMap<String, u32>,
    /// Allow periods under 365 days for security categories.
    pub force: bool,
    /// Legal hold: nothing is deleted while set.
    pub legal_hold: bool,
    /// Time-bounded holds: segments with events in a hold's range are kept.
    pub holds: Vec<LegalHold>,
}

/// A legal hold on an event-time range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalHold {
    /// Why (case reference).
    pub reason: String,
    /// Start of the held event-time range, ms.
    pub from_ms: i64,
    /// End of the held range, ms.
    pub until_ms: i64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            default_days: 400,
            categories: BTreeMap::new(),
            force: false,
            legal_hold: false,
            holds: Vec::new(),
        }
    }
}

impl RetentionPolicy {
    /// Problems with the policy, each naming its key.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.default_days == 0 {
            errs.push("store.retention.default_days must be at least 1".to_owned());
        }
        if !self.force {
            for (cat, days) in &self.categories {
                if SECURITY_CATEGORIES.contains(&cat.as_str()) && *days < MIN_SECURITY_DAYS {
                    errs.push(format!(
                        "store.retention.categories.{cat} = {days} days is below the {MIN_SECURITY_DAYS}-day minimum for security events; raise it or set store.retention.force = true"
                    ));
                }
            }
            if self.default_days < MIN_SECURITY_DAYS {
                let uncovered: Vec<&str> = SECURITY_CATEGORIES
                    .iter()
                    .copied()
                    .filter(|c| !self.categories.contains_key(*c))
                    .collect();
                if !uncovered.is_empty() {
                    errs.push(format!(
                        "store.retention.default_days = {} applies to security categories ({}) and is below {MIN_SECURITY_DAYS} days; set those categories explicitly or set store.retention.force = true",
                        self.default_days,
                        uncovered.join(", ")
                    ));
                }
            }
        }
        for (i, h) in self.holds.iter().enumerate() {
            if h.until_ms < h.from_ms {
                errs.push(format!(
                    "store.retention.holds[{i}]: until_ms is before from_ms"
                ));
            }
        }
        errs
    }

    /// Days a category is kept.
    pub fn days_for(&self, category: Option<&str>) -> u32 {
        category
            .and_then(|c| self.categories.get(c))
            .copied()
            .unwrap_or(self.default_days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_floor_needs_force() {
        let mut p = RetentionPolicy::default();
        p.categories.insert("authentication".into(), 30);
        p.default_days = 90;
        let errs = p.validate();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].contains("store.retention.categories.authentication"));
        p.force = true;
        assert!(p.validate().is_empty());
        assert!(StoreConfig::default().validate().is_ok());
    }
}
