//! Sealed segments off the node: every node uploads each segment it seals,
//! with its index signature, the checkpoint signed at its end and its
//! public key, to `cluster.segments_bucket` under `<prefix>/<node>/` (the
//! layout of `ward archive`, so `ward verify --archive` checks it), locked
//! in COMPLIANCE mode until the segment's retention ends; then records it
//! in the compacted `<prefix>segments` topic, keyed `<node>/<first
//! offset>`. Every node follows that topic into a [`Catalog`], which
//! [`super::search`] reads to search the other nodes' segments.
//!
//! Uploads run on their own task, never on the ingest path: a round every
//! `cluster.segments_interval`, retried with doubling waits (up to five
//! minutes) while the bucket or the brokers fail. An object already in the
//! bucket with the same content is left alone (a restart resumes), one with
//! other content is a conflict and is never overwritten.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Outgoing, Owned, Producer, Settings};
use crate::config::S3Config;
use crate::metrics::Metrics;
use crate::store::s3::{Location, S3, Target};

/// The format marker of a `<prefix>segments` message.
pub const FORMAT: &str = "ward-segment v1";

/// Longest wait between two tries while uploads fail.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// One `<prefix>segments` message: a sealed segment in the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRecord {
    /// [`FORMAT`].
    pub format: String,
    /// The node that sealed and uploaded it.
    pub node: String,
    /// The bucket.
    pub bucket: String,
    /// The node's prefix in the bucket (`<cluster prefix>/<node>`); the
    /// object names below are relative to it.
    pub prefix: String,
    /// The segment: object names, store offsets, event-time range, size,
    /// SHA-256, retention and its signed checkpoint.
    pub segment: ward_store::ArchivedSegment,
    /// When it was recorded, ms.
    pub uploaded_ms: i64,
}

impl SegmentRecord {
    /// The message key: `<node>/<first offset, 20 digits>`.
    pub fn key(&self) -> String {
        key(&self.node, self.segment.first)
    }

    /// The full object name of `rel` (a name of [`Self::segment`]).
    pub fn object(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// Why this message cannot be believed, if so: it must come under its
    /// own key, name its node's own place in the cluster's bucket and only
    /// names that stay inside it.
    pub fn check(&self, key: &[u8], location: &Location) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format {:?}, not {FORMAT:?}", self.format));
        }
        if !valid_node(&self.node) {
            return Err("not a node name".into());
        }
        if key != self.key().as_bytes() {
            return Err("the key is not <node>/<first offset>".into());
        }
        if self.bucket != location.bucket || self.prefix != node_prefix(location, &self.node) {
            return Err("it names another bucket or prefix than this node's".into());
        }
        let s = &self.segment;
        let safe = |rel: &str, start: &str, end: &str| {
            rel.starts_with(start)
                && rel.ends_with(end)
                && rel
                    .split('/')
                    .all(|c| !c.is_empty() && c != "." && c != "..")
        };
        if !safe(&s.object, "segments/", ".seg")
            || s.signature != format!("{}.sig", s.object)
            || !safe(&s.checkpoint, "checkpoints/", ".cp")
            || s.key != "key/verifier.pub"
        {
            return Err("an object name outside the layout".into());
        }
        if s.last < s.first || s.min_time_ms > s.max_time_ms {
            return Err("its offsets or times are out of order".into());
        }
        Ok(())
    }
}

/// The key of a node's segment.
pub fn key(node: &str, first: u64) -> String {
    format!("{node}/{first:020}")
}

