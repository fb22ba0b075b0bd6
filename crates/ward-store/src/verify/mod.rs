//! `verify`: recompute the whole tree from the records on disk (store or
//! archive directory), check every record checksum, every deletion record
//! and every signed checkpoint, and say precisely what is wrong.
//!
//! Every record carries its own offset, so a record that is missing or out
//! of place is named by offset, not only by a root mismatch. Changes that
//! keep checksums valid are found by the Merkle summary in the segment
//! footer (down to one record near segment edges, or 256 records inside)
//! and by the signed roots (between two checkpoints).

use crate::checkpoint::{Checkpoint, VerifierKey};
use crate::deletion;
use crate::error::StoreError;
use crate::format::sealed::{CHUNK, MerkleSummary};
use crate::format::{FileHeader, HEADER_LEN, SEG_MAGIC, WAL_MAGIC};
use crate::merkle::{CompactRange, Hash};
use segment::{verify_sealed, verify_wal};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod segment;

/// Kinds of problems `verify` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Record bytes differ from what was written (checksum or hash).
    Changed,
    /// Records are missing from inside a segment.
    Deleted,
    /// Records are out of order.
    Reordered,
    /// A segment file was cut short.
    Truncated,
    /// A whole range of offsets has no segment and no deletion record.
    SegmentMissing,
    /// A file cannot be read as what its name says.
    Unreadable,
    /// A checkpoint's signature or format is bad.
    CheckpointInvalid,
    /// A checkpoint's root differs from the recomputed one.
    CheckpointMismatch,
    /// A checkpoint covers records that are not there.
    CheckpointBeyondLog,
    /// A checkpoint cannot be checked because records before it are unreadable.
    CheckpointUnverifiable,
    /// A deletion record's signature or hash list is bad.
    DeletionInvalid,
    /// An incomplete last frame of the newest write-ahead segment (a crash
    /// during a write; start-up cuts it). A warning.
    TornTail,
    /// A sealed segment's index differs from the signed one, or from what
    /// its records say (time bounds, categories, filters). Start-up does
    /// not use such an index; it rebuilds it from the records.
    IndexMismatch,
    /// A sealed segment's index has no signature (sealed by an older
    /// version, or the signature file was removed). A warning: start-up
    /// rebuilds the index from the records.
    IndexUnsigned,
    /// Damage in a write-ahead file that an operator acknowledged with a
    /// signed record (`damage/*.ack`) whose quarantine file is unchanged.
    /// A warning.
    DamageAcknowledged,
    /// A checkpoint signed before acknowledged damage, which therefore no
    /// longer matches; a later checkpoint verifies past the damage. A
    /// warning.
    CheckpointBeforeDamage,
    /// A damage acknowledgement that is not validly signed by this store.
    AcknowledgementInvalid,
    /// An archived segment in object storage that is not locked (Object
    /// Lock, COMPLIANCE mode) until its retention ends: the lock was
    /// shortened or removed, so the bucket could let it be deleted early.
    RetentionShortened,
}

/// One problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// The file, relative to the verified directory.
    pub file: String,
    /// First affected offset.
    pub first_offset: Option<u64>,
    /// Last affected offset.
    pub last_offset: Option<u64>,
    /// Byte position in the file.
    pub byte: Option<u64>,
    /// Explanation.
    pub detail: String,
}

