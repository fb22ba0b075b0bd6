//! `archive`: copy sealed segments with their checkpoints and deletion
//! records to a directory laid out for write-once object storage (S3 Object
//! Lock): every object is written once under a name that never changes
//! meaning, and never overwritten.
//!
//! ```text
//! key/verifier.pub
//! segments/<yyyy>/<mm>/<dd>/<first:020>-<last:020>.seg   (date: segment creation, UTC)
//! checkpoints/<size:020>.cp                              (those covering archived records only)
//! deletions/<first:020>-<last:020>.del, .leaves
//! manifests/<end:020>.json                               (every object with its SHA-256 and size)
//! ```
//!
//! `verify` works on this directory as on a store.

use crate::disk;
use crate::error::StoreError;
use crate::format::sealed::read_index;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What `archive` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveReport {
    /// Destination.
    pub dest: PathBuf,
    /// Objects written by this run.
    pub written: usize,
    /// Objects already present with the same content.
    pub already_present: usize,
    /// Sealed segments in the archive.
    pub segments: usize,
    /// Checkpoints in the archive.
    pub checkpoints: usize,
    /// Deletion records in the archive.
    pub deletions: usize,
    /// Bytes written.
    pub bytes_written: u64,
    /// Offsets below this are archived (or lawfully deleted).
    pub archived_end: u64,
    /// The manifest written.
    pub manifest: PathBuf,
}

/// One object in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Path relative to the archive root.
    pub path: String,
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// The archive manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format marker.
    pub format: String,
    /// Offsets below this are covered.
    pub archived_end: u64,
    /// The verifier key.
    pub public_key: String,
    /// Objects.
    pub objects: Vec<ManifestEntry>,
}

/// Where `archive` writes: a directory ([`DirTarget`]) or an object store
/// the application plugs in (Ward's S3 client). Every object is written
/// once and never replaced.
pub trait ArchiveTarget {
    /// Stores `bytes` under `rel` (a `/`-separated name from the module
    /// docs), to be kept at least until `retain_until_ms`. Returns `true`
    /// when written, `false` when the same content was already there; a
    /// different content already there is [`StoreError::ArchiveConflict`].
    fn put(&mut self, rel: &str, bytes: &[u8], retain_until_ms: i64) -> Result<bool, StoreError>;
    /// For reports: where it writes.
    fn describe(&self) -> String;
}

/// Writes the archive into a directory (files read-only, fsynced, renamed
/// into place).
#[derive(Debug, Clone)]
pub struct DirTarget {
    dest: PathBuf,
}

impl DirTarget {
    /// A target writing under `dest`.
    pub fn new(dest: impl Into<PathBuf>) -> DirTarget {
        DirTarget { dest: dest.into() }
    }
}

impl ArchiveTarget for DirTarget {
    fn put(&mut self, rel: &str, bytes: &[u8], _retain_until_ms: i64) -> Result<bool, StoreError> {
        put_file(&self.dest, rel, bytes)
    }

    fn describe(&self) -> String {
        self.dest.display().to_string()
    }
}

/// Copies the sealed part of a store to the directory `dest` (see the
/// module docs).
pub fn archive(store_dir: &Path, dest: &Path) -> Result<ArchiveReport, StoreError> {
    let policy = crate::config::RetentionPolicy::default();
    let now = jiff::Timestamp::now().as_millisecond();
    archive_to(store_dir, &mut DirTarget::new(dest), &policy, now)
}

