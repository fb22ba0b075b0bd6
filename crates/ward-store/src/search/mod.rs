//! Search: prune blocks by time and by their term filters, then decompress
//! only the candidate blocks and evaluate the query on each event.
//!
//! Results are ordered newest first by `@timestamp` (ties: higher offset
//! first). Candidate blocks are visited by descending maximum time, so a
//! search with a limit stops as soon as no remaining block can hold a newer
//! match. Aggregations read every candidate block, on all cores.

use crate::error::StoreError;
use crate::format;
use crate::format::sealed::{BlockReader, block_records};
use crate::index::bloom::term_hash;
use crate::query::{Doc, Query};
use crate::record::{Offset, StoredRecord};
use crate::segment::Segment;
use crate::store::{Inner, Store};
use serde::{Deserialize, Serialize};
use std::collections::BinaryHeap;
use std::sync::Arc;

mod aggregate;
mod histogram;
mod many;
mod partials;
mod persist;
mod stop;

pub(crate) use partials::Partials;
pub(crate) use persist::path_for as aggregates_path;

pub use histogram::{Histogram, MAX_HISTOGRAM_BUCKETS};
pub use many::MAX_AGGREGATIONS;
pub use stop::SearchStop;

/// Options of a search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchOptions {
    /// Only events at or after this time (ms).
    pub since: Option<i64>,
    /// Only events at or before this time (ms).
    pub until: Option<i64>,
    /// Most hits returned.
    pub limit: usize,
    /// A deadline and a cancellation flag, checked before each block.
    #[serde(skip)]
    pub stop: SearchStop,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            since: None,
            until: None,
            limit: 100,
            stop: SearchStop::default(),
        }
    }
}

/// One matching event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Offset.
    pub offset: Offset,
    /// `event.id`.
    pub id: String,
    /// `@timestamp`, ms.
    pub time_ms: i64,
    /// The event.
    pub event: serde_json::Value,
}

/// What a search found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Matches, newest first, at most `limit`.
    pub hits: Vec<Hit>,
    /// Matches seen (exact for aggregations; otherwise at least `hits`).
    pub matched: u64,
    /// The aggregation's result.
    pub aggregation: Option<AggregationResult>,
    /// Blocks decompressed.
    pub blocks_scanned: u64,
    /// Blocks skipped by time or filter.
    pub blocks_skipped: u64,
    /// Records evaluated.
    pub records_scanned: u64,
    /// Records whose body is not valid JSON (skipped).
    pub records_unparsable: u64,
    /// Blocks that could not be read (damaged sealed data), each named:
    /// their events are missing from this result, the rest is complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Most buckets `| count by` returns (the rest is summed in `other`).
pub const MAX_BUCKETS: usize = 10_000;

/// Result of `| count`, `| count by F`, `| top F N`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregationResult {
    /// `| count`.
    Count(u64),
    /// `| count by F` (all values) or `| top F N` (first N).
    Buckets {
        /// The field.
        field: String,
        /// Values by descending count (ties by value).
        buckets: Vec<Bucket>,
        /// Matching records without the field.
        missing: u64,
        /// Records counted under values beyond the returned buckets.
        other: u64,
    },
}

/// One value's count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// The value.
    pub value: String,
    /// Records with it.
    pub count: u64,
}

impl Store {
    /// Runs a query.
    pub fn search(&self, query: &Query, opts: &SearchOptions) -> Result<SearchResult, StoreError> {
        run(&self.inner, query, opts)
    }
}

struct Candidate {
    seg: Arc<Segment>,
    block: usize,
    first: u64,
    count: u32,
    max_time: i64,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key(std::cmp::Reverse<(i64, u64)>);

pub(crate) fn run(
    inner: &Inner,
    query: &Query,
    opts: &SearchOptions,
) -> Result<SearchResult, StoreError> {
    let window = Window::of(query, opts);
    let clauses = term_clauses(query);
    let segments: Vec<Arc<Segment>> = inner.catalog.read().segments.clone();
    let mut result = SearchResult::default();
    let candidates = select_blocks(&segments, window, &clauses, &mut result.blocks_skipped);
    let scan = Scan::new(inner, query, window, &opts.stop);
    let mut result = match &query.aggregation {
        Some(agg) => aggregate::run(&scan, agg, &candidates, result),
        None => newest_hits(&scan, &candidates, opts.limit, result),
    }?;
    result.warnings = scan.warnings.into_inner();
    Ok(result)
}

/// The event-time window of a search: the options and the query's own
/// `@timestamp` bounds, whichever is narrower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    lo: Option<i64>,
    hi: Option<i64>,
}