fn valid_node(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `<prefix>/<node>` in the bucket.
pub fn node_prefix(location: &Location, node: &str) -> String {
    if location.prefix.is_empty() {
        node.to_owned()
    } else {
        format!("{}/{node}", location.prefix)
    }
}

/// The newest record of every uploaded segment, as read from
/// `<prefix>segments`.
#[derive(Debug, Default)]
pub struct Catalog {
    entries: parking_lot::RwLock<BTreeMap<String, SegmentRecord>>,
}

impl Catalog {
    /// Every recorded segment.
    pub fn all(&self) -> Vec<SegmentRecord> {
        self.entries.read().values().cloned().collect()
    }

    fn apply(&self, key: &[u8], payload: Option<&[u8]>, location: &Location) -> Result<(), String> {
        let Some(payload) = payload else {
            // A tombstone forgets the segment.
            self.entries
                .write()
                .remove(&String::from_utf8_lossy(key).into_owned());
            return Ok(());
        };
        let r: SegmentRecord =
            serde_json::from_slice(payload).map_err(|e| format!("not a segment record: {e}"))?;
        r.check(key, location)?;
        self.entries.write().insert(r.key(), r);
        Ok(())
    }
}

/// A reader of `<prefix>segments` from its beginning, assigned and ready;
/// [`Follower::run`] applies what it reads to the catalog.
pub struct Follower {
    consumer: BaseConsumer,
    topic: String,
    location: Location,
    catalog: Arc<Catalog>,
    metrics: Arc<Metrics>,
}

/// Opens the reader of `<prefix>segments` into `catalog`; the topology runs
/// it on a thread of its own.
pub fn follow(
    settings: &Arc<Settings>,
    catalog: Arc<Catalog>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Follower> {
    let Some(seg) = settings.segments.clone() else {
        anyhow::bail!("cluster.segments_bucket is not set");
    };
    let topic = settings.segments_topic();
    let consumer = super::follower(settings, &topic)?;
    Ok(Follower {
        consumer,
        topic,
        location: seg.location,
        catalog,
        metrics,
    })
}

impl Follower {
    /// Applies segment records until `stop`. Messages that are not segment
    /// records are counted (`ward_cluster_bad_messages_total{topic}`),
    /// logged and skipped.
    pub fn run(self, stop: &CancellationToken) {
        super::follow_records(
            &self.consumer,
            &self.topic,
            "a segment record",
            &self.metrics,
            stop,
            |key, payload| self.catalog.apply(key, payload, &self.location),
        );
    }
}

/// The upload task of this node.
pub struct Uploader {
    pub settings: Arc<Settings>,
    pub s3: S3Config,
    pub store_dir: PathBuf,
    pub policy: ward_store::RetentionPolicy,
    pub producer: Arc<Producer>,
    pub metrics: Arc<Metrics>,
    pub owned: Arc<Owned>,
}

/// What one upload round did.
struct Round {
    uploaded: Vec<(String, ward_store::ArchivedSegment)>,
    /// Sealed segments without records: nothing to upload or record.
    empty: Vec<PathBuf>,
    failure: Option<String>,
}

impl Uploader {
    /// Uploads and records newly sealed segments until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let Some(seg) = self.settings.segments.clone() else {
            return;
        };
        self.metrics.describe(
            "ward_cluster_segments_uploaded_total",
            "sealed segments this node uploaded to cluster.segments_bucket and recorded in <prefix>segments",
        );
        self.metrics.describe(
            "ward_cluster_segments_upload_failures_total",
            "upload rounds that failed (the bucket or the brokers); retried with doubling waits",
        );
        self.metrics.describe(
            "ward_cluster_segments_upload_lag_segments",
            "sealed segments of this node not yet uploaded and recorded",
        );
        self.metrics.describe(
            "ward_cluster_segments_upload_lag_seconds",
            "age of the oldest sealed segment not yet uploaded and recorded",
        );
        self.metrics
            .add("ward_cluster_segments_uploaded_total", &[], 0);
        self.metrics
            .add("ward_cluster_segments_upload_failures_total", &[], 0);
        let location = Location {
            bucket: seg.location.bucket.clone(),
            prefix: node_prefix(&seg.location, &self.settings.node_id),
        };
        self.metrics.describe(
            "ward_cluster_segments_locks_short",
            "segments this node uploaded whose Object Lock no longer covers their retention (not COMPLIANCE, or retained until earlier): found by reading each lock back, a few every round",
        );
        self.metrics.describe(
            "ward_cluster_segments_lock_checks_total",
            "Object Lock retentions of this node's uploaded segments read back",
        );
        self.metrics
            .set("ward_cluster_segments_locks_short", &[], 0.0);
        self.metrics
            .add("ward_cluster_segments_lock_checks_total", &[], 0);
        let mut done: BTreeSet<PathBuf> = BTreeSet::new();
        let mut audit = LockAudit::default();
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => return,
            }
            let round = {
                let (cfg, loc, dir) = (self.s3.clone(), location.clone(), self.store_dir.clone());
                let (policy, skip) = (self.policy.clone(), done.clone());
                tokio::task::spawn_blocking(move || upload(&cfg, loc, &dir, &policy, &skip))
                    .await
                    .unwrap_or_else(|e| Round {
                        uploaded: Vec::new(),
                        empty: Vec::new(),
                        failure: Some(format!("the upload task failed: {e}")),
                    })
            };
            done.extend(round.empty);
            let mut failure = round.failure;
            if !round.uploaded.is_empty() {
                let now = jiff::Timestamp::now().as_millisecond();
                let records: Vec<(String, Vec<u8>)> = round
                    .uploaded
                    .iter()
                    .map(|(_, s)| {
                        let r = SegmentRecord {
                            format: FORMAT.into(),
                            node: self.settings.node_id.clone(),
                            bucket: location.bucket.clone(),
                            prefix: location.prefix.clone(),
                            segment: s.clone(),
                            uploaded_ms: now,
                        };
                        (r.key(), serde_json::to_vec(&r).unwrap_or_default())
                    })
                    .collect();
                let topic = self.settings.segments_topic();
                let out: Vec<Outgoing<'_>> = records
                    .iter()
                    .map(|(k, v)| Outgoing {
                        topic: &topic,
                        partition: Some(0),
                        key: k.as_bytes(),
                        payload: v,
                    })
                    .collect();
                for (_, s) in &round.uploaded {
                    audit.add(&s.object, s.retain_until_ms);
                }
                match self.producer.send_all(&out).await {
                    Ok(()) => {
                        for (name, s) in &round.uploaded {
                            done.insert(PathBuf::from(name));
                            self.metrics
                                .add("ward_cluster_segments_uploaded_total", &[], 1);
                            tracing::info!(node = %self.settings.node_id, object = %s.object,
                                first = s.first, last = s.last, written = s.written,
                                "sealed segment uploaded and recorded");
                        }
                    }
                    Err(e) => failure = Some(format!("recording in {topic}: {e}")),
                }
            }
            if let Some(batch) = audit.next_batch() {
                let (cfg, loc) = (self.s3.clone(), location.clone());
                let checked = tokio::task::spawn_blocking(move || read_locks(&cfg, loc, &batch))
                    .await
                    .unwrap_or_default();
                self.metrics.add(
                    "ward_cluster_segments_lock_checks_total",
                    &[],
                    checked.len() as u64,
                );
                for (object, short) in checked {
                    if let Some(why) = &short
                        && !audit.short.contains(&object)
                    {
                        tracing::error!(node = %self.settings.node_id, object = %object, reason = %why,
                            "a sealed segment's Object Lock no longer covers its retention: the bucket could let it be deleted early");
                    }
                    match short {
                        Some(_) => audit.short.insert(object),
                        None => audit.short.remove(&object),
                    };
                }
                self.metrics.set(
                    "ward_cluster_segments_locks_short",
                    &[],
                    audit.short.len() as f64,
                );
            }
            let (lag, age) = lag(&self.store_dir, &done);
            self.metrics
                .set("ward_cluster_segments_upload_lag_segments", &[], lag as f64);
            self.metrics
                .set("ward_cluster_segments_upload_lag_seconds", &[], age as f64);
            *self.owned.segments_lag.lock() = Some((lag, age));
            wait = match failure {
                Some(why) => {
                    self.metrics
                        .add("ward_cluster_segments_upload_failures_total", &[], 1);
                    let next = (wait * 2).clamp(seg.interval, MAX_BACKOFF.max(seg.interval));
                    tracing::warn!(node = %self.settings.node_id, reason = %why,
                        retry_in = ?next, "uploading sealed segments failed");
                    next
                }
                None => seg.interval,
            };
        }
    }
}