/// The outcome of `verify`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The directory.
    pub dir: PathBuf,
    /// Segment files read.
    pub segments: usize,
    /// Records read and hashed.
    pub records: u64,
    /// Bytes of segment files read (compressed, as stored).
    pub bytes: u64,
    /// Bytes of the records read and hashed (the uncompressed leaf data).
    pub record_bytes: u64,
    /// Valid deletion records.
    pub deletions: usize,
    /// Records covered by valid deletion records.
    pub deleted_records: u64,
    /// The lawful deletions: `(first, last, reason, time_ms)`.
    pub deletion_records: Vec<(u64, u64, String, i64)>,
    /// Checkpoint files.
    pub checkpoints: usize,
    /// Checkpoints whose root matched.
    pub checkpoints_verified: usize,
    /// Leaves in the recomputed tree.
    pub tree_size: u64,
    /// Its root, hex.
    pub root: String,
    /// Records after the largest validly signed checkpoint: not yet covered
    /// by a signature (a live store signs them within its checkpoint
    /// interval, and at a clean stop).
    #[serde(default)]
    pub uncovered_records: u64,
    /// Validly signed checkpoints read from the witness directory.
    #[serde(default)]
    pub witness_checkpoints: usize,
    /// Problems; empty means the store is intact.
    pub problems: Vec<Problem>,
    /// Warnings (torn tail of a live or crashed store).
    pub warnings: Vec<Problem>,
}

impl VerifyReport {
    /// No problems.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Calls `f` for every file under `dir`, recursively.
pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

/// Verifies a store or archive directory with the key in `dir/key/verifier.pub`.
pub fn verify(dir: &Path) -> Result<VerifyReport, StoreError> {
    let path = dir.join("key").join("verifier.pub");
    let text = std::fs::read_to_string(&path).map_err(|e| StoreError::io("read", &path, e))?;
    verify_with_key(dir, &text)
}

enum Source {
    Sealed(PathBuf),
    Wal(PathBuf, bool),
    Deleted(deletion::Deletion),
}

pub(super) struct Ctx<'a> {
    dir: &'a Path,
    /// Threads for block checking and hashing.
    threads: usize,
    report: VerifyReport,
    tree: CompactRange,
    /// Tree cannot be recomputed past this offset.
    broken_at: Option<u64>,
    checkpoints: Vec<(u64, Checkpoint, String)>,
    next_cp: usize,
    last_good_cp: u64,
    /// The store's verifier key (checkpoints, deletions, index signatures).
    vk: VerifierKey,
    /// Validly signed damage acknowledgements.
    acks: Vec<(PathBuf, crate::damage::Acknowledgement)>,
    /// Offsets `first..end` of acknowledged damage.
    acked: Vec<(u64, u64)>,
    /// Mismatches of checkpoints signed before acknowledged damage: warnings
    /// if a later checkpoint verifies past the damage, else problems.
    before_damage: Vec<Problem>,
}

