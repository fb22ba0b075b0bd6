//! Checking one segment file: every block and record checksum, the stored
//! offsets against the expected ones, the Merkle summary in the footer, and
//! salvaging what is readable from a truncated file.

use super::{Ctx, ProblemKind};
use crate::damage::{self, WalItem, damaged_leaf};
use crate::error::StoreError;
use crate::format::sealed::{
    BlockMeta, BlockReader, MerkleSummary, SegmentIndex, block_records, read_block, read_index,
};
use crate::format::{self, HEADER_LEN};
use crate::index::bloom::term_hash;
use crate::index::signature::{self, Trust};
use crate::merkle::{Hash, leaf_hash};
use std::path::Path;

/// Classifies the stored offsets of a segment against the expected ones
/// and reports missing and out-of-order records.
pub(super) fn check_sequence(
    ctx: &mut Ctx<'_>,
    file: &Path,
    first: u64,
    stored: &[u64],
    end_hint: u64,
) {
    let mut reordered = Vec::new();
    for w in stored.windows(2) {
        if w[1] <= w[0] {
            reordered.push((w[0], w[1]));
        }
    }
    if !reordered.is_empty() {
        let list: Vec<String> = reordered
            .iter()
            .take(10)
            .map(|(a, b)| format!("{b} after {a}"))
            .collect();
        let lo = reordered
            .iter()
            .map(|r| r.0.min(r.1))
            .min()
            .unwrap_or(first);
        let hi = reordered
            .iter()
            .map(|r| r.0.max(r.1))
            .max()
            .unwrap_or(first);
        ctx.problem(
            ProblemKind::Reordered,
            file,
            Some((lo, hi)),
            None,
            format!("records out of order: {}", list.join(", ")),
        );
    }
    let mut present: Vec<u64> = stored.to_vec();
    present.sort_unstable();
    present.dedup();
    let mut missing: Vec<(u64, u64)> = Vec::new();
    let mut want = first;
    for &o in present.iter().chain(std::iter::once(&end_hint)) {
        if o > want {
            missing.push((want, o - 1));
        }
        want = want.max(o + 1);
    }
    for (a, b) in missing {
        ctx.problem(
            ProblemKind::Deleted,
            file,
            Some((a, b)),
            None,
            format!("records {a}..={b} are missing from the segment"),
        );
    }
}

pub(super) fn verify_sealed(
    ctx: &mut Ctx<'_>,
    p: &Path,
    first: u64,
    next_start: Option<u64>,
) -> Result<u64, StoreError> {
    ctx.report.segments += 1;
    let file = std::fs::File::open(p).map_err(|e| StoreError::io("open", p, e))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    ctx.report.bytes += len;
    let (_, index) = match read_index(&file, p) {
        Ok(x) => x,
        Err(e) => return salvage_sealed(ctx, p, first, next_start, len, &short(&e)),
    };
    match signature::check(&ctx.vk, p, first, &index) {
        Trust::Signed => {}
        Trust::Unsigned => ctx.problem(
            ProblemKind::IndexUnsigned,
            p,
            None,
            None,
            "the index has no signature; start-up rebuilds it from the records".into(),
        ),
        Trust::Mismatch(why) => ctx.problem(
            ProblemKind::IndexMismatch,
            p,
            Some((first, (first + index.count).saturating_sub(1))),
            None,
            format!("{why}; start-up rebuilds it from the records"),
        ),
    }
    // Blocks are checked and hashed on `threads` cores, then merged in order.
    let workers = ctx.threads.min(index.blocks.len().max(1));
    let mut outcomes: Vec<Option<BlockOutcome>> = (0..index.blocks.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (file, blocks) = (&file, &index.blocks);
                scope.spawn(move || {
                    let mut reader = BlockReader::new().ok();
                    blocks
                        .iter()
                        .enumerate()
                        .skip(w)
                        .step_by(workers)
                        .map(|(i, b)| (i, check_block(file, p, b, reader.as_mut())))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(done) = h.join() {
                for (i, o) in done {
                    outcomes[i] = Some(o);
                }
            }
        }
    });
    let mut leaves = Vec::with_capacity(index.count as usize);
    let mut stored = Vec::with_capacity(index.count as usize);
    let mut unreadable = false;
    let mut seen = Seen::default();
    for (block_no, (b, outcome)) in index.blocks.iter().zip(outcomes).enumerate() {
        let Some(o) = outcome else {
            unreadable = true;
            ctx.break_tree(b.first_offset);
            break;
        };
        for (kind, range, detail) in o.problems {
            ctx.problem(kind, p, Some(range), Some(b.pos), detail);
        }
        compare_block(ctx, p, block_no, b, &o.seen);
        seen.merge(&o.seen);
        ctx.report.record_bytes += o.bytes;
        stored.extend(o.stored);
        leaves.extend(o.leaves);
        if let Some(at) = o.unreadable_at {
            unreadable = true;
            ctx.break_tree(at);
            break;
        }
    }
    ctx.report.records += leaves.len() as u64;
    let end = first + index.count;
    check_sequence(
        ctx,
        p,
        first,
        &stored,
        end.max(
            stored
                .iter()
                .copied()
                .filter(|o| *o != u64::MAX)
                .max()
                .map_or(0, |m| m + 1),
        ),
    );
    if !unreadable {
        compare_segment(ctx, p, first, &index, &seen);
    }
    if unreadable {
        ctx.push_leaves(first, &leaves, None);
    } else {
        let summary = MerkleSummary::of_parallel(first, &leaves, ctx.threads);
        compare_summary(ctx, p, first, &summary, &index.merkle);
        ctx.push_leaves(first, &leaves, Some(&summary));
    }
    Ok(end)
}

