//! Counting values for `| count by` and `| top`.
//!
//! A count-by over a million events can see a million distinct values, so
//! the per-record cost is what matters: a key is looked up by its bytes
//! (borrowed from the decompressed block, hashed with foldhash) and copied
//! once, into one arena per worker, only the first time it is seen. No
//! `String` is made per record or per distinct value; `String`s are built
//! only for the buckets returned.
//!
//! Each worker's counts are split into hash partitions with a hasher
//! shared by all workers, so partition i of every worker holds the same
//! values: [`Counter::top`] merges and ranks one partition per thread, and
//! the overall first buckets are among each partition's first ones.
//!
//! Invariant: every key in the arena is valid UTF-8 (keys come in as
//! `&str`), so the buckets can be made without a lossy conversion.

use crate::search::Bucket;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// One distinct value: where its bytes are in the arena, and its count.
struct Entry {
    hash: u64,
    start: usize,
    len: usize,
    count: u64,
}

/// The values of one hash partition, as counted by one worker.
#[derive(Default)]
struct Part {
    arena: Vec<u8>,
    table: HashTable<Entry>,
}

impl Part {
    fn add(&mut self, hash: u64, key: &[u8], n: u64) {
        let arena = &self.arena;
        let found = self.table.find_mut(hash, |e| {
            e.hash == hash && e.len == key.len() && &arena[e.start..e.start + e.len] == key
        });
        if let Some(e) = found {
            e.count += n;
            return;
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(key);
        self.table.insert_unique(
            hash,
            Entry {
                hash,
                start,
                len: key.len(),
                count: n,
            },
            |e| e.hash,
        );
    }

    fn key(&self, e: &Entry) -> &[u8] {
        &self.arena[e.start..e.start + e.len]
    }
}

/// Counts per distinct value, split into hash partitions so that the
/// workers' counts can be merged and ranked one partition per thread.
pub(crate) struct Counter {
    parts: Vec<Part>,
    hasher: DefaultHashBuilder,
}

/// Bucket order: descending count, then value.
fn order(a: &(u64, &[u8]), b: &(u64, &[u8])) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1))
}

/// Keeps the `keep` first of `all` in bucket order (sorted) and returns
/// the sum of the counts left out.
fn select_top(all: &mut Vec<(u64, &[u8])>, keep: usize) -> u64 {
    let mut other = 0;
    if all.len() > keep {
        all.select_nth_unstable_by(keep, order);
        other = all[keep..].iter().map(|e| e.0).sum();
        all.truncate(keep);
    }
    all.sort_unstable_by(order);
    other
}

impl Counter {
    /// A counter with `parts` partitions (at least one). Counters that are
    /// merged by [`Counter::top`] must share `hasher` (a clone) and `parts`.
    pub(crate) fn new(parts: usize, hasher: DefaultHashBuilder) -> Self {
        Counter {
            parts: (0..parts.max(1)).map(|_| Part::default()).collect(),
            hasher,
        }
    }

    /// Adds `n` to the count of `key`.
    pub(crate) fn add(&mut self, key: &str, n: u64) {
        let hash = self.hasher.hash_one(key.as_bytes());
        // Bits 40..64 pick the partition: the table uses the low bits for
        // its slot and the top 7 for its tags.
        let i = ((hash >> 40) as usize) % self.parts.len();
        self.parts[i].add(hash, key.as_bytes(), n);
    }

    /// Merges counters built with the same hasher and number of parts
    /// (one partition per thread) and returns the `keep` largest counts as
    /// buckets, by descending count then value, and the sum of the counts
    /// left out. `None` if a thread failed.
    pub(crate) fn top(counters: Vec<Counter>, keep: usize) -> Option<(Vec<Bucket>, u64)> {
        let n = counters.iter().map(|c| c.parts.len()).max()?;
        let mut by_part: Vec<Vec<Part>> = (0..n).map(|_| Vec::new()).collect();
        for c in counters {
            for (i, p) in c.parts.into_iter().enumerate() {
                by_part[i].push(p);
            }
        }
        let ranked: Vec<Option<(Vec<Bucket>, u64)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = by_part
                .into_iter()
                .map(|parts| scope.spawn(move || merge_and_rank(parts, keep)))
                .collect();
            handles.into_iter().map(|h| h.join().ok()).collect()
        });
        // The overall first `keep` are among each partition's first `keep`
        // (partitions hold disjoint values).
        let mut other = 0;
        let mut candidates = Vec::new();
        for r in ranked {
            let (buckets, rest) = r?;
            other += rest;
            candidates.extend(buckets);
        }
        let (buckets, rest) = rank(
            candidates
                .iter()
                .map(|b| (b.count, b.value.as_bytes()))
                .collect(),
            keep,
        );
        Some((buckets, other + rest))
    }
}