impl Window {
    pub(crate) fn of(query: &Query, opts: &SearchOptions) -> Window {
        let (qlo, qhi) = query.expr.time_bounds();
        Window {
            lo: [opts.since, qlo].into_iter().flatten().max(),
            hi: [opts.until, qhi].into_iter().flatten().min(),
        }
    }

    pub(crate) fn contains(self, t: i64) -> bool {
        self.lo.is_none_or(|lo| t >= lo) && self.hi.is_none_or(|hi| t <= hi)
    }

    /// Whether every time of `[min, max]` is inside.
    fn covers(self, min: i64, max: i64) -> bool {
        self.lo.is_none_or(|lo| min >= lo) && self.hi.is_none_or(|hi| max <= hi)
    }

    pub(crate) fn overlaps(self, min: i64, max: i64) -> bool {
        self.lo.is_none_or(|lo| max >= lo) && self.hi.is_none_or(|hi| min <= hi)
    }
}

/// The query's required terms as bloom hashes: a block can match only if
/// every clause has a term its filter may contain.
pub(crate) fn term_clauses(query: &Query) -> Vec<Vec<(String, u64)>> {
    query
        .expr
        .required_terms()
        .into_iter()
        .map(|c| {
            c.into_iter()
                .map(|(f, v)| {
                    let h = term_hash(&f, &v);
                    (f, h)
                })
                .collect()
        })
        .collect()
}

/// The blocks that may hold a match (by time bounds and term filters),
/// newest maximum time first; counts the others in `skipped`.
fn select_blocks(
    segments: &[Arc<Segment>],
    window: Window,
    clauses: &[Vec<(String, u64)>],
    skipped: &mut u64,
) -> Vec<Candidate> {
    let mut candidates = Vec::new();
    for seg in segments {
        seg.visit_blocks(&mut |i, b| {
            if window.overlaps(b.min_time, b.max_time)
                && may_match(b.fields, b.bloom, clauses)
                && b.count > 0
            {
                candidates.push(Candidate {
                    seg: seg.clone(),
                    block: i,
                    first: b.first_offset,
                    count: b.count,
                    max_time: b.max_time,
                });
            } else {
                *skipped += 1;
            }
        });
    }
    candidates.sort_by(|a, b| b.max_time.cmp(&a.max_time).then(b.first.cmp(&a.first)));
    candidates
}

/// Whether the block's term filters let every clause match.
pub(crate) fn may_match(
    fields: &[String],
    bloom: &crate::index::bloom::Bloom,
    clauses: &[Vec<(String, u64)>],
) -> bool {
    clauses.iter().all(|clause| {
        clause
            .iter()
            .any(|(f, h)| !fields.iter().any(|x| x == f) || bloom.may_contain(*h))
    })
}

/// The workers for `items` blocks: one per core, at most one per block.
fn workers_for(items: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.max(1))
}

/// Runs `f(its items)` on `workers` threads, worker `w` taking
/// every `workers`-th item from the `w`-th; one result per worker (a
/// worker that panicked is an error).
fn on_workers<'i, I: Sync, T: Send>(
    items: &'i [I],
    workers: usize,
    f: impl Fn(Vec<&'i I>) -> Result<T, StoreError> + Sync,
) -> Vec<Result<T, StoreError>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let mine: Vec<&I> = items.iter().skip(w).step_by(workers).collect();
                let f = &f;
                s.spawn(move || f(mine))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(StoreError::Failed("search worker panicked".into())))
            })
            .collect()
    })
}

/// Records between two looks at a search's stop inside a block.
const STOP_EVERY: u32 = 64;

/// What every block scan of one search shares.
struct Scan<'a> {
    inner: &'a Inner,
    query: &'a Query,
    window: Window,
    needles: Vec<Vec<Vec<u8>>>,
    stop: &'a SearchStop,
    /// Damaged sealed blocks met, for [`SearchResult::warnings`].
    warnings: parking_lot::Mutex<Vec<String>>,
}