/// What checking one block found.
struct BlockOutcome {
    /// Bytes of the records hashed.
    bytes: u64,
    stored: Vec<u64>,
    leaves: Vec<Hash>,
    problems: Vec<(ProblemKind, (u64, u64), String)>,
    unreadable_at: Option<u64>,
    /// What the records say about the index.
    seen: Seen,
}

/// What the records of a block (or a segment) say that its index must
/// agree with: time bounds, latest time per category, and how many of the
/// terms the store derives itself (`event.id`, `event.category`) the
/// block's filter lacks although it claims those fields.
#[derive(Debug, Default)]
struct Seen {
    count: u64,
    min_time: i64,
    max_time: i64,
    categories: std::collections::BTreeMap<String, i64>,
    uncategorized_max_time: Option<i64>,
    filter_misses: u64,
}

impl Seen {
    fn record(&mut self, b: &BlockMeta, rec: &[u8]) {
        let Ok((time, id, category)) = format::record_keys(rec) else {
            return;
        };
        if self.count == 0 {
            (self.min_time, self.max_time) = (time, time);
        }
        self.count += 1;
        self.min_time = self.min_time.min(time);
        self.max_time = self.max_time.max(time);
        if category.is_empty() {
            let m = self.uncategorized_max_time.get_or_insert(time);
            *m = (*m).max(time);
        }
        let claims = |f: &str| b.fields.iter().any(|x| x == f);
        if claims("event.id") && !b.bloom.may_contain(term_hash("event.id", id)) {
            self.filter_misses += 1;
        }
        for c in category {
            // Most records repeat a known category: no key copy for those.
            match self.categories.get_mut(c) {
                Some(m) => *m = (*m).max(time),
                None => {
                    self.categories.insert(c.to_owned(), time);
                }
            }
            if claims("event.category") && !b.bloom.may_contain(term_hash("event.category", c)) {
                self.filter_misses += 1;
            }
        }
    }

    fn merge(&mut self, o: &Seen) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            (self.min_time, self.max_time) = (o.min_time, o.max_time);
        }
        self.count += o.count;
        self.min_time = self.min_time.min(o.min_time);
        self.max_time = self.max_time.max(o.max_time);
        for (c, t) in &o.categories {
            let m = self.categories.entry(c.clone()).or_insert(*t);
            *m = (*m).max(*t);
        }
        if let Some(t) = o.uncategorized_max_time {
            let m = self.uncategorized_max_time.get_or_insert(t);
            *m = (*m).max(t);
        }
        self.filter_misses += o.filter_misses;
    }
}

