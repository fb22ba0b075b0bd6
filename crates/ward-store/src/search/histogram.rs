//! Matches per time bucket (the console's search histogram): every
//! candidate block in the window is read, on all cores, like an
//! aggregation; each worker counts into its own buckets, summed at the end.

use super::{Candidate, Scan, SearchOptions, Window, select_blocks, term_clauses};
use crate::error::StoreError;
use crate::format::sealed::BlockReader;
use crate::query::Query;
use crate::store::{Inner, Store};
use serde::{Deserialize, Serialize};

/// Most buckets one histogram has.
pub const MAX_HISTOGRAM_BUCKETS: usize = 1000;

/// Matches per bucket of `width_ms` from `from_ms`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// Start of the first bucket (ms).
    pub from_ms: i64,
    /// Width of each bucket (ms).
    pub width_ms: i64,
    /// Matches per bucket; bucket `i` holds `[from + i·width, from + (i+1)·width)`
    /// within the search's window.
    pub counts: Vec<u64>,
    /// Matches in all buckets.
    pub matched: u64,
    /// Damaged blocks left out, each named (as [`super::SearchResult::warnings`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Store {
    /// Counts the matches of `query`'s filter (its aggregation, if any, is
    /// ignored) in `buckets` buckets of `width_ms` starting at `from_ms`,
    /// inside the options' time window. The window must be bounded on both
    /// sides by the options or the buckets.
    pub fn histogram(
        &self,
        query: &Query,
        opts: &SearchOptions,
        from_ms: i64,
        width_ms: i64,
        buckets: usize,
    ) -> Result<Histogram, StoreError> {
        run(&self.inner, query, opts, (from_ms, width_ms, buckets))
    }
}

fn run(
    inner: &Inner,
    query: &Query,
    opts: &SearchOptions,
    (from_ms, width_ms, buckets): (i64, i64, usize),
) -> Result<Histogram, StoreError> {
    if width_ms <= 0 || buckets == 0 || buckets > MAX_HISTOGRAM_BUCKETS {
        return Err(StoreError::Failed(format!(
            "a histogram needs a positive bucket width and 1 to {MAX_HISTOGRAM_BUCKETS} buckets \
             (got width {width_ms} ms, {buckets} buckets)"
        )));
    }
    let end = (buckets as i64)
        .checked_mul(width_ms)
        .and_then(|span| from_ms.checked_add(span))
        .ok_or_else(|| StoreError::Failed("the histogram's range overflows".into()))?;
    // The buckets bound the window: nothing outside them is read.
    let mut window = Window::of(query, opts);
    window.lo = Some(window.lo.map_or(from_ms, |lo| lo.max(from_ms)));
    window.hi = Some(window.hi.map_or(end - 1, |hi| hi.min(end - 1)));
    let clauses = term_clauses(query);
    let segments = inner.catalog.read().segments.clone();
    let candidates = select_blocks(&segments, window, &clauses, &mut 0);
    let scan = Scan::new(inner, query, window, &opts.stop);
    let workers = super::workers_for(candidates.len());
    let parts = super::on_workers(&candidates, workers, |cands| {
        count(&scan, &cands, (from_ms, width_ms, buckets))
    });
    let mut counts = vec![0u64; buckets];
    for p in parts {
        for (total, n) in counts.iter_mut().zip(p?) {
            *total += n;
        }
    }
    Ok(Histogram {
        from_ms,
        width_ms,
        matched: counts.iter().sum(),
        counts,
        warnings: scan.warnings.into_inner(),
    })
}

/// One worker: the matches of its blocks per bucket.
fn count(
    scan: &Scan<'_>,
    cands: &[&Candidate],
    (from_ms, width_ms, buckets): (i64, i64, usize),
) -> Result<Vec<u64>, StoreError> {
    let mut counts = vec![0u64; buckets];
    let mut reader = BlockReader::new()?;
    let (mut unparsable, mut scanned) = (0, 0);
    for c in cands {
        scan.matches(
            c,
            &mut reader,
            &mut unparsable,
            &mut scanned,
            &mut |_, _, doc| {
                let i = (doc.time_ms() - from_ms).div_euclid(width_ms);
                if let Some(n) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i)) {
                    *n += 1;
                }
            },
        )?;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use crate::SearchOptions;
    use crate::query::parse;
    use crate::testing::{T0, store_with};

    #[test]
    fn buckets_sum_to_the_searchs_count_and_split_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 3000);
        store.seal_now().unwrap();
        let all = store
            .search(&parse("* | count").unwrap(), &SearchOptions::default())
            .unwrap();
        // Records are one second apart from T0.
        let (lo, hi) = (T0, T0 + 2999 * 1000);
        let width = (hi - lo) / 10 + 1;
        let opts = SearchOptions::default();
        let h = store
            .histogram(&parse("*").unwrap(), &opts, lo, width, 10)
            .unwrap();
        assert_eq!(h.counts.len(), 10);
        assert_eq!(h.matched, all.matched, "every event falls in a bucket");
        // Each bucket agrees with a search bounded to that bucket.
        for (i, n) in h.counts.iter().enumerate() {
            let from = lo + i as i64 * width;
            let one = store
                .search(
                    &parse("* | count").unwrap(),
                    &SearchOptions {
                        since: Some(from),
                        until: Some(from + width - 1),
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(*n, one.matched, "bucket {i}");
        }
        // A filter, and a window narrower than the buckets.
        let q = parse("user.name:user2").unwrap();
        let narrow = SearchOptions {
            since: Some(lo + width),
            until: Some(lo + 2 * width - 1),
            ..Default::default()
        };
        let f = store.histogram(&q, &narrow, lo, width, 10).unwrap();
        let want = store
            .search(&parse("user.name:user2 | count").unwrap(), &narrow)
            .unwrap()
            .matched;
        assert_eq!(f.matched, want);
        assert!(
            f.counts.iter().enumerate().all(|(i, n)| i == 1 || *n == 0),
            "{:?}",
            f.counts
        );
        // Bad shapes are refused, not guessed.
        assert!(store.histogram(&q, &opts, lo, 0, 10).is_err());
        assert!(store.histogram(&q, &opts, lo, 1, 0).is_err());
        assert!(
            store
                .histogram(&q, &opts, lo, 1, super::MAX_HISTOGRAM_BUCKETS + 1)
                .is_err()
        );
        assert!(store.histogram(&q, &opts, i64::MAX - 5, 10, 10).is_err());
    }
}