/// Copies the sealed part of a store to `target`. Each sealed segment (and
/// its index signature) is kept until its retention under `policy` ends
/// (the longest of its categories, judged on the signed index or on one
/// rebuilt from the records); the key, checkpoints, deletion records and
/// manifest until the last segment's, and at least `policy.default_days`
/// from `now_ms`.
pub fn archive_to(
    store_dir: &Path,
    target: &mut dyn ArchiveTarget,
    policy: &crate::config::RetentionPolicy,
    now_ms: i64,
) -> Result<ArchiveReport, StoreError> {
    let mut report = ArchiveReport {
        dest: PathBuf::from(target.describe()),
        ..ArchiveReport::default()
    };
    let mut objects = Vec::new();
    let key_path = store_dir.join("key/verifier.pub");
    let key = std::fs::read(&key_path).map_err(|e| StoreError::io("read", &key_path, e))?;
    let vk =
        crate::checkpoint::VerifierKey::parse(&String::from_utf8_lossy(&key)).map_err(|e| {
            StoreError::Key {
                path: key_path.clone(),
                reason: e.to_string(),
            }
        })?;

    // Everything but segments is kept as long as the longest segment.
    let mut keep_all = now_ms.saturating_add(i64::from(policy.default_days) * DAY_MS);
    let mut planned = Vec::new();
    for p in sealed_segments(store_dir) {
        let Some(plan) = plan_segment(&vk, &p, policy)? else {
            continue;
        };
        keep_all = keep_all.max(plan.expires);
        planned.push(plan);
    }
    let mut put = |rel: &str, bytes: &[u8], until: i64, report: &mut ArchiveReport| {
        objects.push(ManifestEntry {
            path: rel.to_owned(),
            sha256: hex::encode(Sha256::digest(bytes)),
            bytes: bytes.len() as u64,
        });
        if target.put(rel, bytes, until)? {
            report.written += 1;
            report.bytes_written += bytes.len() as u64;
        } else {
            report.already_present += 1;
        }
        Ok::<(), StoreError>(())
    };
    put("key/verifier.pub", &key, keep_all, &mut report)?;
    let mut end = 0u64;
    for plan in planned {
        let bytes = std::fs::read(&plan.path).map_err(|e| StoreError::io("read", &plan.path, e))?;
        put(&plan.rel, &bytes, plan.expires, &mut report)?;
        let sig = crate::index::signature::path_for(&plan.path);
        if let Ok(note) = std::fs::read(&sig) {
            put(
                &format!("{}.sig", plan.rel),
                &note,
                plan.expires,
                &mut report,
            )?;
        }
        report.segments += 1;
        end = end.max(plan.last + 1);
    }
    for p in crate::deletion::list(&store_dir.join("deletions")) {
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let leaves = p.with_extension("leaves");
        let lname = format!("{}.leaves", name.trim_end_matches(".del"));
        for (src, n) in [(&p, name.to_owned()), (&leaves, lname)] {
            let bytes = std::fs::read(src).map_err(|e| StoreError::io("read", src, e))?;
            put(&format!("deletions/{n}"), &bytes, keep_all, &mut report)?;
        }
        if let Some(last) = name
            .trim_end_matches(".del")
            .split_once('-')
            .and_then(|(_, l)| l.parse::<u64>().ok())
        {
            end = end.max(last + 1);
        }
        report.deletions += 1;
    }
    report.archived_end = end;
    let mut cps = Vec::new();
    crate::verify::walk(&store_dir.join("checkpoints"), &mut |p| {
        if p.extension().is_some_and(|e| e == "cp") {
            cps.push(p.to_owned());
        }
    });
    for p in cps {
        let Some(size) = p
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        if size == 0 || size > end {
            continue;
        }
        let bytes = std::fs::read(&p).map_err(|e| StoreError::io("read", &p, e))?;
        put(
            &format!("checkpoints/{size:020}.cp"),
            &bytes,
            keep_all,
            &mut report,
        )?;
        report.checkpoints += 1;
    }
    let manifest = Manifest {
        format: "ward-store-archive v1".into(),
        archived_end: end,
        public_key: String::from_utf8_lossy(&key).trim().to_owned(),
        objects,
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| StoreError::Failed(format!("manifest serialization: {e}")))?;
    let rel = format!("manifests/{end:020}.json");
    if target.put(&rel, &json, keep_all)? {
        report.written += 1;
        report.bytes_written += json.len() as u64;
    } else {
        report.already_present += 1;
    }
    report.manifest = PathBuf::from(format!("{}/{rel}", target.describe()));
    Ok(report)
}