/// Reports where a block's index entry disagrees with its records.
fn compare_block(ctx: &mut Ctx<'_>, p: &Path, n: usize, b: &BlockMeta, seen: &Seen) {
    let last = (b.first_offset + u64::from(b.count)).saturating_sub(1);
    let mut wrong = Vec::new();
    if seen.count > 0 && (seen.min_time, seen.max_time) != (b.min_time, b.max_time) {
        wrong.push(format!(
            "time bounds {}..={} in the index, {}..={} in the records",
            b.min_time, b.max_time, seen.min_time, seen.max_time
        ));
    }
    if seen.filter_misses > 0 {
        wrong.push(format!(
            "its filter lacks {} terms of its own records",
            seen.filter_misses
        ));
    }
    if !wrong.is_empty() {
        ctx.problem(
            ProblemKind::IndexMismatch,
            p,
            Some((b.first_offset, last)),
            Some(b.pos),
            format!(
                "index of block {n} (records {}..={last}): {}",
                b.first_offset,
                wrong.join("; ")
            ),
        );
    }
}

/// Reports where a segment's index totals disagree with its records.
fn compare_segment(ctx: &mut Ctx<'_>, p: &Path, first: u64, ix: &SegmentIndex, seen: &Seen) {
    let mut wrong = Vec::new();
    if seen.count > 0 && (seen.min_time, seen.max_time) != (ix.min_time, ix.max_time) {
        wrong.push(format!(
            "time bounds {}..={} in the index, {}..={} in the records",
            ix.min_time, ix.max_time, seen.min_time, seen.max_time
        ));
    }
    if seen.categories != ix.categories {
        let differ: Vec<&str> = seen
            .categories
            .keys()
            .chain(ix.categories.keys())
            .filter(|c| seen.categories.get(*c) != ix.categories.get(*c))
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .take(10)
            .collect();
        wrong.push(format!(
            "latest event time per category differs from the records for: {}",
            differ.join(", ")
        ));
    }
    if seen.uncategorized_max_time != ix.uncategorized_max_time {
        wrong.push("latest time of records without a category differs from the records".into());
    }
    if !wrong.is_empty() {
        ctx.problem(
            ProblemKind::IndexMismatch,
            p,
            Some((first, (first + ix.count).saturating_sub(1))),
            None,
            format!("segment index: {}", wrong.join("; ")),
        );
    }
}

/// Checks one block: checksums, record framing, stored offsets, leaf hashes.
/// `reader` carries buffers from block to block (`None` if no decompression
/// context could be made: then each block gets fresh ones).
fn check_block(
    file: &std::fs::File,
    p: &Path,
    b: &BlockMeta,
    reader: Option<&mut BlockReader>,
) -> BlockOutcome {
    let mut o = BlockOutcome {
        bytes: 0,
        stored: Vec::with_capacity(b.count as usize),
        leaves: Vec::with_capacity(b.count as usize),
        problems: Vec::new(),
        unreadable_at: None,
        seen: Seen::default(),
    };
    let last = (b.first_offset + u64::from(b.count)).saturating_sub(1);
    let fresh;
    let read: Result<&[u8], String> = match reader {
        Some(r) => r
            .read(file, p, b)
            .map(|()| &r.raw[..])
            .map_err(|e| short(&e)),
        None => {
            fresh = read_block(file, p, b);
            match &fresh {
                Ok(v) => Ok(&v[..]),
                Err(e) => Err(short(e)),
            }
        }
    };
    let owned;
    let raw: &[u8] = match read {
        Ok(r) => r,
        Err(e) => {
            o.problems.push((
                ProblemKind::Changed,
                (b.first_offset, last),
                format!("block of records {}..={last}: {e}", b.first_offset),
            ));
            // A changed compressed block may still decompress.
            let mut comp = vec![0u8; b.comp_len as usize];
            use std::os::unix::fs::FileExt;
            match file
                .read_exact_at(&mut comp, b.pos)
                .ok()
                .filter(|()| b.raw_len <= 64 << 20)
                .and_then(|()| zstd::bulk::decompress(&comp, b.raw_len as usize).ok())
            {
                Some(r) => {
                    owned = r;
                    &owned
                }
                None => {
                    o.unreadable_at = Some(b.first_offset);
                    return o;
                }
            }
        }
    };
    for (n, (at, rec)) in block_records(raw).enumerate() {
        let expected_off = b.first_offset + n as u64;
        match rec {
            Ok(rec) => {
                o.seen.record(b, rec);
                o.bytes += rec.len() as u64;
                o.stored
                    .push(format::record_offset(rec).unwrap_or(u64::MAX));
                o.leaves.push(leaf_hash(rec));
            }
            Err(reason) => {
                o.problems.push((
                    ProblemKind::Changed,
                    (expected_off, expected_off),
                    format!("record at byte {at} of its block: {reason}"),
                ));
                if raw.len() >= at + 8 {
                    let l = format::u32_at(raw, at) as usize;
                    if let Some(rec) = raw.get(at + 8..at + 8 + l) {
                        o.bytes += rec.len() as u64;
                        o.stored
                            .push(format::record_offset(rec).unwrap_or(u64::MAX));
                        o.leaves.push(leaf_hash(rec));
                        continue;
                    }
                }
                o.unreadable_at = Some(expected_off);
                return o;
            }
        }
    }
    o
}