impl Ctx<'_> {
    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(self.dir).unwrap_or(p).display().to_string()
    }

    fn problem(
        &mut self,
        kind: ProblemKind,
        file: &Path,
        range: Option<(u64, u64)>,
        byte: Option<u64>,
        detail: String,
    ) {
        let p = Problem {
            kind,
            file: self.rel(file),
            first_offset: range.map(|r| r.0),
            last_offset: range.map(|r| r.1),
            byte,
            detail,
        };
        if matches!(
            kind,
            ProblemKind::TornTail
                | ProblemKind::IndexUnsigned
                | ProblemKind::DamageAcknowledged
                | ProblemKind::CheckpointBeforeDamage
        ) {
            self.report.warnings.push(p);
        } else {
            self.report.problems.push(p);
        }
    }

    fn push_leaf(&mut self, h: Hash) {
        self.tree.push(h);
        self.check_checkpoints();
    }

    /// Adds a segment's leaves to the tree. With the segment's recomputed
    /// Merkle summary, each complete aligned chunk goes in as one subtree
    /// (its root is already known, so it is not hashed twice), except a
    /// chunk inside which a checkpoint's size falls: that one goes leaf by
    /// leaf so the checkpoint is checked at exactly its size.
    fn push_leaves(&mut self, first: u64, leaves: &[Hash], summary: Option<&MerkleSummary>) {
        if self.broken_at.is_some() {
            return;
        }
        let chunk = CHUNK as usize;
        let aligned = summary.filter(|s| {
            self.tree.size() == first
                && s.head.len() + s.chunks.len() * chunk + s.tail.len() == leaves.len()
        });
        let Some(s) = aligned else {
            for h in leaves {
                self.push_leaf(*h);
            }
            return;
        };
        let head = s.head.len();
        for h in &leaves[..head] {
            self.push_leaf(*h);
        }
        for (i, root) in s.chunks.iter().enumerate() {
            let size = self.tree.size();
            let inside = self
                .checkpoints
                .get(self.next_cp)
                .is_some_and(|c| c.0 < size + CHUNK);
            if inside {
                for h in &leaves[head + i * chunk..head + (i + 1) * chunk] {
                    self.push_leaf(*h);
                }
            } else {
                self.tree.push_subtree(CHUNK.trailing_zeros(), *root);
                self.check_checkpoints();
            }
        }
        for h in &leaves[head + s.chunks.len() * chunk..] {
            self.push_leaf(*h);
        }
    }

    fn check_checkpoints(&mut self) {
        while let Some((size, cp, file)) = self.checkpoints.get(self.next_cp) {
            if *size > self.tree.size() {
                break;
            }
            let (size, root, file) = (*size, cp.root.clone(), file.clone());
            self.next_cp += 1;
            if let Some(at) = self.broken_at {
                self.report.problems.push(Problem {
                    kind: ProblemKind::CheckpointUnverifiable,
                    file,
                    first_offset: Some(at),
                    last_offset: Some(size.saturating_sub(1)),
                    byte: None,
                    detail: format!(
                        "cannot be checked: records from offset {at} on could not be read"
                    ),
                });
                continue;
            }
            if hex::encode(self.tree.root()) == root {
                self.report.checkpoints_verified += 1;
                self.last_good_cp = size;
            } else if let Some(&(a, b)) = self
                .acked
                .iter()
                .find(|(a, _)| self.last_good_cp <= *a && *a < size)
            {
                self.before_damage.push(Problem {
                    kind: ProblemKind::CheckpointMismatch,
                    file,
                    first_offset: Some(a),
                    last_offset: Some(b.saturating_sub(1)),
                    byte: None,
                    detail: format!(
                        "signed for {size} records before the acknowledged damage at offsets {a}..{b}, so it no longer matches"
                    ),
                });
            } else {
                let first = self.last_good_cp;
                self.report.problems.push(Problem {
                    kind: ProblemKind::CheckpointMismatch,
                    file,
                    first_offset: Some(first),
                    last_offset: Some(size.saturating_sub(1)),
                    byte: None,
                    detail: format!(
                        "signed root for {size} records differs from the recomputed one: records in offsets {first}..{} were changed, removed, added or reordered after signing",
                        size.saturating_sub(1)
                    ),
                });
            }
        }
    }

    fn break_tree(&mut self, at: u64) {
        if self.broken_at.is_none() {
            self.broken_at = Some(at);
        }
    }
}

/// Verifies a store or archive directory with the given verifier key, on
/// every core.
pub fn verify_with_key(dir: &Path, public_key: &str) -> Result<VerifyReport, StoreError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    verify_with_threads(dir, public_key, threads)
}

/// [`verify_with_key`] on at most `threads` threads (at least one): the
/// same checks and the same report, for a caller that must leave cores
/// free or wants the single-core figure.
pub fn verify_with_threads(
    dir: &Path,
    public_key: &str,
    threads: usize,
) -> Result<VerifyReport, StoreError> {
    verify_with_witness(dir, public_key, threads, None)
}