const DAY_MS: i64 = 86_400_000;

/// The sealed segment files of a store, in offset order.
pub fn sealed_segments(store_dir: &Path) -> Vec<PathBuf> {
    let mut segs = Vec::new();
    crate::verify::walk(&store_dir.join("segments"), &mut |p| {
        if p.extension().is_some_and(|e| e == "seg") {
            segs.push(p.to_owned());
        }
    });
    segs.sort_by_key(|p| p.file_name().map(std::ffi::OsStr::to_owned));
    segs
}

/// A sealed segment about to be archived.
struct Plan {
    path: PathBuf,
    rel: String,
    first: u64,
    last: u64,
    created_ms: i64,
    expires: i64,
    index: crate::format::sealed::SegmentIndex,
}

/// Reads a sealed segment's header and index (the signed one, or one
/// rebuilt from its records: retention in the bucket is judged on what the
/// records say, never on an index changed on disk); `None` when empty.
fn plan_segment(
    vk: &crate::checkpoint::VerifierKey,
    p: &Path,
    policy: &crate::config::RetentionPolicy,
) -> Result<Option<Plan>, StoreError> {
    let file = std::fs::File::open(p).map_err(|e| StoreError::io("open", p, e))?;
    let (header, mut index) = read_index(&file, p)?;
    if index.count == 0 {
        return Ok(None);
    }
    let first = header.first_offset;
    if crate::index::signature::check(vk, p, first, &index)
        != crate::index::signature::Trust::Signed
    {
        index = crate::format::sealed::rebuild_index(&file, p)?;
    }
    let (expires, _) = crate::retention::expiry(&index, policy);
    let last = first + index.count - 1;
    let date = jiff::Timestamp::from_millisecond(header.created_ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::UTC);
    let rel = format!(
        "segments/{:04}/{:02}/{:02}/{first:020}-{last:020}.seg",
        date.year(),
        date.month(),
        date.day()
    );
    Ok(Some(Plan {
        path: p.to_owned(),
        rel,
        first,
        last,
        created_ms: header.created_ms,
        expires,
        index,
    }))
}