/// Segments whose Object Lock is read back, per upload round.
const LOCK_CHECKS_PER_ROUND: usize = 64;

/// This node's uploaded segments (archive name -> retention end in ms),
/// read back a few per round in turn, and those found short.
#[derive(Default)]
struct LockAudit {
    segments: BTreeMap<String, i64>,
    /// The last segment read back; the next round goes on after it.
    after: Option<String>,
    short: BTreeSet<String>,
}

impl LockAudit {
    fn add(&mut self, object: &str, until_ms: i64) {
        self.segments.insert(object.to_owned(), until_ms);
    }

    /// The next segments to read back, in turn; `None` when there are none.
    fn next_batch(&mut self) -> Option<Vec<(String, i64)>> {
        use std::ops::Bound::{Excluded, Unbounded};
        if self.segments.is_empty() {
            return None;
        }
        let n = self.segments.len().min(LOCK_CHECKS_PER_ROUND);
        let from = match &self.after {
            Some(a) => self.segments.range::<String, _>((Excluded(a), Unbounded)),
            None => self.segments.range::<String, _>(..),
        };
        let batch: Vec<(String, i64)> = from
            .chain(self.segments.iter())
            .take(n)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        self.after = batch.last().map(|(k, _)| k.clone());
        Some(batch)
    }
}