/// [`verify_with_threads`], also checking the checkpoints kept by a
/// witness ([`crate::witness`]) in the directory `witness`: each must be
/// signed by the store's key and match the recomputed tree at its size, so
/// a store cut back below a witnessed size, or changed and re-signed, fails
/// naming the witnessed file.
pub fn verify_with_witness(
    dir: &Path,
    public_key: &str,
    threads: usize,
    witness: Option<&Path>,
) -> Result<VerifyReport, StoreError> {
    let vk = parse_key(dir, public_key)?;
    let mut ctx = Ctx::new(dir, threads, vk.clone());
    load_checkpoints(&mut ctx, &vk);
    if let Some(w) = witness {
        load_witness(&mut ctx, &vk, w)?;
    }
    load_acknowledgements(&mut ctx, &vk);
    // A checkpoint of the empty log (a store stopped before its first
    // event) is checked before any leaf arrives.
    ctx.check_checkpoints();
    let mut sources = list_segments(&mut ctx);
    add_deletions(&mut ctx, &vk, &mut sources);
    let expected = check_sources(&mut ctx, sources)?;
    report_unreached_checkpoints(&mut ctx, expected);
    settle_before_damage(&mut ctx);
    ctx.report.tree_size = ctx.tree.size();
    ctx.report.root = hex::encode(ctx.tree.root());
    ctx.report.uncovered_records = uncovered(&ctx.checkpoints, expected);
    Ok(ctx.report)
}

/// Records of a log of `records` after the largest signed checkpoint.
fn uncovered(checkpoints: &[(u64, Checkpoint, String)], records: u64) -> u64 {
    let signed = checkpoints.iter().map(|c| c.0).max().unwrap_or(0);
    records.saturating_sub(signed)
}

/// The verifier key, or an error naming where it should have come from.
fn parse_key(dir: &Path, public_key: &str) -> Result<VerifierKey, StoreError> {
    VerifierKey::parse(public_key).map_err(|e| StoreError::Key {
        path: dir.join("key/verifier.pub"),
        reason: e.to_string(),
    })
}

impl<'a> Ctx<'a> {
    fn new(dir: &'a Path, threads: usize, vk: VerifierKey) -> Ctx<'a> {
        Ctx {
            dir,
            threads: threads.max(1),
            report: VerifyReport {
                dir: dir.to_owned(),
                ..VerifyReport::default()
            },
            tree: CompactRange::default(),
            broken_at: None,
            checkpoints: Vec::new(),
            next_cp: 0,
            last_good_cp: 0,
            vk,
            acks: Vec::new(),
            acked: Vec::new(),
            before_damage: Vec::new(),
        }
    }
}

/// Reads every checkpoint file; keeps the validly signed ones (by size) to
/// be checked as the tree grows, and reports the others.
fn load_checkpoints(ctx: &mut Ctx<'_>, vk: &VerifierKey) {
    let mut cp_files = Vec::new();
    walk(&ctx.dir.join("checkpoints"), &mut |p| {
        if p.extension().is_some_and(|e| e == "cp") {
            cp_files.push(p.to_owned());
        }
    });
    ctx.report.checkpoints = cp_files.len();
    for p in cp_files {
        let named = p
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok());
        let parsed = std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|note| vk.open_checkpoint(&note).map_err(|e| e.to_string()));
        let detail = match parsed {
            Ok(cp) if Some(cp.size) == named || named.is_none() => {
                let f = ctx.rel(&p);
                ctx.checkpoints.push((cp.size, cp, f));
                continue;
            }
            Ok(cp) => format!(
                "validly signed checkpoint for size {} stored under another size's name",
                cp.size
            ),
            Err(e) => format!("not a valid checkpoint signed by this store's key: {e}"),
        };
        ctx.problem(ProblemKind::CheckpointInvalid, &p, None, None, detail);
    }
    ctx.checkpoints.sort_by_key(|c| c.0);
}

/// Reads the damage acknowledgements; a file not validly signed by this
/// store is a problem.
fn load_acknowledgements(ctx: &mut Ctx<'_>, vk: &VerifierKey) {
    let (good, bad) = crate::damage::load_acknowledgements(ctx.dir, vk);
    ctx.acks = good;
    for (p, why) in bad {
        ctx.problem(
            ProblemKind::AcknowledgementInvalid,
            &p,
            None,
            None,
            format!("not a damage acknowledgement signed by this store's key: {why}"),
        );
    }
}

