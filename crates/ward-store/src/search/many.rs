//! Many aggregations in one pass over the blocks: every block that any of
//! the queries may need is decompressed once, and each of its records is
//! decoded once and evaluated against every query whose own block selection
//! holds that block. A cycle of compliance controls asks dozens of
//! questions of the same days of events; asked one by one, each reads every
//! block of its window again.
//!
//! What no longer changes is read once: a sealed segment (or block, or
//! full write-ahead block) that lies wholly inside a query's window is
//! answered from the aggregate kept from an earlier pass
//! ([`super::partials`]), or counted whole this time and kept. Only the
//! blocks that a window's edge cuts, and the block still being written, are
//! read on every pass. The results are those of a full scan.

use super::aggregate::{count_value, rank};
use super::partials::{MAX_CACHED_VALUES, OfSegment, Partial, Unit};
use super::{
    Candidate, SearchOptions, SearchResult, Window, contains_all, may_hide_needles, needles_of,
    scan_block, term_clauses,
};
use crate::counter::Counter;
use crate::error::StoreError;
use crate::format::sealed::BlockReader;
use crate::query::{Aggregation, Doc, Query};
use crate::segment::{BlockView, MEM_BLOCK, Segment};
use crate::store::{Inner, Store};
use std::collections::HashMap;
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
    /// The query without its window: what a kept aggregate is filed under.
    key: String,
}

impl One<'_> {
    fn field(&self) -> Option<&str> {
        match self.agg {
            Aggregation::Count => None,
            Aggregation::CountBy(f) | Aggregation::Top { field: f, .. } => Some(f),
        }
    }

    /// Whether a block may hold a match, by its term filter.
    fn may_match(&self, b: &BlockView<'_>) -> bool {
        self.clauses.iter().all(|clause| {
            clause
                .iter()
                .any(|(f, h)| !b.fields.iter().any(|x| x == f) || b.bloom.may_contain(*h))
        })
    }
}

/// Where a block's records are counted for one query: into the query's
/// own result (records in its window only), or into the aggregate of a
/// unit being computed (every record).
#[derive(Clone, Copy)]
struct Target {
    query: usize,
    slot: Option<usize>,
}

/// A unit's aggregate computed in this pass, for the queries in `users`
/// (queries that differ only by their window share it).
struct Slot {
    unit: Unit,
    query: usize,
    users: Vec<usize>,
}

/// A block of the pass and where its records go.
struct Shared {
    cand: Candidate,
    targets: Vec<Target>,
}

/// One query's (or slot's) counts in one worker.
struct Acc {
    counts: Counter,
    missing: u64,
    matched: u64,
    scanned: u64,
    unparsable: u64,
    blocks: u64,
    warnings: Vec<String>,
}

impl Acc {
    fn new(parts: usize, hasher: &hashbrown::DefaultHashBuilder) -> Acc {
        Acc {
            counts: Counter::new(parts, hasher.clone()),
            missing: 0,
            matched: 0,
            scanned: 0,
            unparsable: 0,
            blocks: 0,
            warnings: Vec::new(),
        }
    }
}

/// What the pass reads, and what it already knows.
struct Plan {
    blocks: Vec<Shared>,
    slots: Vec<Slot>,
    /// Per query, the kept aggregates it adds.
    kept: Vec<Vec<Arc<Partial>>>,
    skipped: Vec<u64>,
}

impl Plan {
    /// The slot counting `unit` for the queries keyed `key`, with `query`
    /// among its users; made for `query` when there is none yet (then true).
    fn slot<'k>(
        &mut self,
        slot_of: &mut HashMap<(Unit, &'k str), usize>,
        unit: Unit,
        key: &'k str,
        query: usize,
    ) -> (usize, bool) {
        let new = self.slots.len();
        let slot = *slot_of.entry((unit, key)).or_insert(new);
        if slot == new {
            self.slots.push(Slot {
                unit,
                query,
                users: Vec::new(),
            });
        }
        self.slots[slot].users.push(query);
        (slot, slot == new)
    }
}