fn compare_summary(
    ctx: &mut Ctx<'_>,
    p: &Path,
    first: u64,
    got: &MerkleSummary,
    stored: &MerkleSummary,
) {
    use crate::format::sealed::CHUNK;
    let head_n = stored.head.len() as u64;
    for (i, (a, b)) in got.head.iter().zip(&stored.head).enumerate() {
        if a != b {
            let o = first + i as u64;
            ctx.problem(
                ProblemKind::Changed,
                p,
                Some((o, o)),
                None,
                format!("record {o} differs from its hash in the segment footer"),
            );
        }
    }
    for (i, (a, b)) in got.chunks.iter().zip(&stored.chunks).enumerate() {
        if a != b {
            let o = first + head_n + i as u64 * CHUNK;
            ctx.problem(
                ProblemKind::Changed,
                p,
                Some((o, o + CHUNK - 1)),
                None,
                format!(
                    "a record in {o}..={} differs from the hashes in the segment footer",
                    o + CHUNK - 1
                ),
            );
        }
    }
    let tail_start = first + head_n + stored.chunks.len() as u64 * CHUNK;
    for (i, (a, b)) in got.tail.iter().zip(&stored.tail).enumerate() {
        if a != b {
            let o = tail_start + i as u64;
            ctx.problem(
                ProblemKind::Changed,
                p,
                Some((o, o)),
                None,
                format!("record {o} differs from its hash in the segment footer"),
            );
        }
    }
}