/// Checkpoints signed before acknowledged damage are warnings when a later
/// checkpoint verifies past all of it (that one binds every record before
/// it, the damage placeholders included); otherwise they stay problems.
fn settle_before_damage(ctx: &mut Ctx<'_>) {
    let end = ctx.acked.iter().map(|r| r.1).max().unwrap_or(0);
    let settled = ctx.last_good_cp >= end;
    for mut p in std::mem::take(&mut ctx.before_damage) {
        if settled {
            p.kind = ProblemKind::CheckpointBeforeDamage;
            ctx.report.warnings.push(p);
        } else {
            p.detail
                .push_str("; and no checkpoint signed after the damage verifies");
            ctx.report.problems.push(p);
        }
    }
}

/// Adds the witness's validly signed checkpoints to those checked against
/// the tree (one the data directory holds identically is checked once) and
/// reports the others.
fn load_witness(ctx: &mut Ctx<'_>, vk: &VerifierKey, dir: &Path) -> Result<(), StoreError> {
    for (p, text) in crate::witness::read_dir(dir)? {
        let parsed = text.and_then(|note| vk.open_checkpoint(&note).map_err(|e| e.to_string()));
        match parsed {
            Ok(cp) => {
                ctx.report.witness_checkpoints += 1;
                let held = ctx
                    .checkpoints
                    .iter()
                    .any(|(size, c, _)| *size == cp.size && c.root == cp.root);
                if !held {
                    ctx.checkpoints
                        .push((cp.size, cp, format!("witness:{}", p.display())));
                }
            }
            Err(e) => ctx.problem(
                ProblemKind::CheckpointInvalid,
                &p,
                None,
                None,
                format!("witnessed note is not a valid checkpoint signed by this store's key: {e}"),
            ),
        }
    }
    ctx.checkpoints.sort_by_key(|c| c.0);
    Ok(())
}

/// Every segment file whose header reads, by its first offset; the newest
/// write-ahead file is marked (its incomplete end is a torn tail, not a
/// truncation).
fn list_segments(ctx: &mut Ctx<'_>) -> Vec<(u64, Source)> {
    let mut sources: Vec<(u64, Source)> = Vec::new();
    let mut seg_files = Vec::new();
    walk(&ctx.dir.join("segments"), &mut |p| {
        seg_files.push(p.to_owned())
    });
    let mut newest_wal: Option<u64> = None;
    for p in seg_files {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "seg" && ext != "wal" {
            continue;
        }
        let mut head = [0u8; HEADER_LEN];
        let read = std::fs::File::open(&p).and_then(|f| {
            use std::os::unix::fs::FileExt;
            f.read_exact_at(&mut head, 0)
        });
        let magic = if ext == "seg" { SEG_MAGIC } else { WAL_MAGIC };
        match read
            .map_err(|e| e.to_string())
            .and_then(|()| FileHeader::decode(&head, magic, &p).map_err(|e| e.to_string()))
        {
            Ok(h) if ext == "wal" => {
                newest_wal = newest_wal.max(Some(h.first_offset));
                sources.push((h.first_offset, Source::Wal(p, false)));
            }
            Ok(h) => sources.push((h.first_offset, Source::Sealed(p))),
            Err(e) => ctx.problem(
                ProblemKind::Unreadable,
                &p,
                None,
                Some(0),
                format!("segment header unreadable: {e}"),
            ),
        }
    }
    for s in &mut sources {
        if let (first, Source::Wal(_, last)) = s {
            *last = Some(*first) == newest_wal;
        }
    }
    sources
}

