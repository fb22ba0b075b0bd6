//! Search: prune blocks by time and by their term filters, then decompress
//! only the candidate blocks and evaluate the query on each event.
//!
//! Results are ordered newest first by `@timestamp` (ties: higher offset
//! first). Candidate blocks are visited by descending maximum time, so a
//! search with a limit stops as soon as no remaining block can hold a newer
//! match. Aggregations read every candidate block, on all cores.

use crate::counter::Counter;
use crate::error::StoreError;
use crate::format;
use crate::format::sealed::{BlockReader, block_records};
use crate::index::bloom::term_hash;
use crate::query::{Aggregation, Doc, Query, value_keys};
use crate::record::{Offset, StoredRecord};
use crate::segment::Segment;
use crate::store::{Inner, Store};
use serde::{Deserialize, Serialize};
use std::collections::BinaryHeap;
use std::sync::Arc;

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
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            since: None,
            until: None,
            limit: 100,
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

/// Per-worker accumulation.
struct Partial {
    counts: Counter,
    missing: u64,
    matched: u64,
    scanned: u64,
    unparsable: u64,
}

pub(crate) fn run(
    inner: &Inner,
    query: &Query,
    opts: &SearchOptions,
) -> Result<SearchResult, StoreError> {
    let (qlo, qhi) = query.expr.time_bounds();
    let lo = [opts.since, qlo].into_iter().flatten().max();
    let hi = [opts.until, qhi].into_iter().flatten().min();
    let clauses: Vec<Vec<(String, u64)>> = query
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
        .collect();
    let segments: Vec<Arc<Segment>> = inner.catalog.read().segments.clone();
    let mut result = SearchResult::default();
    let mut candidates = Vec::new();
    for seg in &segments {
        seg.visit_blocks(&mut |i, b| {
            let time_ok =
                lo.is_none_or(|lo| b.max_time >= lo) && hi.is_none_or(|hi| b.min_time <= hi);
            let terms_ok = clauses.iter().all(|clause| {
                clause
                    .iter()
                    .any(|(f, h)| !b.fields.iter().any(|x| x == f) || b.bloom.may_contain(*h))
            });
            if time_ok && terms_ok && b.count > 0 {
                candidates.push(Candidate {
                    seg: seg.clone(),
                    block: i,
                    first: b.first_offset,
                    count: b.count,
                    max_time: b.max_time,
                });
            } else {
                result.blocks_skipped += 1;
            }
        });
    }
    candidates.sort_by(|a, b| b.max_time.cmp(&a.max_time).then(b.first.cmp(&a.first)));
    let needles = &needles_of(query);
    let in_time = |t: i64| lo.is_none_or(|lo| t >= lo) && hi.is_none_or(|hi| t <= hi);

    if let Some(agg) = &query.aggregation {
        let field = match agg {
            Aggregation::Count => None,
            Aggregation::CountBy(f) | Aggregation::Top { field: f, .. } => Some(f.as_str()),
        };
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(candidates.len().max(1));
        let hasher = hashbrown::DefaultHashBuilder::default();
        let parts: Vec<Result<Partial, StoreError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let cands: Vec<&Candidate> =
                        candidates.iter().skip(w).step_by(workers).collect();
                    let in_time = &in_time;
                    let hasher = hasher.clone();
                    s.spawn(move || {
                        let mut part = Partial {
                            counts: Counter::new(workers, hasher),
                            missing: 0,
                            matched: 0,
                            scanned: 0,
                            unparsable: 0,
                        };
                        let mut keys = Vec::new();
                        let mut reader = BlockReader::new()?;
                        for c in cands {
                            scan_block(
                                inner,
                                c,
                                &mut reader,
                                needles,
                                &mut part.unparsable,
                                &mut |_, _, time, body| {
                                    part.scanned += 1;
                                    if !in_time(time) {
                                        return;
                                    }
                                    let doc = Doc::new(body, time);
                                    if !query.expr.matches(&doc) {
                                        return;
                                    }
                                    part.matched += 1;
                                    if let Some(f) = field {
                                        count_value(
                                            &doc,
                                            f,
                                            &mut part.counts,
                                            &mut part.missing,
                                            &mut keys,
                                        );
                                    }
                                },
                            )?;
                        }
                        Ok(part)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(StoreError::Failed("search worker panicked".into()))
                    })
                })
                .collect()
        });
        let mut counters = Vec::with_capacity(parts.len());
        let mut missing = 0;
        for p in parts {
            let p = p?;
            result.matched += p.matched;
            result.records_scanned += p.scanned;
            result.records_unparsable += p.unparsable;
            missing += p.missing;
            counters.push(p.counts);
        }
        result.blocks_scanned = candidates.len() as u64;
        result.aggregation = Some(match agg {
            Aggregation::Count => AggregationResult::Count(result.matched),
            Aggregation::CountBy(f) | Aggregation::Top { field: f, .. } => {
                let keep = match agg {
                    Aggregation::Top { n, .. } => *n,
                    _ => MAX_BUCKETS,
                };
                let (buckets, other) = Counter::top(counters, keep).ok_or_else(|| {
                    StoreError::Failed("aggregation merge thread panicked".into())
                })?;
                AggregationResult::Buckets {
                    field: f.clone(),
                    buckets,
                    missing,
                    other,
                }
            }
        });
        return Ok(result);
    }

    let limit = opts.limit;
    let mut heap: BinaryHeap<(Key, usize)> = BinaryHeap::new();
    let mut found: Vec<Option<Hit>> = Vec::new();
    let mut reader = BlockReader::new()?;
    for c in &candidates {
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
        let mut unparsable = 0;
        scan_block(
            inner,
            c,
            &mut reader,
            needles,
            &mut unparsable,
            &mut |off, id, time, body| {
                result.records_scanned += 1;
                if !in_time(time) || !query.expr.matches(&Doc::new(body, time)) {
                    return;
                }
                result.matched += 1;
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
                    event: serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
                }));
                heap.push((key, found.len() - 1));
            },
        )?;
        result.records_unparsable += unparsable;
    }
    let mut hits: Vec<Hit> = found.into_iter().flatten().collect();
    hits.sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then(b.offset.cmp(&a.offset)));
    result.hits = hits;
    Ok(result)
}

