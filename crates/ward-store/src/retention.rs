//! Retention: whole sealed segments are deleted once every record in them
//! has passed the retention period of its categories, unless a legal hold
//! covers them. Each deletion leaves a signed deletion record.
//!
//! A segment's expiry is the latest of `max event time of category c +
//! days(c)` over its categories (and the default period for records
//! without one), so no record is deleted before its own period ends.

use crate::disk;
use crate::error::StoreError;
use crate::merkle::leaf_hash;
use crate::segment::Segment;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const DAY_MS: i64 = 86_400_000;

/// What retention did or would do with one sealed segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionAction {
    /// Segment file name.
    pub segment: String,
    /// First offset.
    pub first_offset: u64,
    /// Last offset.
    pub last_offset: u64,
    /// Records.
    pub records: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// When the segment's retention ends, ms.
    pub expires_ms: i64,
    /// The decision.
    pub decision: RetentionDecision,
    /// Why, for people.
    pub reason: String,
}

/// The decision for an expired segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionDecision {
    /// Would be deleted (dry run).
    WouldDelete,
    /// Deleted, with a signed deletion record.
    Deleted,
    /// Expired but kept by a legal hold.
    Held,
}

impl Store {
    /// Applies the retention policy at time `now_ms`: returns every expired
    /// sealed segment with what was (or, with `dry_run`, would be) done.
    pub fn apply_retention(
        &self,
        now_ms: i64,
        dry_run: bool,
    ) -> Result<Vec<RetentionAction>, StoreError> {
        let inner = &self.inner;
        let policy = &inner.cfg.retention;
        let _one_at_a_time = inner.seal_lock.lock();
        let segments: Vec<Arc<Segment>> = inner.catalog.read().segments.clone();
        let mut out = Vec::new();
        for seg in segments {
            let Segment::Sealed(s) = &*seg else { continue };
            let Some(mut action) = decide(s, policy, now_ms) else {
                continue;
            };
            let (first, last) = (action.first_offset, action.last_offset);
            let ix = &s.index;
            if action.decision == RetentionDecision::WouldDelete && !dry_run {
                let mut leaves = Vec::with_capacity(ix.count as usize);
                seg.read_range(first, last + 1, &mut |_, rec| {
                    leaves.push(leaf_hash(rec));
                    Ok(())
                })?;
                let path = crate::deletion::write(
                    &inner.del_dir,
                    &inner.key,
                    first,
                    &leaves,
                    &format!("retention: {}", action.reason),
                    now_ms,
                )?;
                let deletion = crate::deletion::load(&path, &inner.verifier)
                    .map_err(|reason| StoreError::corrupt(&path, 0, reason))?;
                std::fs::remove_file(&s.path).map_err(|e| StoreError::io("remove", &s.path, e))?;
                for other in [
                    crate::index::signature::path_for(&s.path),
                    crate::search::aggregates_path(&s.path),
                ] {
                    if let Err(e) = std::fs::remove_file(&other)
                        && e.kind() != std::io::ErrorKind::NotFound
                    {
                        return Err(StoreError::io("remove", &other, e));
                    }
                }
                disk::sync_dir(&inner.seg_dir)?;
                inner
                    .catalog
                    .write()
                    .segments
                    .retain(|x| x.first_offset() != first);
                inner.deletions.write().push(deletion);
                inner.deletions.write().sort_by_key(|d| d.first);
                tracing::info!(first, last, "retention deleted a segment");
                action.decision = RetentionDecision::Deleted;
            }
            out.push(action);
        }
        Ok(out)
    }
}

/// What retention would do with one sealed segment at `now_ms`: nothing
/// (None) before the latest expiry of its categories, else delete it or
/// keep it for a legal hold.
fn decide(
    s: &crate::segment::SealedSegment,
    policy: &crate::config::RetentionPolicy,
    now_ms: i64,
) -> Option<RetentionAction> {
    let ix = &s.index;
    if ix.count == 0 {
        return None;
    }
    let (expires, longest) = expiry(ix, policy);
    if expires > now_ms {
        return None;
    }
    let first = s.header.first_offset;
    let name = s
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hold = if policy.legal_hold {
        Some("legal hold on the whole store".to_owned())
    } else {
        policy
            .holds
            .iter()
            .find(|h| h.from_ms <= ix.max_time && ix.min_time <= h.until_ms)
            .map(|h| format!("legal hold: {}", h.reason))
    };
    let mut action = RetentionAction {
        segment: name,
        first_offset: first,
        last_offset: first + ix.count - 1,
        records: ix.count,
        bytes: s.bytes,
        expires_ms: expires,
        decision: RetentionDecision::WouldDelete,
        reason: format!("every record is past its retention; longest: {longest}"),
    };
    if let Some(h) = hold {
        action.decision = RetentionDecision::Held;
        action.reason = h;
    }
    Some(action)
}

/// When a segment with this index may be deleted: the latest of `max event
/// time of category c + days(c)` over its categories, with the category
/// that decides it, for people.
pub(crate) fn expiry(
    ix: &crate::format::sealed::SegmentIndex,
    policy: &crate::config::RetentionPolicy,
) -> (i64, String) {
    let mut expires = i64::MIN;
    let mut longest = String::from("default");
    let mut consider = |label: &str, max_time: i64, days: u32| {
        let e = max_time.saturating_add(i64::from(days).saturating_mul(DAY_MS));
        if e > expires {
            expires = e;
            longest = format!("{label} ({days} days)");
        }
    };
    if let Some(t) = ix.uncategorized_max_time {
        consider("records without category", t, policy.default_days);
    }
    for (c, t) in &ix.categories {
        consider(&format!("category {c}"), *t, policy.days_for(Some(c)));
    }
    (expires, longest)
}

/// What retention would do at `now_ms` to the store in `dir`, read without
/// opening it: works while a server holds the store, and changes nothing
/// (no checkpoint, no lock). A sealed segment whose index is not the one
/// signed at sealing is judged on an index rebuilt from its records, as
/// start-up would.
pub fn retention_plan(
    dir: &std::path::Path,
    policy: &crate::config::RetentionPolicy,
    now_ms: i64,
) -> Result<Vec<RetentionAction>, StoreError> {
    let key_path = dir.join("key").join("verifier.pub");
    let key =
        std::fs::read_to_string(&key_path).map_err(|e| StoreError::io("read", &key_path, e))?;
    let vk = crate::checkpoint::VerifierKey::parse(&key).map_err(|e| StoreError::Key {
        path: key_path.clone(),
        reason: e.to_string(),
    })?;
    let seg_dir = dir.join("segments");
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(&seg_dir)
        .map_err(|e| StoreError::io("list", &seg_dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let mut seg = match crate::segment::SealedSegment::open(p.clone()) {
            Ok(s) => s,
            // Removed by the running server's own retention meanwhile.
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(e) => return Err(e),
        };
        let first = seg.header.first_offset;
        if crate::index::signature::check(&vk, &seg.path, first, &seg.index)
            != crate::index::signature::Trust::Signed
        {
            seg.index = crate::format::sealed::rebuild_index(&seg.file, &seg.path)?;
        }
        out.extend(decide(&seg, policy, now_ms));
    }
    Ok(out)
}