/// Checks every deletion record; a valid one stands for its range unless a
/// segment starting there still exists (deleted after the record was
/// written, or not at all).
fn add_deletions(ctx: &mut Ctx<'_>, vk: &VerifierKey, sources: &mut Vec<(u64, Source)>) {
    let seg_starts: std::collections::BTreeSet<u64> = sources.iter().map(|s| s.0).collect();
    for p in deletion::list(&ctx.dir.join("deletions")) {
        match deletion::load(&p, vk) {
            Ok(d) => {
                ctx.report.deletions += 1;
                ctx.report.deleted_records += d.last - d.first + 1;
                ctx.report
                    .deletion_records
                    .push((d.first, d.last, d.reason.clone(), d.time_ms));
                if !seg_starts.contains(&d.first) {
                    sources.push((d.first, Source::Deleted(d)));
                }
            }
            Err(e) => ctx.problem(
                ProblemKind::DeletionInvalid,
                &p,
                None,
                None,
                format!("deletion record not accepted: {e}"),
            ),
        }
    }
}

/// Checks the pieces of the log in offset order, reporting holes and
/// overlaps between them; returns the offset after the last one.
fn check_sources(ctx: &mut Ctx<'_>, mut sources: Vec<(u64, Source)>) -> Result<u64, StoreError> {
    sources.sort_by_key(|s| s.0);
    let starts: Vec<u64> = sources.iter().map(|s| s.0).collect();
    let mut expected = 0u64;
    for (i, (first, src)) in sources.into_iter().enumerate() {
        let file = match &src {
            Source::Sealed(p) | Source::Wal(p, _) => p.clone(),
            Source::Deleted(d) => d.path.clone(),
        };
        if first > expected {
            ctx.problem(
                ProblemKind::SegmentMissing,
                &ctx.dir.join("segments"),
                Some((expected, first - 1)),
                None,
                format!("offsets {expected}..={} have no segment and no deletion record (a segment was deleted)", first - 1),
            );
            ctx.break_tree(expected);
        } else if first < expected {
            ctx.problem(ProblemKind::Reordered, &file, Some((first, expected - 1)), None, format!(
                "segment starts at offset {first} but offsets up to {} are already covered (overlapping or duplicated segment)",
                expected - 1
            ));
            continue;
        }
        expected = match src {
            Source::Deleted(d) => {
                for h in &d.leaves {
                    ctx.push_leaf(*h);
                }
                d.last + 1
            }
            Source::Sealed(p) => verify_sealed(ctx, &p, first, starts.get(i + 1).copied())?,
            Source::Wal(p, is_last) => verify_wal(ctx, &p, first, is_last)?,
        };
    }
    Ok(expected)
}

/// Reports every checkpoint the recomputed tree never reached: records
/// removed after signing, the log cut short, or unreadable records before.
fn report_unreached_checkpoints(ctx: &mut Ctx<'_>, expected: u64) {
    let remaining: Vec<(u64, String)> = ctx
        .checkpoints
        .iter()
        .skip(ctx.next_cp)
        .map(|(size, _, f)| (*size, f.clone()))
        .collect();
    let present = ctx.tree.size();
    for (size, file) in remaining {
        let (kind, first, detail) = if ctx.broken_at.is_some() {
            (
                ProblemKind::CheckpointUnverifiable,
                expected.min(size),
                format!("checkpoint covers {size} records; records before it could not be read"),
            )
        } else if size <= expected {
            (
                ProblemKind::CheckpointMismatch,
                ctx.last_good_cp,
                format!(
                    "checkpoint covers {size} records but only {present} are present: records in offsets {}..{} were removed after signing",
                    ctx.last_good_cp,
                    size.saturating_sub(1)
                ),
            )
        } else {
            (
                ProblemKind::CheckpointBeyondLog,
                expected,
                format!(
                    "checkpoint covers {size} records but the log ends at {expected}: records {expected}..={} are missing (truncated or deleted)",
                    size - 1
                ),
            )
        };
        ctx.report.problems.push(Problem {
            kind,
            file,
            first_offset: Some(first),
            last_offset: Some(size.saturating_sub(1)),
            byte: None,
            detail,
        });
    }
}

#[cfg(test)]
mod tests;