/// Reads back the lock of each segment (`object` relative to the node's
/// place): `Some(reason)` when it does not cover the segment's retention.
/// Segments that could not be read are left out (checked again later); a
/// bucket without Object Lock is not checked.
fn read_locks(
    cfg: &S3Config,
    location: Location,
    batch: &[(String, i64)],
) -> Vec<(String, Option<String>)> {
    let Ok(s3) = S3::new(cfg, location, &|k| std::env::var(k).ok()) else {
        return Vec::new();
    };
    if !s3.object_lock_enabled().unwrap_or(false) {
        return Vec::new();
    }
    batch
        .iter()
        .filter_map(|(object, until)| {
            let lock = s3.retention(&s3.key(object)).ok()?;
            let short = S3::lock_short(lock, *until);
            Some((object.clone(), short))
        })
        .collect()
}

/// Uploads the sealed segments not in `skip` (by file path), oldest
/// first, stopping at the first failure.
fn upload(
    cfg: &S3Config,
    location: Location,
    store_dir: &std::path::Path,
    policy: &ward_store::RetentionPolicy,
    skip: &BTreeSet<PathBuf>,
) -> Round {
    let mut round = Round {
        uploaded: Vec::new(),
        empty: Vec::new(),
        failure: None,
    };
    let pending: Vec<PathBuf> = ward_store::sealed_segments(store_dir)
        .into_iter()
        .filter(|p| !skip.contains(p))
        .collect();
    if pending.is_empty() {
        return round;
    }
    let s3 = match S3::new(cfg, location.clone(), &|k| std::env::var(k).ok()) {
        Ok(s3) => s3,
        Err(e) => {
            round.failure = Some(e.to_string());
            return round;
        }
    };
    let locked = match s3.object_lock_enabled() {
        Ok(l) => l,
        Err(e) => {
            round.failure = Some(e.to_string());
            return round;
        }
    };
    if !locked && !cfg.allow_without_object_lock {
        round.failure = Some(format!(
            "the bucket {} does not have Object Lock enabled: use a bucket created with Object \
             Lock, or set archive.s3.allow_without_object_lock",
            location.bucket
        ));
        return round;
    }
    let now = jiff::Timestamp::now().as_millisecond();
    let mut target = Target {
        s3: &s3,
        lock: locked,
        min_until_ms: now + 86_400_000,
    };
    for p in pending {
        match ward_store::archive_segment(store_dir, &p, &mut target, policy, now) {
            Ok(Some(s)) => round.uploaded.push((p.to_string_lossy().into_owned(), s)),
            Ok(None) => round.empty.push(p),
            // Removed by retention meanwhile: nothing left to upload.
            Err(ward_store::StoreError::Io { .. }) if !p.exists() => {}
            Err(e) => {
                round.failure = Some(format!("{}: {e}", p.display()));
                break;
            }
        }
    }
    round
}