impl Store {
    /// Runs aggregation queries (`... | count`, `| count by F`, `| top F N`)
    /// in one pass over the store. Each result's `aggregation`, `matched`
    /// and `warnings` are those [`Store::search`] gives for the same query
    /// and options; `blocks_scanned` counts the blocks the query took part
    /// in (read now or earlier), `records_scanned` and `records_unparsable`
    /// the records of those blocks. `limit` is ignored (an aggregation
    /// returns no hits); each query's `stop` is checked before every block.
    ///
    /// Aggregates of sealed segments and blocks that lie wholly inside a
    /// window are kept for later passes, in memory and beside each segment
    /// (see the module docs).
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
            key: format!("{query:?}"),
        });
    }
    let segments: Vec<Arc<Segment>> = inner.catalog.read().segments.clone();
    let durable = inner.durable.load(std::sync::atomic::Ordering::SeqCst);
    let plan = {
        let mut kept = inner.partials.lock();
        if !kept.loaded {
            kept.loaded = true;
            let sealed: Vec<&crate::segment::SealedSegment> = segments
                .iter()
                .filter_map(|s| match &**s {
                    Segment::Sealed(s) => Some(s),
                    _ => None,
                })
                .collect();
            super::persist::load_all(&inner.verifier, &inner.seg_dir, &sealed, &mut kept);
        }
        kept.begin();
        plan(&segments, &ones, durable, &mut kept)
    };
    let workers = super::workers_for(plan.blocks.len());
    let hasher = hashbrown::DefaultHashBuilder::default();
    let parts = in_parallel(inner, &ones, &plan, workers, &hasher);
    let mut per_query: Vec<Vec<Acc>> = ones.iter().map(|_| Vec::new()).collect();
    let mut per_slot: Vec<Vec<Acc>> = plan.slots.iter().map(|_| Vec::new()).collect();
    for worker in parts {
        let (q, s) = worker?;
        for (acc, all) in q.into_iter().zip(per_query.iter_mut()) {
            all.push(acc);
        }
        for (acc, all) in s.into_iter().zip(per_slot.iter_mut()) {
            all.push(acc);
        }
    }
    let mut kept = plan.kept;
    let mut slot_warnings: Vec<Vec<String>> = ones.iter().map(|_| Vec::new()).collect();
    let to_save = {
        let mut cache = inner.partials.lock();
        let mut changed = Vec::new();
        cache.counted += plan.slots.len() as u64;
        for (slot, accs) in plan.slots.iter().zip(per_slot) {
            let (partial, warnings) = merge_slot(accs, ones[slot.query].field().is_some());
            let partial = Arc::new(partial);
            // A unit with a damaged block is read again next time (and
            // named again); one with too many values is counted again.
            if warnings.is_empty() && partial.counts.len() <= MAX_CACHED_VALUES {
                cache.put(&ones[slot.query].key, slot.unit, Arc::clone(&partial));
                if let Unit::Segment { first, digest } | Unit::SealedBlock { first, digest, .. } =
                    slot.unit
                {
                    changed.push((first, digest));
                }
            }
            for &u in &slot.users {
                kept[u].push(Arc::clone(&partial));
                slot_warnings[u].extend(warnings.iter().cloned());
            }
        }
        changed.sort();
        changed.dedup();
        changed
            .into_iter()
            .map(|(first, digest)| (first, cache.of_segment(first, &digest)))
            .collect::<Vec<_>>()
    };
    save(inner, &segments, to_save);
    ones.iter()
        .enumerate()
        .zip(per_query)
        .map(|((qi, one), accs)| {
            let mut r = SearchResult {
                blocks_skipped: plan.skipped[qi],
                ..SearchResult::default()
            };
            let mut counters = Vec::with_capacity(accs.len() + 1);
            let mut missing = 0;
            for a in accs {
                r.matched += a.matched;
                r.records_scanned += a.scanned;
                r.records_unparsable += a.unparsable;
                r.blocks_scanned += a.blocks;
                r.warnings.extend(a.warnings);
                missing += a.missing;
                counters.push(a.counts);
            }
            let mut earlier = Counter::new(workers, hasher.clone());
            for p in &kept[qi] {
                r.matched += p.matched;
                r.records_scanned += p.scanned;
                r.records_unparsable += p.unparsable;
                r.blocks_scanned += p.blocks;
                missing += p.missing;
                for (value, n) in &p.counts {
                    earlier.add(value, *n);
                }
            }
            counters.push(earlier);
            r.warnings.append(&mut slot_warnings[qi]);
            r.aggregation = Some(rank(one.agg, r.matched, counters, missing)?);
            r.warnings.sort();
            Ok(r)
        })
        .collect()
}

/// Writes the kept aggregates of the segments a pass added to, beside
/// each segment ([`super::persist`]). A failure costs only a recount after
/// the next restart.
fn save(inner: &Inner, segments: &[Arc<Segment>], to_save: Vec<(u64, OfSegment)>) {
    for (first, kept) in to_save {
        let Some(seg) = segments.iter().find_map(|s| match &**s {
            Segment::Sealed(s) if s.header.first_offset == first => Some(s),
            _ => None,
        }) else {
            continue;
        };
        if let Err(e) = super::persist::save(&inner.key, seg, kept) {
            tracing::warn!(error = %e, "kept aggregates not written; the segment is counted again after a restart");
        }
    }
}