/// The archive name of the sealed segment at `path` (`segments/…`) and
/// when its retention ends under `policy` (ms): the retain-until
/// [`archive_segment`] locks it with. `None` for an empty segment. The
/// index is trusted only when signed by `key` (the public key's text);
/// otherwise it is rebuilt from the records.
///
/// # Errors
/// The key does not parse, or the segment cannot be read.
pub fn segment_retention(
    key: &str,
    path: &Path,
    policy: &crate::config::RetentionPolicy,
) -> Result<Option<(String, i64)>, StoreError> {
    let vk = crate::checkpoint::VerifierKey::parse(key).map_err(|e| StoreError::Key {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(plan_segment(&vk, path, policy)?.map(|p| (p.rel, p.expires)))
}

/// One sealed segment in an archive, as [`archive_segment`] put it there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedSegment {
    /// The segment's name in the archive (see the module docs).
    pub object: String,
    /// Its index signature's name (`<object>.sig`).
    pub signature: String,
    /// The checkpoint signed when it was sealed (`checkpoints/<size>.cp`).
    pub checkpoint: String,
    /// That checkpoint's text (a signed note: tree size, root hash, time).
    pub checkpoint_note: String,
    /// The public key's name (`key/verifier.pub`).
    pub key: String,
    /// First store offset.
    pub first: u64,
    /// Last store offset.
    pub last: u64,
    /// Earliest event time, ms.
    pub min_time_ms: i64,
    /// Latest event time, ms.
    pub max_time_ms: i64,
    /// When the segment was created, ms.
    pub created_ms: i64,
    /// When it was sealed, ms.
    pub sealed_ms: i64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the segment, hex.
    pub sha256: String,
    /// Retained (locked) until, ms.
    pub retain_until_ms: i64,
    /// Objects written now (0: all were already there).
    pub written: usize,
}

/// Puts one sealed segment of the store in `store_dir` into `target`, with
/// its index signature, the checkpoint signed at its end and the store's
/// public key, each kept until the segment's retention ends (the key at
/// least `policy.default_days` from `now_ms`); objects already there with
/// the same content are left alone. `None` for an empty segment.
pub fn archive_segment(
    store_dir: &Path,
    segment: &Path,
    target: &mut dyn ArchiveTarget,
    policy: &crate::config::RetentionPolicy,
    now_ms: i64,
) -> Result<Option<ArchivedSegment>, StoreError> {
    let key_path = store_dir.join("key/verifier.pub");
    let key = std::fs::read(&key_path).map_err(|e| StoreError::io("read", &key_path, e))?;
    let vk =
        crate::checkpoint::VerifierKey::parse(&String::from_utf8_lossy(&key)).map_err(|e| {
            StoreError::Key {
                path: key_path.clone(),
                reason: e.to_string(),
            }
        })?;
    let Some(plan) = plan_segment(&vk, segment, policy)? else {
        return Ok(None);
    };
    let mut written = 0;
    let until = plan.expires;
    let keep_key = until.max(now_ms.saturating_add(i64::from(policy.default_days) * DAY_MS));
    if target.put("key/verifier.pub", &key, keep_key)? {
        written += 1;
    }
    let bytes = std::fs::read(&plan.path).map_err(|e| StoreError::io("read", &plan.path, e))?;
    if target.put(&plan.rel, &bytes, until)? {
        written += 1;
    }
    let sig_path = crate::index::signature::path_for(&plan.path);
    let sig = std::fs::read(&sig_path).map_err(|e| StoreError::io("read", &sig_path, e))?;
    let signature = format!("{}.sig", plan.rel);
    if target.put(&signature, &sig, until)? {
        written += 1;
    }
    let size = plan.last + 1;
    let cp_path = store_dir
        .join("checkpoints")
        .join(disk::segment_name(size, "cp"));
    let note = std::fs::read(&cp_path).map_err(|e| StoreError::io("read", &cp_path, e))?;
    let checkpoint = format!("checkpoints/{size:020}.cp");
    if target.put(&checkpoint, &note, until)? {
        written += 1;
    }
    Ok(Some(ArchivedSegment {
        object: plan.rel,
        signature,
        checkpoint,
        checkpoint_note: String::from_utf8_lossy(&note).into_owned(),
        key: "key/verifier.pub".into(),
        first: plan.first,
        last: plan.last,
        min_time_ms: plan.index.min_time,
        max_time_ms: plan.index.max_time,
        created_ms: plan.created_ms,
        sealed_ms: plan.index.sealed_ms,
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        retain_until_ms: until,
        written,
    }))
}

/// Writes an object once: same content present is fine, different content
/// is a conflict (objects are immutable).
fn put_file(dest: &Path, rel: &str, bytes: &[u8]) -> Result<bool, StoreError> {
    let path = dest.join(rel);
    let sha = hex::encode(Sha256::digest(bytes));
    if path.exists() {
        let existing = std::fs::read(&path).map_err(|e| StoreError::io("read", &path, e))?;
        if hex::encode(Sha256::digest(&existing)) != sha {
            return Err(StoreError::ArchiveConflict { path });
        }
        return Ok(false);
    }
    let parent = path.parent().unwrap_or(dest);
    disk::create_dir(parent)?;
    let tmp = parent.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    crate::seal::write_synced(&tmp, bytes)?;
    disk::set_read_only(&tmp)?;
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &path, e))?;
    disk::sync_dir(parent)?;
    Ok(true)
}
