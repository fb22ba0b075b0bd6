//! Many aggregations in one pass over the blocks: every block that any of
//! the queries may need is decompressed once, and each of its records is
//! decoded once and evaluated against every query whose own block selection
//! holds that block. A cycle of compliance controls asks dozens of
//! questions of the same days of events; asked one by one, each reads every
//! block of its window again.

use super::aggregate::{count_value, rank};
use super::{
    Candidate, SearchOptions, SearchResult, Window, contains_all, needles_of, scan_block,
    term_clauses,
};
use crate::counter::Counter;
use crate::error::StoreError;
use crate::format::sealed::BlockReader;
use crate::query::{Aggregation, Doc, Query};
use crate::segment::Segment;
use crate::store::{Inner, Store};
use std::sync::Arc;

/// Most queries in one pass.
pub const MAX_AGGREGATIONS: usize = 4_096;

/// One query of the pass.
struct One<'a> {
    query: &'a Query,
    agg: &'a Aggregation,
    window: Window,
    clauses: Vec<Vec<(String, u64)>>,
    needles: Vec<Vec<Vec<u8>>>,
    opts: &'a SearchOptions,
}

impl One<'_> {
    fn field(&self) -> Option<&str> {
        match self.agg {
            Aggregation::Count => None,
            Aggregation::CountBy(f) | Aggregation::Top { field: f, .. } => Some(f),
        }
    }
}

/// A block of the pass and the queries that read it.
struct Shared {
    cand: Candidate,
    queries: Vec<usize>,
}

/// One query's counts in one worker.
struct Partial {
    counts: Counter,
    missing: u64,
    matched: u64,
    scanned: u64,
    unparsable: u64,
    blocks: u64,
    warnings: Vec<String>,
}

impl Store {
    /// Runs aggregation queries (`... | count`, `| count by F`, `| top F N`)
    /// in one pass over the store. Each result's `aggregation`, `matched`
    /// and `warnings` are those [`Store::search`] gives for the same query
    /// and options; `blocks_scanned` counts the blocks the query took part
    /// in, `records_scanned` and `records_unparsable` the records of those
    /// blocks. `limit` is ignored (an aggregation returns no hits); each
    /// query's `stop` is checked before every block.
    ///
    /// # Errors
    /// A query without an aggregation, more than [`MAX_AGGREGATIONS`] queries,
    /// a stopped search or a store error.
    pub fn aggregate_many(
        &self,
        queries: &[(Query, SearchOptions)],
    ) -> Result<Vec<SearchResult>, StoreError> {
        run_many(&self.inner, queries)
    }
}

fn run_many(
    inner: &Inner,
    queries: &[(Query, SearchOptions)],
) -> Result<Vec<SearchResult>, StoreError> {
    if queries.len() > MAX_AGGREGATIONS {
        return Err(StoreError::Failed(format!(
            "{} aggregations in one pass (at most {MAX_AGGREGATIONS})",
            queries.len()
        )));
    }
    let mut ones = Vec::with_capacity(queries.len());
    for (i, (query, opts)) in queries.iter().enumerate() {
        let Some(agg) = &query.aggregation else {
            return Err(StoreError::Failed(format!(
                "query {i} of the pass has no aggregation"
            )));
        };
        ones.push(One {
            query,
            agg,
            window: Window::of(query, opts),
            clauses: term_clauses(query),
            needles: needles_of(query),
            opts,
        });
    }
    let segments: Vec<Arc<Segment>> = inner.catalog.read().segments.clone();
    let mut skipped = vec![0u64; ones.len()];
    let blocks = select_shared(&segments, &ones, &mut skipped);
    let parts = in_parallel(inner, &ones, &blocks);
    let mut merged: Vec<(Vec<Counter>, SearchResult, u64)> = ones
        .iter()
        .zip(&skipped)
        .map(|(_, s)| {
            let r = SearchResult {
                blocks_skipped: *s,
                ..SearchResult::default()
            };
            (Vec::new(), r, 0)
        })
        .collect();
    for worker in parts {
        for (p, (counters, r, missing)) in worker?.into_iter().zip(merged.iter_mut()) {
            r.matched += p.matched;
            r.records_scanned += p.scanned;
            r.records_unparsable += p.unparsable;
            r.blocks_scanned += p.blocks;
            r.warnings.extend(p.warnings);
            *missing += p.missing;
            counters.push(p.counts);
        }
    }
    merged
        .into_iter()
        .zip(&ones)
        .map(|((counters, mut r, missing), one)| {
            r.aggregation = Some(rank(one.agg, r.matched, counters, missing)?);
            r.warnings.sort();
            Ok(r)
        })
        .collect()
}