/// One unit's aggregate from the workers' counts, and the damaged blocks
/// met.
fn merge_slot(accs: Vec<Acc>, by_value: bool) -> (Partial, Vec<String>) {
    let mut p = Partial::default();
    let mut warnings = Vec::new();
    let mut counters = Vec::with_capacity(accs.len());
    for a in accs {
        p.matched += a.matched;
        p.missing += a.missing;
        p.scanned += a.scanned;
        p.unparsable += a.unparsable;
        p.blocks += a.blocks;
        warnings.extend(a.warnings);
        counters.push(a.counts);
    }
    if by_value {
        p.counts = Counter::entries(counters);
    }
    (p, warnings)
}

/// The units a pass of `ones` needs, per query: kept aggregates it can
/// use, units to count whole now, and blocks to read within its window.
/// A sealed segment wholly inside a query's window is one unit; a segment
/// that a window's edge cuts, and the write-ahead segment, are looked at
/// block by block.
fn plan(
    segments: &[Arc<Segment>],
    ones: &[One<'_>],
    durable: u64,
    cache: &mut super::partials::Partials,
) -> Plan {
    let mut plan = Plan {
        blocks: Vec::new(),
        slots: Vec::new(),
        kept: ones.iter().map(|_| Vec::new()).collect(),
        skipped: vec![0; ones.len()],
    };
    let mut slot_of: HashMap<(Unit, &str), usize> = HashMap::new();
    for seg in segments {
        let sealed = match &**seg {
            Segment::Sealed(s) if s.index.count > 0 => Some(s),
            _ => None,
        };
        // Queries that need this segment's blocks one by one, and the
        // segment-wide units being counted now (query, slot).
        let mut by_block = Vec::new();
        let mut whole = Vec::new();
        for (qi, one) in ones.iter().enumerate() {
            let Some(s) = sealed else {
                by_block.push(qi);
                continue;
            };
            let (lo, hi) = (s.index.min_time, s.index.max_time);
            if !one.window.overlaps(lo, hi) {
                plan.skipped[qi] += s.index.blocks.len() as u64;
                continue;
            }
            if !one.window.covers(lo, hi) {
                by_block.push(qi);
                continue;
            }
            let unit = Unit::Segment {
                first: s.header.first_offset,
                digest: s.digest(),
            };
            if let Some(p) = cache.get(&one.key, &unit) {
                plan.kept[qi].push(p);
                continue;
            }
            let (slot, new) = plan.slot(&mut slot_of, unit, &one.key, qi);
            if new {
                whole.push((qi, slot));
            }
        }
        if by_block.is_empty() && whole.is_empty() {
            continue;
        }
        seg.visit_blocks(&mut |bi, b| {
            if b.count == 0 {
                return;
            }
            let mut targets = Vec::new();
            for &(qi, slot) in &whole {
                if ones[qi].may_match(&b) {
                    targets.push(Target {
                        query: qi,
                        slot: Some(slot),
                    });
                }
            }
            let unit = match sealed {
                Some(s) => Some(Unit::SealedBlock {
                    first: s.header.first_offset,
                    digest: s.digest(),
                    block: bi,
                }),
                // A full write-ahead block never changes again.
                None => (b.count == MEM_BLOCK && b.first_offset + u64::from(b.count) <= durable)
                    .then_some(Unit::OpenBlock {
                        first: b.first_offset,
                    }),
            };
            for &qi in &by_block {
                let one = &ones[qi];
                if !one.window.overlaps(b.min_time, b.max_time) || !one.may_match(&b) {
                    plan.skipped[qi] += 1;
                    continue;
                }
                let Some(unit) = unit.filter(|_| one.window.covers(b.min_time, b.max_time)) else {
                    targets.push(Target {
                        query: qi,
                        slot: None,
                    });
                    continue;
                };
                if let Some(p) = cache.get(&one.key, &unit) {
                    plan.kept[qi].push(p);
                    continue;
                }
                let (slot, new) = plan.slot(&mut slot_of, unit, &one.key, qi);
                if new {
                    targets.push(Target {
                        query: qi,
                        slot: Some(slot),
                    });
                }
            }
            if !targets.is_empty() {
                plan.blocks.push(Shared {
                    cand: Candidate {
                        seg: seg.clone(),
                        block: bi,
                        first: b.first_offset,
                        count: b.count,
                        max_time: b.max_time,
                    },
                    targets,
                });
            }
        });
    }
    plan
}

type Worker = Result<(Vec<Acc>, Vec<Acc>), StoreError>;

/// Splits the blocks over `workers` threads; per worker, one [`Acc`] per
/// query and one per slot.
fn in_parallel(
    inner: &Inner,
    ones: &[One<'_>],
    plan: &Plan,
    workers: usize,
    hasher: &hashbrown::DefaultHashBuilder,
) -> Vec<Worker> {
    super::on_workers(&plan.blocks, workers, |mine| {
        let queries = ones.iter().map(|_| Acc::new(workers, hasher)).collect();
        let slots = plan
            .slots
            .iter()
            .map(|_| Acc::new(workers, hasher))
            .collect();
        count_shared(inner, ones, &mine, queries, slots)
    })
}

/// One worker: reads each of its blocks once and counts every record into
/// the queries and slots of that block.
fn count_shared(
    inner: &Inner,
    ones: &[One<'_>],
    blocks: &[&Shared],
    mut queries: Vec<Acc>,
    mut slots: Vec<Acc>,
) -> Worker {
    let mut reader = BlockReader::new()?;
    let (mut keys, mut lower) = (Vec::new(), Vec::new());
    for b in blocks {
        for t in &b.targets {
            ones[t.query].opts.stop.check()?;
            acc(&mut queries, &mut slots, *t).blocks += 1;
        }
        let lowered_needed = b.targets.iter().any(|t| !ones[t.query].needles.is_empty());
        let mut unparsable = 0;
        let scanned = scan_block(
            inner,
            &b.cand,
            &mut reader,
            &[],
            &mut unparsable,
            None,
            &mut |_, _, time, body| {
                let mut hides = false;
                if lowered_needed {
                    lower.clear();
                    lower.extend(body.iter().map(u8::to_ascii_lowercase));
                    hides = may_hide_needles(body);
                }
                let doc = Doc::new(body, time);
                for t in &b.targets {
                    let one = &ones[t.query];
                    let p = acc(&mut queries, &mut slots, *t);
                    p.scanned += 1;
                    if (t.slot.is_none() && !one.window.contains(time))
                        || (!one.needles.is_empty()
                            && !hides
                            && !contains_all(&lower, &one.needles))
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
        for t in &b.targets {
            acc(&mut queries, &mut slots, *t).unparsable += unparsable;
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
                for t in &b.targets {
                    acc(&mut queries, &mut slots, *t)
                        .warnings
                        .push(warning.clone());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok((queries, slots))
}

fn acc<'a>(queries: &'a mut [Acc], slots: &'a mut [Acc], t: Target) -> &'a mut Acc {
    match t.slot {
        Some(s) => &mut slots[s],
        None => &mut queries[t.query],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AggregationResult;
    use crate::Record;
    use crate::StoreConfig;
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

    /// A random event at `time_ms`, in category `web` (no security
    /// minimum: retention may delete it).
    fn timed_record(rng: &mut StdRng, i: u64, time_ms: i64) -> Record {
        let mut r = random_record(rng, i);
        r.time_ms = time_ms;
        r.category = vec!["web".into()];
        r
    }

    /// Every query against `store.search`, and the number that matched.
    fn check_against_search(store: &Store, asked: &[(Query, SearchOptions)], what: &str) -> u64 {
        let together = store.aggregate_many(asked).unwrap();
        assert_eq!(together.len(), asked.len());
        let mut nonzero = 0;
        for ((q, opts), got) in asked.iter().zip(&together) {
            let alone = store.search(q, opts).unwrap();
            assert_eq!(got.aggregation, alone.aggregation, "{what}: {q:?} {opts:?}");
            assert_eq!(got.matched, alone.matched, "{what}: {q:?} {opts:?}");
            assert_eq!(
                got.records_unparsable, alone.records_unparsable,
                "{what}: {q:?}"
            );
            assert!(got.warnings.is_empty());
            nonzero += u64::from(got.matched > 0);
        }
        nonzero
    }

    #[test]
    fn passes_that_reuse_kept_aggregates_agree_with_a_full_scan() {
        let filters = [
            "*",
            "user.name:alice",
            "event.outcome:failure",
            "NOT user.name:*",
            "service.name:svc-3 OR service.name:svc-4",
            "n:<50",
            "(event.category:authentication) AND NOT (user.name:* AND event.outcome:*)",
        ];
        let aggs = ["| count", "| count by user.name", "| top service.name 2"];
        let minute = 60_000i64;
        for seed in 0..3u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let dir = tempfile::tempdir().unwrap();
            let cfg = || StoreConfig {
                retention: crate::RetentionPolicy {
                    default_days: 1,
                    force: true,
                    ..crate::RetentionPolicy::default()
                },
                ..config(dir.path())
            };
            let (mut store, _) = Store::open(cfg()).unwrap();
            // Mostly in time order, a minute apart, some late or early by
            // up to an hour, a few anywhere in the past day.
            let mut next = 0u64;
            let time_of = |rng: &mut StdRng, i: u64| {
                let t = T0 + i as i64 * minute;
                match rng.gen_range(0..20) {
                    0 => t - rng.gen_range(0..24 * 60 * minute),
                    1..=3 => t + rng.gen_range(-60 * minute..60 * minute),
                    _ => t,
                }
            };
            let queries: Vec<Query> = (0..12)
                .map(|_| {
                    let f = filters[rng.gen_range(0..filters.len())];
                    let a = aggs[rng.gen_range(0..aggs.len())];
                    parse(&format!("{f} {a}")).unwrap()
                })
                .collect();
            let mut deleted = 0;
            for pass in 0..16 {
                let n = rng.gen_range(100..600);
                let recs = (next..next + n)
                    .map(|i| {
                        let t = time_of(&mut rng, i);
                        timed_record(&mut rng, i, t)
                    })
                    .collect();
                store.append(recs).unwrap();
                next += n;
                let now = T0 + next as i64 * minute;
                match (pass, rng.gen_range(0..6)) {
                    (_, 0 | 1) => {
                        store.seal_now().unwrap();
                    }
                    (10 | 14, _) => {
                        let gone = store.apply_retention(now, false).unwrap();
                        deleted += gone
                            .iter()
                            .filter(|a| a.decision == crate::RetentionDecision::Deleted)
                            .count();
                    }
                    (6 | 12, _) | (_, 3) => {
                        store.close().unwrap();
                        store = Store::open(cfg()).unwrap().0;
                    }
                    _ => {}
                }
                // Windows ending now (as controls ask them), windows whose
                // edge is a stored record's exact time, and open ones.
                let mut asked = Vec::new();
                for q in &queries {
                    for w in [60 * minute, 6 * 60 * minute, 24 * 60 * minute] {
                        let opts = SearchOptions {
                            since: Some(now - w),
                            until: Some(now),
                            limit: 0,
                            ..SearchOptions::default()
                        };
                        asked.push((q.clone(), opts));
                    }
                    let edge = T0 + rng.gen_range(0..next as i64) * minute;
                    let opts = SearchOptions {
                        since: Some(edge),
                        until: rng.gen_bool(0.5).then_some(edge + 90 * minute),
                        limit: 0,
                        ..SearchOptions::default()
                    };
                    asked.push((q.clone(), opts));
                }
                asked.push((queries[0].clone(), SearchOptions::default()));
                let what = format!("seed {seed} pass {pass}");
                let nonzero = check_against_search(&store, &asked, &what);
                assert!(nonzero > 5, "{what}: the mix matches something");
            }
            assert!(deleted > 0, "seed {seed}: retention deleted a segment");
            assert!(
                store.inner.partials.lock().len() > 0,
                "seed {seed}: later passes had kept aggregates to use"
            );
        }
    }

    #[test]
    fn a_segment_sealed_again_is_never_answered_from_its_former_aggregate() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            segment_max_bytes: 4 << 20,
            ..config(dir.path())
        };
        let (store, _) = Store::open(cfg).unwrap();
        for from in (0..2500).step_by(100) {
            store
                .append(crate::testing::records(from..from + 100))
                .unwrap();
        }
        store.seal_now().unwrap();
        let asked = vec![(
            parse("* | count by user.name").unwrap(),
            SearchOptions::default(),
        )];
        let first = store.aggregate_many(&asked).unwrap();
        let kept = store.inner.partials.lock().len();
        assert!(kept > 0);
        // The same first offset under another index: a new unit.
        let mut cat = store.inner.catalog.write();
        let Segment::Sealed(s) = &*cat.segments[0] else {
            panic!("sealed")
        };
        let mut other = crate::segment::SealedSegment::open(s.path.clone()).unwrap();
        assert!(other.index.blocks.len() > 1);
        other.index.blocks.truncate(1);
        other.index.count = u64::from(other.index.blocks[0].count);
        assert_ne!(other.digest(), s.digest());
        let fewer = other.index.count;
        cat.segments[0] = Arc::new(Segment::Sealed(other));
        drop(cat);
        let second = store.aggregate_many(&asked).unwrap();
        assert_eq!(first[0].matched, 2500);
        assert_eq!(second[0].matched, fewer);
        assert_eq!(
            second[0].aggregation,
            store.search(&asked[0].0, &asked[0].1).unwrap().aggregation
        );
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