impl<'a> Scan<'a> {
    fn new(inner: &'a Inner, query: &'a Query, window: Window, stop: &'a SearchStop) -> Self {
        Scan {
            inner,
            query,
            window,
            needles: needles_of(query),
            stop,
            warnings: parking_lot::Mutex::default(),
        }
    }

    /// Calls `f(offset, id, doc)` for each record of `c` in the window that
    /// matches the query.
    fn matches(
        &self,
        c: &Candidate,
        reader: &mut BlockReader,
        unparsable: &mut u64,
        scanned: &mut u64,
        f: &mut HitVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.stop.check()?;
        let (window, expr) = (self.window, &self.query.expr);
        let scanned_block = scan_block(
            self.inner,
            c,
            reader,
            &self.needles,
            unparsable,
            Some(self.stop),
            &mut |off, id, time, body| {
                *scanned += 1;
                if !window.contains(time) {
                    return;
                }
                let doc = Doc::new(body, time);
                if expr.matches(&doc) {
                    f(off, id, &doc);
                }
            },
        );
        match scanned_block {
            // A damaged sealed block costs its own events, not the search:
            // the result names it (`ward verify` says more).
            Err(e @ StoreError::Corrupt { .. }) if matches!(&*c.seg, Segment::Sealed(_)) => {
                let last = c.first + u64::from(c.count).saturating_sub(1);
                let warning = format!(
                    "block {} of {} (records {}..={last}) could not be read and is left out: {e}",
                    c.block,
                    c.seg.path().display(),
                    c.first
                );
                tracing::warn!(%warning, "search skipped a damaged block");
                self.warnings.lock().push(warning);
                Ok(())
            }
            other => other,
        }
    }
}

/// The `limit` newest matches: blocks by descending maximum time, stopping
/// once no remaining block can hold a match newer than the oldest kept.
fn newest_hits(
    scan: &Scan<'_>,
    candidates: &[Candidate],
    limit: usize,
    mut result: SearchResult,
) -> Result<SearchResult, StoreError> {
    let mut heap: BinaryHeap<(Key, usize)> = BinaryHeap::new();
    let mut found: Vec<Option<Hit>> = Vec::new();
    let mut reader = BlockReader::new()?;
    for c in candidates {
        if limit == 0 {
            break;
        }
        if heap.len() >= limit
            && let Some((Key(std::cmp::Reverse((t, _))), _)) = heap.peek()
            && c.max_time < *t
        {
            break;
        }
        result.blocks_scanned += 1;
        let (unparsable, scanned) = (&mut result.records_unparsable, &mut result.records_scanned);
        let matched = &mut result.matched;
        scan.matches(c, &mut reader, unparsable, scanned, &mut |off, id, doc| {
            let time = doc.time_ms();
            *matched += 1;
            let key = Key(std::cmp::Reverse((time, off)));
            if heap.len() >= limit {
                match heap.peek() {
                    Some((top, _)) if key < *top => {}
                    _ => return,
                }
                if let Some((_, slot)) = heap.pop() {
                    found[slot] = None;
                }
            }
            found.push(Some(Hit {
                offset: Offset(off),
                id: id.to_owned(),
                time_ms: time,
                event: serde_json::from_slice(doc.body()).unwrap_or(serde_json::Value::Null),
            }));
            heap.push((key, found.len() - 1));
        })?;
    }
    let mut hits: Vec<Hit> = found.into_iter().flatten().collect();
    hits.sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then(b.offset.cmp(&a.offset)));
    result.hits = hits;
    Ok(result)
}

/// Called with `(offset, id, document)` for each record that matches.
type HitVisitor<'a> = dyn FnMut(u64, &str, &Doc<'_>) + 'a;

/// Called with `(offset, id, time, body)` for each record that may match.
type MatchVisitor<'a> = dyn FnMut(u64, &str, i64, &[u8]) + 'a;

/// Lowercased ASCII needles that every match must contain (one of each
/// inner list): the exact values of the query's required terms. Numbers are
/// left out (`500` also matches `500.0`), as are values with characters JSON
/// may escape.
fn needles_of(query: &Query) -> Vec<Vec<Vec<u8>>> {
    query
        .expr
        .required_values()
        .into_iter()
        .map(|clause| clause.into_iter().map(|(_, v)| v).collect::<Vec<String>>())
        .filter(|clause| {
            clause.iter().all(|v| {
                !v.is_empty()
                    && v.parse::<f64>().is_err()
                    && v.bytes()
                        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' && b != b'/')
            })
        })
        .map(|clause| {
            clause
                .into_iter()
                .map(|v| v.to_ascii_lowercase().into_bytes())
                .collect()
        })
        .collect()
}