/// Counts the value(s) of `field` in one matching document. A plain string
/// (the common case) is counted from the body's bytes without building a
/// JSON value or a `String`; anything else (numbers, arrays, escapes) goes
/// through the parsed value and [`value_keys`], which define the keys.
fn count_value(
    doc: &Doc<'_>,
    field: &str,
    counts: &mut Counter,
    missing: &mut u64,
    keys: &mut Vec<String>,
) {
    if let Some(s) = doc.get_plain_str(field) {
        counts.add(s, 1);
        return;
    }
    keys.clear();
    if let Some(v) = doc.get(field) {
        value_keys(&v, keys);
    }
    if keys.is_empty() {
        *missing += 1;
    }
    for k in keys.drain(..) {
        counts.add(&k, 1);
    }
}

/// Called with `(offset, id, time, body)` for each record that may match.
type MatchVisitor<'a> = dyn FnMut(u64, &str, i64, &[u8]) + 'a;

/// Lowercased ASCII needles that every match must contain (one of each
/// inner list): the exact values of the query's required terms. Numbers are
/// left out (`500` also matches `500.0`), as are values with characters JSON
/// may escape.
fn needles_of(query: &Query) -> Vec<Vec<Vec<u8>>> {
    query
        .expr
        .required_terms()
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
    needles.iter().all(|clause| {
        clause
            .iter()
            .any(|n| memchr::memmem::find(hay, n).is_some())
    })
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
    f: &mut MatchVisitor<'_>,
) -> Result<(), StoreError> {
    let mut lower = Vec::new();
    let mut visit = |off: u64, rec: &[u8]| -> Result<(), StoreError> {
        let d = format::decode_record_ref(rec).map_err(|reason| {
            StoreError::corrupt(c.seg.path(), 0, format!("record {off}: {reason}"))
        })?;
        if !needles.is_empty() {
            lower.clear();
            lower.extend(d.body.iter().map(u8::to_ascii_lowercase));
            if !contains_all(&lower, needles) {
                return Ok(());
            }
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
            if !needles.is_empty() {
                let lowered: Vec<u8> = raw.iter().map(u8::to_ascii_lowercase).collect();
                if !contains_all(&lowered, needles) {
                    return Ok(());
                }
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

/// The newest record with this id.
pub(crate) fn find_by_id(inner: &Inner, id: &str) -> Result<Option<StoredRecord>, StoreError> {
    let h = term_hash("event.id", id);
    let segments: Vec<Arc<Segment>> = inner.catalog.read().segments.clone();
    let mut blocks = Vec::new();
    for seg in segments.iter().rev() {
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
    blocks.sort_by_key(|c| std::cmp::Reverse(c.first));
    for c in &blocks {
        let mut found = None;
        let mut visit = |off: u64, rec: &[u8]| -> Result<(), StoreError> {
            let d = format::decode_record(rec).map_err(|reason| {
                StoreError::corrupt(c.seg.path(), 0, format!("record {off}: {reason}"))
            })?;
            if d.id == id {
                found = Some(StoredRecord::from(d));
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
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}
