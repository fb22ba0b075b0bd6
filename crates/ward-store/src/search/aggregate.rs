//! `| count`, `| count by F` and `| top F N`: every candidate block is
//! read, on all cores; each worker counts into its own [`Counter`], and the
//! counters are merged and ranked at the end.

use super::{AggregationResult, Candidate, MAX_BUCKETS, Scan, SearchResult};
use crate::counter::Counter;
use crate::error::StoreError;
use crate::format::sealed::BlockReader;
use crate::query::{Aggregation, Doc, value_keys};

/// Per-worker accumulation.
struct Partial {
    counts: Counter,
    missing: u64,
    matched: u64,
    scanned: u64,
    unparsable: u64,
}

/// Runs the aggregation over every candidate block.
pub(super) fn run(
    scan: &Scan<'_>,
    agg: &Aggregation,
    candidates: &[Candidate],
    mut result: SearchResult,
) -> Result<SearchResult, StoreError> {
    let field = match agg {
        Aggregation::Count => None,
        Aggregation::CountBy(f) | Aggregation::Top { field: f, .. } => Some(f.as_str()),
    };
    let parts = count_in_parallel(scan, field, candidates);
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
    result.aggregation = Some(rank(agg, result.matched, counters, missing)?);
    Ok(result)
}

/// Splits the candidates over the cores; one [`Partial`] per worker.
fn count_in_parallel(
    scan: &Scan<'_>,
    field: Option<&str>,
    candidates: &[Candidate],
) -> Vec<Result<Partial, StoreError>> {
    let workers = super::workers_for(candidates.len());
    let hasher = hashbrown::DefaultHashBuilder::default();
    super::on_workers(candidates, workers, |cands| {
        count_blocks(scan, field, &cands, Counter::new(workers, hasher.clone()))
    })
}

/// One worker: counts the matches of its blocks (and the values of
/// `field`, if any).
fn count_blocks(
    scan: &Scan<'_>,
    field: Option<&str>,
    cands: &[&Candidate],
    counts: Counter,
) -> Result<Partial, StoreError> {
    let mut part = Partial {
        counts,
        missing: 0,
        matched: 0,
        scanned: 0,
        unparsable: 0,
    };
    let mut keys = Vec::new();
    let mut reader = BlockReader::new()?;
    for c in cands {
        let (unparsable, scanned) = (&mut part.unparsable, &mut part.scanned);
        let (matched, counts, missing) = (&mut part.matched, &mut part.counts, &mut part.missing);
        scan.matches(c, &mut reader, unparsable, scanned, &mut |_, _, doc| {
            *matched += 1;
            if let Some(f) = field {
                count_value(doc, f, counts, missing, &mut keys);
            }
        })?;
    }
    Ok(part)
}

/// The aggregation's result from the merged counters.
pub(super) fn rank(
    agg: &Aggregation,
    matched: u64,
    counters: Vec<Counter>,
    missing: u64,
) -> Result<AggregationResult, StoreError> {
    let (field, keep) = match agg {
        Aggregation::Count => return Ok(AggregationResult::Count(matched)),
        Aggregation::CountBy(f) => (f, MAX_BUCKETS),
        Aggregation::Top { field, n } => (field, *n),
    };
    let (buckets, other) = Counter::top(counters, keep)
        .ok_or_else(|| StoreError::Failed("aggregation merge thread panicked".into()))?;
    Ok(AggregationResult::Buckets {
        field: field.clone(),
        buckets,
        missing,
        other,
    })
}

/// Counts the value(s) of `field` in one matching document. A plain string
/// (the common case) is counted from the body's bytes without building a
/// JSON value or a `String`; anything else (numbers, arrays, escapes) goes
/// through the parsed value and [`value_keys`], which define the keys.
pub(super) fn count_value(
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

#[cfg(test)]
mod tests {
    use super::super::{Window, needles_of, select_blocks};
    use super::*;
    use crate::query::{Query, parse};
    use crate::testing::store_with;
    use crate::{AggregationResult, Bucket, SearchStop, Store};

    fn with_scan<T>(store: &Store, q: &str, f: impl FnOnce(&Scan<'_>, &[Candidate]) -> T) -> T {
        let q: Query = parse(q).unwrap();
        let segments = store.inner.catalog.read().segments.clone();
        let w = Window { lo: None, hi: None };
        let cands = select_blocks(&segments, w, &[], &mut 0);
        let stop = SearchStop::default();
        let scan = Scan {
            inner: &store.inner,
            query: &q,
            window: w,
            needles: needles_of(&q),
            stop: &stop,
            warnings: parking_lot::Mutex::default(),
        };
        f(&scan, &cands)
    }

    #[test]
    fn count_blocks_counts_matches_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 40);
        let part = with_scan(&store, "n:<20", |scan, cands| {
            let refs: Vec<&Candidate> = cands.iter().collect();
            let counts = Counter::new(1, Default::default());
            count_blocks(scan, Some("user.name"), &refs, counts).unwrap()
        });
        assert_eq!((part.matched, part.missing, part.scanned), (20, 0, 40));
        let (buckets, other) = Counter::top(vec![part.counts], 2).unwrap();
        assert_eq!(buckets.len(), 2);
        assert_eq!((buckets[0].count, other), (4, 12));
    }

    #[test]
    fn count_in_parallel_gives_one_partial_per_worker() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 2100);
        store.seal_now().unwrap();
        let parts = with_scan(&store, "user.name:user2", |scan, cands| {
            count_in_parallel(scan, None, cands)
        });
        let matched: u64 = parts.into_iter().map(|p| p.unwrap().matched).sum();
        assert_eq!(matched, 420);
    }

    #[test]
    fn rank_keeps_the_first_n_and_sums_the_rest() {
        let mut c = Counter::new(1, Default::default());
        for (v, n) in [("a", 5), ("b", 3), ("c", 1)] {
            c.add(v, n);
        }
        let top = Aggregation::Top {
            field: "f".into(),
            n: 1,
        };
        let r = rank(&top, 9, vec![c], 2).unwrap();
        assert_eq!(
            r,
            AggregationResult::Buckets {
                field: "f".into(),
                buckets: vec![Bucket {
                    value: "a".into(),
                    count: 5
                }],
                missing: 2,
                other: 4,
            }
        );
        assert_eq!(
            rank(&Aggregation::Count, 9, vec![], 0).unwrap(),
            AggregationResult::Count(9)
        );
    }

    #[test]
    fn run_fills_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 30);
        let r = with_scan(&store, "* | count by user.name", |scan, cands| {
            let agg = scan.query.aggregation.clone().unwrap();
            run(scan, &agg, cands, SearchResult::default()).unwrap()
        });
        assert_eq!((r.matched, r.blocks_scanned), (30, 1));
        let Some(AggregationResult::Buckets { buckets, .. }) = r.aggregation else {
            panic!("buckets expected: {r:?}");
        };
        assert_eq!(buckets.len(), 5);
        assert!(buckets.iter().all(|b| b.count == 6));
    }
}