/// A sealed segment without a readable footer: decode its blocks as a
/// stream to find how far it is intact.
fn salvage_sealed(
    ctx: &mut Ctx<'_>,
    p: &Path,
    first: u64,
    next_start: Option<u64>,
    len: u64,
    why: &str,
) -> Result<u64, StoreError> {
    let bytes = std::fs::read(p).map_err(|e| StoreError::io("read", p, e))?;
    let mut raw = Vec::new();
    if let Ok(mut dec) = zstd::stream::read::Decoder::new(bytes.get(HEADER_LEN..).unwrap_or(&[])) {
        use std::io::Read;
        let mut buf = [0u8; 64 << 10];
        loop {
            match dec.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    }
    let mut count = 0u64;
    for (_, rec) in block_records(&raw) {
        let Ok(rec) = rec else { break };
        if format::record_offset(rec) != Some(first + count) {
            break;
        }
        ctx.report.record_bytes += rec.len() as u64;
        ctx.push_leaf(leaf_hash(rec));
        count += 1;
    }
    ctx.report.records += count;
    let readable_end = first + count;
    let lost = match next_start {
        Some(n) if n <= readable_end => None,
        Some(n) => Some((readable_end, n - 1)),
        None => Some((readable_end, readable_end)),
    };
    let detail = match (lost, next_start) {
        (None, _) => format!(
            "{why}; file is {len} bytes; its index and footer are lost but records {first}..{readable_end} are readable"
        ),
        (Some((a, b)), Some(_)) => format!(
            "{why}; file is {len} bytes; records {first}..{readable_end} are readable, records {a}..={b} are lost"
        ),
        (Some((a, _)), None) => format!(
            "{why}; file is {len} bytes; records {first}..{readable_end} are readable, records from {a} on are lost"
        ),
    };
    ctx.problem(ProblemKind::Truncated, p, lost, Some(len), detail);
    if lost.is_none() {
        return Ok(readable_end);
    }
    ctx.break_tree(first + count);
    Ok(next_start.unwrap_or(first + count))
}

pub(super) fn verify_wal(
    ctx: &mut Ctx<'_>,
    p: &Path,
    first: u64,
    is_last: bool,
) -> Result<u64, StoreError> {
    ctx.report.segments += 1;
    let bytes = std::fs::read(p).map_err(|e| StoreError::io("read", p, e))?;
    ctx.report.bytes += bytes.len() as u64;
    let mut stored = Vec::new();
    let mut leaves = Vec::new();
    let end = damage::walk(&bytes, first, &mut |item| {
        match item {
            WalItem::Frame { pos, payload } => match format::split_payload(payload) {
                Ok((_, rec)) => {
                    ctx.report.record_bytes += rec.len() as u64;
                    stored.push(format::record_offset(rec).unwrap_or(u64::MAX));
                    leaves.push(leaf_hash(rec));
                }
                Err(e) => {
                    let at = first + stored.len() as u64;
                    ctx.problem(ProblemKind::Changed, p, Some((at, at)), Some(pos), e);
                }
            },
            WalItem::Damaged(d) => {
                report_damage(ctx, p, &d);
                for off in d.first_offset..d.first_offset + d.count {
                    stored.push(off);
                    leaves.push(damaged_leaf(off));
                }
            }
        }
        Ok(())
    })?;
    if let Some(reason) = end.torn {
        let (pos, at) = (end.good_len, first + stored.len() as u64);
        let kind = if is_last {
            ProblemKind::TornTail
        } else {
            ProblemKind::Truncated
        };
        ctx.problem(kind, p, Some((at, at)), Some(pos), format!(
            "file ends inside a record at byte {pos} ({} bytes: {reason}); records {first}..{at} are complete",
            bytes.len() as u64 - pos,
        ));
    }
    ctx.report.records += stored.len() as u64;
    let end = first + stored.len() as u64;
    let hint = end.max(
        stored
            .iter()
            .copied()
            .filter(|o| *o != u64::MAX)
            .max()
            .map_or(0, |m| m + 1),
    );
    check_sequence(ctx, p, first, &stored, hint);
    for h in leaves {
        if ctx.broken_at.is_none() {
            ctx.push_leaf(h);
        }
    }
    Ok(hint)
}

/// Reports damage in the middle of a write-ahead file: the records it
/// stands for and where start-up set the bytes aside.
fn report_damage(ctx: &mut Ctx<'_>, p: &Path, d: &damage::Damage) {
    let q = damage::quarantine_path(p, d.pos);
    if let Some((file, ack)) = ctx
        .acks
        .iter()
        .find(|(_, a)| damage::acknowledged(a, p, d))
        .map(|(f, a)| (f.clone(), a.clone()))
    {
        let range = (d.count > 0).then(|| (d.first_offset, d.first_offset + d.count - 1));
        if d.count > 0 {
            ctx.acked.push((d.first_offset, d.first_offset + d.count));
        }
        let when = jiff::Timestamp::from_millisecond(ack.time_ms)
            .map_or_else(|_| ack.time_ms.to_string(), |t| t.to_string());
        let detail = format!(
            "damage at byte {} ({} records from offset {}) acknowledged by {} at {when} in {}: {}",
            d.pos,
            d.count,
            d.first_offset,
            ack.by,
            ctx.rel(&file),
            ack.reason
        );
        ctx.problem(
            ProblemKind::DamageAcknowledged,
            p,
            range,
            Some(d.pos),
            detail,
        );
        return;
    }
    let kept = if q.exists() {
        "set aside in"
    } else {
        "to be set aside at the next start in"
    };
    let what = match d.count {
        0 => "bytes that hold no record".to_owned(),
        1 => format!("record {} is damaged", d.first_offset),
        n => format!(
            "records {}..={} are damaged",
            d.first_offset,
            d.first_offset + n - 1
        ),
    };
    let range = (d.count > 0).then(|| (d.first_offset, d.first_offset + d.count - 1));
    let detail = format!(
        "record at byte {}: {}; {what} (bytes {}..{}, {kept} {}); every later record is intact",
        d.pos,
        d.reason,
        d.pos,
        d.end,
        ctx.rel(&q)
    );
    ctx.problem(ProblemKind::Changed, p, range, Some(d.pos), detail);
}

pub(super) fn short(e: &StoreError) -> String {
    match e {
        StoreError::Corrupt { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}