/// The blocks any query may need (by its window and term filters, as
/// [`super::select_blocks`] decides), each with the queries that need it.
fn select_shared(segments: &[Arc<Segment>], ones: &[One<'_>], skipped: &mut [u64]) -> Vec<Shared> {
    let mut out = Vec::new();
    for seg in segments {
        seg.visit_blocks(&mut |i, b| {
            let mut queries = Vec::new();
            for (qi, one) in ones.iter().enumerate() {
                let terms_ok = one.clauses.iter().all(|clause| {
                    clause
                        .iter()
                        .any(|(f, h)| !b.fields.iter().any(|x| x == f) || b.bloom.may_contain(*h))
                });
                if one.window.overlaps(b.min_time, b.max_time) && terms_ok && b.count > 0 {
                    queries.push(qi);
                } else {
                    skipped[qi] += 1;
                }
            }
            if !queries.is_empty() {
                out.push(Shared {
                    cand: Candidate {
                        seg: seg.clone(),
                        block: i,
                        first: b.first_offset,
                        count: b.count,
                        max_time: b.max_time,
                    },
                    queries,
                });
            }
        });
    }
    out
}

type Worker = Result<Vec<Partial>, StoreError>;

/// Splits the blocks over the cores; per worker, one [`Partial`] per query.
fn in_parallel(inner: &Inner, ones: &[One<'_>], blocks: &[Shared]) -> Vec<Worker> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(blocks.len().max(1));
    let hasher = hashbrown::DefaultHashBuilder::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let mine: Vec<&Shared> = blocks.iter().skip(w).step_by(workers).collect();
                let hasher = hasher.clone();
                s.spawn(move || {
                    let parts = ones
                        .iter()
                        .map(|_| Partial {
                            counts: Counter::new(workers, hasher.clone()),
                            missing: 0,
                            matched: 0,
                            scanned: 0,
                            unparsable: 0,
                            blocks: 0,
                            warnings: Vec::new(),
                        })
                        .collect();
                    count_shared(inner, ones, &mine, parts)
                })
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

/// One worker: reads each of its blocks once and counts every record into
/// the queries of that block.
fn count_shared(
    inner: &Inner,
    ones: &[One<'_>],
    blocks: &[&Shared],
    mut parts: Vec<Partial>,
) -> Worker {
    let mut reader = BlockReader::new()?;
    let (mut keys, mut lower) = (Vec::new(), Vec::new());
    for b in blocks {
        for &qi in &b.queries {
            ones[qi].opts.stop.check()?;
            parts[qi].blocks += 1;
        }
        let lowered_needed = b.queries.iter().any(|&qi| !ones[qi].needles.is_empty());
        let mut unparsable = 0;
        let scanned = scan_block(
            inner,
            &b.cand,
            &mut reader,
            &[],
            &mut unparsable,
            &mut |_, _, time, body| {
                if lowered_needed {
                    lower.clear();
                    lower.extend(body.iter().map(u8::to_ascii_lowercase));
                }
                let doc = Doc::new(body, time);
                for &qi in &b.queries {
                    let (one, p) = (&ones[qi], &mut parts[qi]);
                    p.scanned += 1;
                    if !one.window.contains(time)
                        || (!one.needles.is_empty() && !contains_all(&lower, &one.needles))
                        || !one.query.expr.matches(&doc)
                    {
                        continue;
                    }
                    p.matched += 1;
                    if let Some(f) = one.field() {
                        count_value(&doc, f, &mut p.counts, &mut p.missing, &mut keys);
                    }
                }
            },
        );
        for &qi in &b.queries {
            parts[qi].unparsable += unparsable;
        }
        match scanned {
            Ok(()) => {}
            // As in a single search: a damaged sealed block costs its own
            // events, and every query that needed it names it.
            Err(e @ StoreError::Corrupt { .. }) if matches!(&*b.cand.seg, Segment::Sealed(_)) => {
                let c = &b.cand;
                let last = c.first + u64::from(c.count).saturating_sub(1);
                let warning = format!(
                    "block {} of {} (records {}..={last}) could not be read and is left out: {e}",
                    c.block,
                    c.seg.path().display(),
                    c.first
                );
                tracing::warn!(%warning, "search skipped a damaged block");
                for &qi in &b.queries {
                    parts[qi].warnings.push(warning.clone());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AggregationResult;
    use crate::Record;
    use crate::query::parse;
    use crate::testing::{T0, config, store_with};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A random event, its time within an hour of `T0`.
    fn random_record(rng: &mut StdRng, i: u64) -> Record {
        let users = ["alice", "Bob", "carol", "dave", "eve", "mallory"];
        let outcomes = ["success", "failure", "unknown"];
        let id = format!("r-{i}");
        let mut body = serde_json::json!({
            "event": {"id": id, "outcome": outcomes[rng.gen_range(0..3)],
                      "category": if rng.gen_bool(0.5) { "authentication" } else { "web" }},
            "service": {"name": format!("svc-{}", rng.gen_range(0..7))},
            "n": rng.gen_range(0..100),
        });
        if rng.gen_bool(0.8) {
            body["user"] = serde_json::json!({"name": users[rng.gen_range(0..users.len())]});
        }
        if rng.gen_bool(0.1) {
            body["tags"] = serde_json::json!(["a", "b"]);
        }
        let user = body
            .pointer("/user/name")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        Record {
            id,
            time_ms: T0 + rng.gen_range(0..3_600_000),
            category: vec!["authentication".into()],
            terms: user.map(|u| ("user.name".into(), u)).into_iter().collect(),
            body: serde_json::to_vec(&body).unwrap(),
        }
    }

    #[test]
    fn one_pass_agrees_with_each_search_on_random_queries_and_windows() {
        let filters = [
            "*",
            "user.name:alice",
            "user.name:bob",
            "event.outcome:failure",
            "event.category:web AND event.outcome:success",
            "NOT user.name:*",
            "service.name:svc-3 OR service.name:svc-4",
            "n:<50",
            "tags:a",
            "(event.category:authentication) AND NOT (user.name:* AND event.outcome:*)",
        ];
        let aggs = [
            "| count",
            "| count by user.name",
            "| count by service.name",
            "| top user.name 2",
        ];
        for seed in 0..4u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let dir = tempfile::tempdir().unwrap();
            let (store, _) = Store::open(config(dir.path())).unwrap();
            for batch in 0..30 {
                let recs = (0..100)
                    .map(|k| random_record(&mut rng, batch * 100 + k))
                    .collect();
                store.append(recs).unwrap();
                if batch == 20 {
                    store.seal_now().unwrap();
                }
            }
            let mut asked = Vec::new();
            for _ in 0..40 {
                let f = filters[rng.gen_range(0..filters.len())];
                let a = aggs[rng.gen_range(0..aggs.len())];
                let since = T0 + rng.gen_range(-600_000..3_600_000);
                let until = since + rng.gen_range(0..2_400_000);
                let opts = SearchOptions {
                    since: rng.gen_bool(0.9).then_some(since),
                    until: Some(until),
                    limit: 0,
                    ..SearchOptions::default()
                };
                asked.push((parse(&format!("{f} {a}")).unwrap(), opts));
            }
            let together = store.aggregate_many(&asked).unwrap();
            assert_eq!(together.len(), asked.len());
            let mut nonzero = 0;
            for ((q, opts), got) in asked.iter().zip(&together) {
                let alone = store.search(q, opts).unwrap();
                assert_eq!(got.aggregation, alone.aggregation, "seed {seed}: {q:?}");
                assert_eq!(got.matched, alone.matched, "seed {seed}: {q:?}");
                assert!(got.warnings.is_empty());
                nonzero += u64::from(got.matched > 0);
            }
            assert!(nonzero > 10, "seed {seed}: the mix matches something");
        }
    }

    #[test]
    fn a_query_without_aggregation_or_too_many_queries_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 20);
        let plain = (parse("user.name:user1").unwrap(), SearchOptions::default());
        let e = store.aggregate_many(&[plain]).unwrap_err();
        assert!(e.to_string().contains("query 0"), "{e}");
        let count = (parse("| count").unwrap(), SearchOptions::default());
        let many = vec![count; MAX_AGGREGATIONS + 1];
        let e = store.aggregate_many(&many).unwrap_err();
        assert!(e.to_string().contains("at most"), "{e}");
        assert!(store.aggregate_many(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_damaged_block_is_named_in_every_query_that_needed_it() {
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
        let asked = vec![
            (parse("| count").unwrap(), SearchOptions::default()),
            (
                parse("* | count by user.name").unwrap(),
                SearchOptions::default(),
            ),
            (
                parse("| count").unwrap(),
                SearchOptions {
                    since: Some(T0 + 2400 * 1000),
                    ..SearchOptions::default()
                },
            ),
        ];
        let got = store.aggregate_many(&asked).unwrap();
        for (i, r) in got.iter().enumerate().take(2) {
            assert_eq!(r.warnings.len(), 1, "query {i}: {:?}", r.warnings);
            assert!(r.warnings[0].contains("block 0 of"), "{}", r.warnings[0]);
            let alone = store.search(&asked[i].0, &asked[i].1).unwrap();
            assert_eq!(
                (r.matched, &r.aggregation),
                (alone.matched, &alone.aggregation)
            );
        }
        assert_eq!(got[0].matched, 2500 - u64::from(block.count));
        assert!(
            got[2].warnings.is_empty(),
            "the last query never read block 0"
        );
        assert_eq!(got[2].aggregation, Some(AggregationResult::Count(100)));
    }
}