fn contains_all(hay: &[u8], needles: &[Vec<Vec<u8>>]) -> bool {
    needles.iter().all(|clause| contains_any(hay, clause))
}

fn contains_any(hay: &[u8], clause: &[Vec<u8>]) -> bool {
    clause
        .iter()
        .any(|n| memchr::memmem::find(hay, n).is_some())
}

/// [`contains_all`] in any ASCII case. The needles are lowercase and
/// values are mostly stored so: each clause is looked for as written first,
/// and only one not found so is looked for again in a lowercased copy of
/// `hay` (made once, into `lower`). A tenant's scope, a needle of every
/// record, so costs one search of each record instead of a copy of each.
fn contains_all_any_case(hay: &[u8], needles: &[Vec<Vec<u8>>], lower: &mut Vec<u8>) -> bool {
    let mut lowered = false;
    needles.iter().all(|clause| {
        if contains_any(hay, clause) {
            return true;
        }
        if !lowered {
            lower.clear();
            lower.extend(hay.iter().map(u8::to_ascii_lowercase));
            lowered = true;
        }
        contains_any(lower, clause) || may_hide_needles(hay)
    })
}

/// Whether `hay` may hold a value equal to an ASCII needle in any case
/// without holding the needle's bytes: a character whose Unicode lowercase
/// is an ASCII letter (the Kelvin sign lowercases to `k`) or a JSON `\u`
/// escape (`score\u0063ard`; Ward writes none for printable text, other
/// writers may). Such a record is read rather than rejected by its bytes.
pub(crate) fn may_hide_needles(hay: &[u8]) -> bool {
    memchr::memmem::find(hay, "\u{212a}".as_bytes()).is_some()
        || memchr::memmem::find(hay, b"\\u").is_some()
}

/// Decodes every record of a candidate block and calls `f(offset, id,
/// time, body)` for those that can match: records without the needles are
/// skipped before any JSON is read.
fn scan_block(
    inner: &Inner,
    c: &Candidate,
    reader: &mut BlockReader,
    needles: &[Vec<Vec<u8>>],
    unparsable: &mut u64,
    stop: Option<&SearchStop>,
    f: &mut MatchVisitor<'_>,
) -> Result<(), StoreError> {
    let mut lower = Vec::new();
    let mut seen = 0u32;
    let mut visit = |off: u64, rec: &[u8]| -> Result<(), StoreError> {
        // A write-ahead block holds 1,024 records of any size: a stop is
        // looked at within it too, not only between blocks.
        seen = seen.wrapping_add(1);
        if seen.is_multiple_of(STOP_EVERY)
            && let Some(stop) = stop
        {
            stop.check()?;
        }
        let d = format::decode_record_ref(rec).map_err(|reason| {
            StoreError::corrupt(c.seg.path(), 0, format!("record {off}: {reason}"))
        })?;
        if !needles.is_empty() && !contains_all_any_case(d.body, needles, &mut lower) {
            return Ok(());
        }
        let first = d.body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            *unparsable += 1;
            return Ok(());
        }
        f(off, d.id, d.time_ms, d.body);
        Ok(())
    };
    match &*c.seg {
        Segment::Sealed(s) => {
            s.block_into(c.block, reader)?;
            let raw = &reader.raw;
            if !needles.is_empty() && !contains_all_any_case(raw, needles, &mut Vec::new()) {
                return Ok(());
            }
            for (n, (at, rec)) in block_records(raw).enumerate() {
                let rec = rec.map_err(|reason| {
                    StoreError::corrupt(
                        &s.path,
                        0,
                        format!("block {} record at byte {at}: {reason}", c.block),
                    )
                })?;
                visit(c.first + n as u64, rec)?;
            }
            Ok(())
        }
        Segment::Open(_) => {
            let durable = inner.durable.load(std::sync::atomic::Ordering::SeqCst);
            let end = (c.first + u64::from(c.count)).min(durable);
            c.seg.read_range(c.first, end, &mut visit)
        }
    }
}