/// Sealed segments not yet uploaded, and the age (s) of the oldest.
fn lag(store_dir: &std::path::Path, done: &BTreeSet<PathBuf>) -> (u64, i64) {
    let now = std::time::SystemTime::now();
    let mut n = 0u64;
    let mut age = 0i64;
    for p in ward_store::sealed_segments(store_dir) {
        if done.contains(&p) {
            continue;
        }
        n += 1;
        let sealed = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
        if let Some(d) = sealed.and_then(|t| now.duration_since(t).ok()) {
            age = age.max(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        }
    }
    (n, age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_are_read_back_in_turn_each_once_per_turn() {
        let mut audit = LockAudit::default();
        assert!(audit.next_batch().is_none());
        for i in 0..150 {
            audit.add(&format!("segments/{i:03}.seg"), i);
        }
        audit.add("segments/007.seg", 7_000);
        let mut seen: Vec<String> = Vec::new();
        for _ in 0..3 {
            let batch = audit.next_batch().unwrap();
            assert_eq!(batch.len(), LOCK_CHECKS_PER_ROUND);
            let distinct: BTreeSet<&String> = batch.iter().map(|(k, _)| k).collect();
            assert_eq!(distinct.len(), batch.len());
            seen.extend(batch.into_iter().map(|(k, _)| k));
        }
        // 192 reads over 150 segments: every one once, then the first 42
        // again, in order.
        let first: BTreeSet<&String> = seen[..150].iter().collect();
        assert_eq!(first.len(), 150);
        assert_eq!(seen[150], "segments/000.seg");
        assert_eq!(seen[191], "segments/041.seg");
        assert_eq!(audit.segments["segments/007.seg"], 7_000);
        let mut few = LockAudit::default();
        few.add("a", 1);
        few.add("b", 2);
        assert_eq!(few.next_batch().unwrap().len(), 2);
        assert_eq!(few.next_batch().unwrap().len(), 2);
    }

    fn record() -> SegmentRecord {
        SegmentRecord {
            format: FORMAT.into(),
            node: "a".into(),
            bucket: "ward-segs".into(),
            prefix: "c1/a".into(),
            segment: ward_store::ArchivedSegment {
                object: "segments/2026/12/07/00000000000000000000-00000000000000000009.seg".into(),
                signature: "segments/2026/12/07/00000000000000000000-00000000000000000009.seg.sig"
                    .into(),
                checkpoint: "checkpoints/00000000000000000010.cp".into(),
                checkpoint_note: String::new(),
                key: "key/verifier.pub".into(),
                first: 0,
                last: 9,
                min_time_ms: 1,
                max_time_ms: 2,
                created_ms: 0,
                sealed_ms: 0,
                bytes: 10,
                sha256: String::new(),
                retain_until_ms: 0,
                written: 4,
            },
            uploaded_ms: 0,
        }
    }

    #[test]
    fn a_record_must_name_its_own_node_key_and_layout() {
        let loc = Location::parse("s3://ward-segs/c1").unwrap();
        let r = record();
        assert_eq!(r.key(), "a/00000000000000000000");
        assert_eq!(r.check(r.key().as_bytes(), &loc), Ok(()));
        assert!(r.check(b"b/00000000000000000000", &loc).is_err());
        let mut other = r.clone();
        other.prefix = "c1/b".into();
        assert!(other.check(r.key().as_bytes(), &loc).is_err());
        let mut escape = r.clone();
        escape.segment.object = "segments/../../b/x.seg".into();
        escape.segment.signature = "segments/../../b/x.seg.sig".into();
        assert!(escape.check(r.key().as_bytes(), &loc).is_err());
        let c = Catalog::default();
        assert!(c.apply(b"a/x", Some(b"{}"), &loc).is_err());
        let bytes = serde_json::to_vec(&r).unwrap();
        c.apply(r.key().as_bytes(), Some(&bytes), &loc).unwrap();
        assert_eq!(c.all().len(), 1);
        c.apply(r.key().as_bytes(), None, &loc).unwrap();
        assert!(c.all().is_empty());
    }
}