impl Counter {
    /// Every value with its count over `counters` (built with the same
    /// hasher and number of parts), in no order, on this thread.
    pub(crate) fn entries(counters: Vec<Counter>) -> Vec<(Box<str>, u64)> {
        let n = counters.iter().map(|c| c.parts.len()).max().unwrap_or(0);
        let mut by_part: Vec<Vec<Part>> = (0..n).map(|_| Vec::new()).collect();
        for c in counters {
            for (i, p) in c.parts.into_iter().enumerate() {
                by_part[i].push(p);
            }
        }
        let mut out = Vec::new();
        for parts in by_part {
            let base = merge(parts);
            out.extend(base.table.iter().map(|e| {
                // Keys were `&str` when added (module invariant).
                let key = String::from_utf8_lossy(base.key(e)).into_owned();
                (key.into_boxed_str(), e.count)
            }));
        }
        out
    }
}

/// The first `keep` (count, value) pairs as buckets, and the total count
/// of the others.
fn rank(mut all: Vec<(u64, &[u8])>, keep: usize) -> (Vec<Bucket>, u64) {
    let other = select_top(&mut all, keep);
    let buckets = all
        .into_iter()
        .map(|(count, value)| Bucket {
            // Keys were `&str` when added (module invariant).
            value: String::from_utf8_lossy(value).into_owned(),
            count,
        })
        .collect();
    (buckets, other)
}

/// Merges one partition of every worker into the largest.
fn merge(mut parts: Vec<Part>) -> Part {
    parts.sort_by_key(|p| std::cmp::Reverse(p.table.len()));
    let mut it = parts.into_iter();
    let mut base = it.next().unwrap_or_default();
    for p in it {
        for e in &p.table {
            // Same hasher: the stored hash is valid in `base` too.
            base.add(e.hash, p.key(e), e.count);
        }
    }
    base
}

/// Merges one partition of every worker into the largest and ranks it.
fn merge_and_rank(parts: Vec<Part>, keep: usize) -> (Vec<Bucket>, u64) {
    let base = merge(parts);
    rank(
        base.table.iter().map(|e| (e.count, base.key(e))).collect(),
        keep,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The reference: a plain map of owned strings, ordered as the search
    /// module documents (descending count, then value).
    fn reference(keys: &[String], keep: usize) -> (Vec<Bucket>, u64) {
        let mut m: HashMap<&str, u64> = HashMap::new();
        for k in keys {
            *m.entry(k).or_default() += 1;
        }
        let mut all: Vec<Bucket> = m
            .into_iter()
            .map(|(value, count)| Bucket {
                value: value.to_owned(),
                count,
            })
            .collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        let other = all.iter().skip(keep).map(|b| b.count).sum();
        all.truncate(keep);
        (all, other)
    }

    proptest! {
        #[test]
        fn matches_a_plain_map(keys in proptest::collection::vec("[ab\u{e9}]{0,3}", 0..200),
                               split in 0usize..200, keep in 0usize..12, parts in 1usize..4) {
            let split = split.min(keys.len());
            let hasher = DefaultHashBuilder::default();
            let (mut a, mut b) = (Counter::new(parts, hasher.clone()), Counter::new(parts, hasher));
            for k in &keys[..split] {
                a.add(k, 1);
            }
            for k in &keys[split..] {
                b.add(k, 1);
            }
            prop_assert_eq!(Counter::top(vec![a, b], keep), Some(reference(&keys, keep)));
        }
    }
}