/// Every record with this id, first-written first. Ward assigns ids
/// itself, so more than one means records were written around it (or a
/// writer bug); the caller says so. Costs what a lookup of an absent id
/// costs: every block whose filter may hold the id is read.
pub(crate) fn find_all_by_id(inner: &Inner, id: &str) -> Result<Vec<StoredRecord>, StoreError> {
    let h = term_hash("event.id", id);
    let segments: Vec<Arc<Segment>> = inner.catalog.read().segments.clone();
    let mut blocks = Vec::new();
    for seg in &segments {
        seg.visit_blocks(&mut |i, b| {
            if b.bloom.may_contain(h) {
                blocks.push(Candidate {
                    seg: seg.clone(),
                    block: i,
                    first: b.first_offset,
                    count: b.count,
                    max_time: b.max_time,
                });
            }
        });
    }
    blocks.sort_by_key(|c| c.first);
    let mut found = Vec::new();
    for c in &blocks {
        let mut visit = |off: u64, rec: &[u8]| -> Result<(), StoreError> {
            let d = format::decode_record(rec).map_err(|reason| {
                StoreError::corrupt(c.seg.path(), 0, format!("record {off}: {reason}"))
            })?;
            if d.id == id {
                found.push(StoredRecord::from(d));
            }
            Ok(())
        };
        match &*c.seg {
            Segment::Sealed(s) => {
                let raw = s.block(c.block)?;
                for (n, (_, rec)) in block_records(&raw).enumerate() {
                    if let Ok(rec) = rec {
                        visit(c.first + n as u64, rec)?;
                    }
                }
            }
            Segment::Open(_) => {
                let durable = inner.durable.load(std::sync::atomic::Ordering::SeqCst);
                c.seg.read_range(
                    c.first,
                    (c.first + u64::from(c.count)).min(durable),
                    &mut visit,
                )?;
            }
        }
    }
    found.sort_by_key(|r| r.offset);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;
    use crate::testing::{T0, store_with};

    fn window(lo: Option<i64>, hi: Option<i64>) -> Window {
        Window { lo, hi }
    }

    #[test]
    fn window_takes_the_narrower_of_options_and_query() {
        let q = parse("@timestamp:[2026-01-01 TO 2026-01-02]").unwrap();
        let opts = SearchOptions {
            since: Some(T0 + 5),
            until: None,
            limit: 1,
            ..SearchOptions::default()
        };
        let w = Window::of(&q, &opts);
        assert_eq!(w.lo, Some(T0 + 5));
        assert!(w.hi.is_some_and(|hi| hi >= T0 + 86_399_000));
        assert!(w.contains(T0 + 5) && !w.contains(T0 + 4));
        assert!(w.overlaps(T0 - 10, T0 + 5) && !w.overlaps(T0 - 10, T0 + 4));
        assert!(window(None, None).contains(i64::MIN));
    }

    #[test]
    fn term_clauses_hash_each_required_term() {
        let q = parse("user.name:alice (host.name:a OR host.name:b)").unwrap();
        let c = term_clauses(&q);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0],
            vec![("user.name".into(), term_hash("user.name", "alice"))]
        );
        assert_eq!(c[1].len(), 2);
        assert!(term_clauses(&parse("failed").unwrap()).is_empty());
    }

    #[test]
    fn select_blocks_prunes_by_time_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 3000);
        store.seal_now().unwrap();
        let segments = store.inner.catalog.read().segments.clone();
        let mut skipped = 0;
        let all = select_blocks(&segments, window(None, None), &[], &mut skipped);
        assert!(all.len() > 1 && skipped == 0);
        assert!(all.windows(2).all(|w| w[0].max_time >= w[1].max_time));
        let late = window(Some(T0 + 2999 * 1000), None);
        let some = select_blocks(&segments, late, &[], &mut skipped);
        assert_eq!(some.len(), 1);
        assert_eq!(skipped as usize, all.len() - 1);
        let absent = term_clauses(&parse("user.name:nobody").unwrap());
        let mut skipped = 0;
        let none = select_blocks(&segments, window(None, None), &absent, &mut skipped);
        assert!(none.len() < all.len(), "the filters prune most blocks");
    }

    #[test]
    fn a_repeated_id_finds_every_record_first_written_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 3000);
        store.seal_now().unwrap();
        // The same id again, in the open segment after the sealed one.
        let again = store
            .append(vec![crate::testing::record(7)])
            .unwrap()
            .remove(0);
        let all = store.get_all("evt-000007").unwrap();
        let offsets: Vec<u64> = all.iter().map(|r| r.offset.0).collect();
        assert_eq!(offsets, [7, again.0]);
        assert_eq!(store.get("evt-000007").unwrap().unwrap().offset.0, 7);
        let proof = store.inclusion_proof("evt-000007").unwrap();
        assert_eq!(
            (proof.leaf_index, proof.duplicate_offsets),
            (7, vec![again.0])
        );
        assert_eq!(store.get_all("evt-000008").unwrap().len(), 1);
        assert!(store.get_all("evt-999999").unwrap().is_empty());
    }

    #[test]
    fn open_blocks_that_a_batch_enters_half_way_are_pruned_too() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::StoreConfig {
            segment_max_bytes: 64 << 20,
            ..crate::testing::config(dir.path())
        };
        let (store, _) = Store::open(cfg).unwrap();
        // One batch over three in-memory blocks: only its first record
        // brings the batch's fields.
        let n = u64::from(crate::segment::MEM_BLOCK) * 3;
        store.append(crate::testing::records(0..n)).unwrap();
        let opts = SearchOptions {
            limit: 10_000,
            ..SearchOptions::default()
        };
        let absent = store
            .search(&parse("user.name:nobody").unwrap(), &opts)
            .unwrap();
        assert_eq!((absent.blocks_scanned, absent.blocks_skipped), (0, 3));
        let present = store
            .search(&parse("user.name:user3").unwrap(), &opts)
            .unwrap();
        assert_eq!(present.hits.len() as u64, n / 5);
        assert_eq!(present.blocks_scanned, 3);
    }

    /// Values of fields that are not indexed are looked for in each
    /// record's bytes too (no JSON walk for a record without them): every
    /// query finds exactly the records its expression matches one by one,
    /// in any case, with the Kelvin sign, nested and dotted, in arrays,
    /// numbers and booleans; as a search, as an aggregation, and in a
    /// shared pass of many.
    #[test]
    fn values_of_unindexed_fields_reject_records_by_their_bytes_and_lose_none() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(crate::testing::config(dir.path())).unwrap();
        let bodies = [
            r#"{"event":{"module":"scorecard"}}"#,
            r#"{"event":{"module":"SCORECARD","dataset":"x"}}"#,
            r#"{"event.module":"Scorecard"}"#,
            "{\"event\":{\"module\":\"\u{212a}ube\"}}",
            r#"{"event":{"module":"score\u0063ard"}}"#,
            r#"{"event":{"module":"kube"}}"#,
            r#"{"event":{"module":["lynis","kube"]}}"#,
            r#"{"event":{"module":"lynis"},"labels":{"ok":true,"n":7}}"#,
            r#"{"labels":{"ok":"TRUE","n":"7"},"message":"scorecard mentioned only"}"#,
            r#"{"tenant":{"id":"acme"},"event":{"module":"scorecard"}}"#,
            r#"{"tenant":{"id":"other"},"event":{"module":"scorecard"}}"#,
        ];
        let records: Vec<crate::Record> = (0..300)
            .map(|i| {
                let body = bodies[i % bodies.len()];
                crate::Record {
                    id: format!("r{i}"),
                    time_ms: crate::testing::T0 + i as i64,
                    category: Vec::new(),
                    terms: Vec::new(),
                    body: body.as_bytes().to_vec(),
                }
            })
            .collect();
        let expected_bodies = records.clone();
        store.append(records).unwrap();
        let queries = [
            "event.module:scorecard",
            "event.module:kube",
            "event.module:KUBE",
            "event.module:lynis AND labels.ok:true",
            "labels.n:7",
            "event.module:scorecard OR event.module:lynis",
            "tenant.id:acme AND event.module:scorecard",
            "event.module:scorecard AND NOT tenant.id:other",
            "message:scorecard",
        ];
        let opts = SearchOptions {
            limit: 10_000,
            ..SearchOptions::default()
        };
        for sealed in [false, true] {
            if sealed {
                store.seal_now().unwrap();
            }
            let mut asked = Vec::new();
            for text in queries {
                let q = parse(text).unwrap();
                let want: Vec<String> = expected_bodies
                    .iter()
                    .filter(|r| q.expr.matches(&Doc::new(&r.body, r.time_ms)))
                    .map(|r| r.id.clone())
                    .collect();
                let r = store.search(&q, &opts).unwrap();
                let mut got: Vec<String> = r.hits.iter().map(|h| h.id.clone()).collect();
                got.sort_by_key(|id| id[1..].parse::<u32>().unwrap());
                assert_eq!(got, want, "{text} (sealed {sealed})");
                let counted = parse(&format!("{text} | count")).unwrap();
                let c = store.search(&counted, &opts).unwrap();
                assert_eq!(c.matched, want.len() as u64, "{text} | count");
                asked.push((counted, SearchOptions::default()));
            }
            for (i, r) in store.aggregate_many(&asked).unwrap().iter().enumerate() {
                let single = store.search(&asked[i].0, &opts).unwrap();
                assert_eq!(r.matched, single.matched, "{} in a shared pass", queries[i]);
            }
        }
        // An unindexed field's value is a needle; `@timestamp` gives none.
        let unindexed = parse("event.module:kube").unwrap();
        assert!(
            needles_of(&unindexed)
                .iter()
                .flatten()
                .any(|n| n == b"kube")
        );
        assert!(needles_of(&parse("@timestamp:2026").unwrap()).is_empty());
    }

    static NEVER: std::sync::LazyLock<SearchStop> = std::sync::LazyLock::new(SearchStop::default);

    fn scan_of<'a>(store: &'a Store, q: &'a Query) -> Scan<'a> {
        Scan {
            inner: &store.inner,
            query: q,
            window: window(None, None),
            needles: needles_of(q),
            stop: &NEVER,
            warnings: parking_lot::Mutex::default(),
        }
    }

    #[test]
    fn a_damaged_sealed_block_gives_partial_results_naming_it() {
        use std::io::{Seek, SeekFrom, Write};
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 2500);
        store.seal_now().unwrap();
        let (path, block) = {
            let cat = store.inner.catalog.read();
            let Segment::Sealed(s) = &*cat.segments[0] else {
                panic!("the first segment is sealed")
            };
            (s.path.clone(), s.index.blocks[0].clone())
        };
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).unwrap();
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(block.pos + u64::from(block.comp_len) / 2))
            .unwrap();
        f.write_all(&[0xff; 16]).unwrap();
        drop(f);
        let count = store
            .search(&parse("| count").unwrap(), &SearchOptions::default())
            .unwrap();
        assert_eq!(count.warnings.len(), 1, "{:?}", count.warnings);
        let w = &count.warnings[0];
        assert!(
            w.contains("block 0 of") && w.contains(&path.display().to_string()),
            "{w}"
        );
        assert_eq!(count.matched, 2500 - u64::from(block.count));
        let hits = store
            .search(
                &parse("user.name:user1").unwrap(),
                &SearchOptions::default(),
            )
            .unwrap();
        assert!(!hits.hits.is_empty());
    }

    #[test]
    fn scan_matches_calls_back_only_for_matches() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 50);
        let q = parse("user.name:user3").unwrap();
        let segments = store.inner.catalog.read().segments.clone();
        let cands = select_blocks(&segments, window(None, None), &[], &mut 0);
        let (mut unparsable, mut scanned, mut seen) = (0, 0, Vec::new());
        let mut reader = BlockReader::new().unwrap();
        scan_of(&store, &q)
            .matches(
                &cands[0],
                &mut reader,
                &mut unparsable,
                &mut scanned,
                &mut |off, _, _| seen.push(off),
            )
            .unwrap();
        assert_eq!(seen, (0..10).map(|i| i * 5 + 3).collect::<Vec<_>>());
        assert_eq!(unparsable, 0);
        assert!(scanned >= 10);
    }

    #[test]
    fn newest_hits_keeps_the_newest_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 2500);
        store.seal_now().unwrap();
        let q = parse("user.name:user1").unwrap();
        let segments = store.inner.catalog.read().segments.clone();
        let cands = select_blocks(&segments, window(None, None), &[], &mut 0);
        let r = newest_hits(&scan_of(&store, &q), &cands, 3, SearchResult::default()).unwrap();
        let offsets: Vec<u64> = r.hits.iter().map(|h| h.offset.0).collect();
        assert_eq!(offsets, vec![2496, 2491, 2486]);
        assert!(
            r.blocks_scanned < cands.len() as u64,
            "older blocks are never read"
        );
        let none = newest_hits(&scan_of(&store, &q), &cands, 0, SearchResult::default()).unwrap();
        assert!(none.hits.is_empty());
    }
}
