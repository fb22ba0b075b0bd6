//! Aggregates of data that no longer changes, kept between passes of
//! [`crate::Store::aggregate_many`], so that a pass costs what changed
//! since the last one rather than the whole window.
//!
//! A *unit* is a sealed segment, one block of a sealed segment, or a full
//! in-memory block of the write-ahead segment (its records are durable and
//! no record is ever added to it). A unit's aggregate for a query counts
//! every record of the unit, whatever its time: it stands in for a scan
//! only when the query's window holds the unit's whole time range. A
//! segment and its blocks are named by the segment's first offset and the
//! SHA-256 of its index (what its signature binds), so a segment sealed
//! again or rebuilt differently never meets an aggregate of its former
//! self; a deleted segment is no longer in the catalog and its aggregates
//! are never looked up again, and age out.
//!
//! The aggregates of sealed segments and their blocks are also written
//! beside each segment and read back after a restart ([`super::persist`]).

use crate::merkle::Hash;
use std::collections::HashMap;
use std::sync::Arc;

/// Most distinct values a cached `count by` keeps: a unit with more is
/// counted again on every pass instead of holding a high-cardinality
/// field's values in memory.
pub(crate) const MAX_CACHED_VALUES: usize = 10_000;
/// Passes an unused aggregate of a block is kept (blocks are looked at
/// only while a window's edge crosses their segment).
const BLOCK_PASSES: u64 = 8;
/// Passes an unused aggregate of a segment is kept.
const SEGMENT_PASSES: u64 = 1_024;

/// What an aggregate covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Unit {
    /// A whole sealed segment.
    Segment { first: u64, digest: Hash },
    /// One block of a sealed segment.
    SealedBlock {
        first: u64,
        digest: Hash,
        block: usize,
    },
    /// A full block of a write-ahead segment, by its first offset.
    OpenBlock { first: u64 },
}

impl Unit {
    fn is_segment(&self) -> bool {
        matches!(self, Unit::Segment { .. })
    }
}

/// A query's aggregate over one unit.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Partial {
    pub matched: u64,
    pub missing: u64,
    pub scanned: u64,
    pub unparsable: u64,
    pub blocks: u64,
    /// Per value, for `count by` and `top`.
    pub counts: Vec<(Box<str>, u64)>,
}

struct Entry {
    partial: Arc<Partial>,
    used: u64,
}

/// A segment's kept aggregates: (query, block or none for the whole
/// segment, aggregate).
pub(crate) type OfSegment = Vec<(String, Option<usize>, Arc<Partial>)>;

/// The aggregates kept, per query (its parsed form, window aside) and
/// unit.
#[derive(Default)]
pub(crate) struct Partials {
    pass: u64,
    by_query: HashMap<String, HashMap<Unit, Entry>>,
    /// Whether the files of the segments were read ([`super::persist`]).
    pub(crate) loaded: bool,
    /// Files not used, and why.
    pub(crate) rejected: Vec<String>,
    /// Units counted whole since the store opened (what was not kept).
    pub(crate) counted: u64,
}

impl Partials {
    /// Starts a pass: forgets what has not been used for a while.
    pub(crate) fn begin(&mut self) {
        self.pass += 1;
        let pass = self.pass;
        self.by_query.retain(|_, units| {
            units.retain(|u, e| {
                let keep = if u.is_segment() {
                    SEGMENT_PASSES
                } else {
                    BLOCK_PASSES
                };
                pass - e.used <= keep
            });
            !units.is_empty()
        });
    }

    /// The aggregate of `query` over `unit`, if kept.
    pub(crate) fn get(&mut self, query: &str, unit: &Unit) -> Option<Arc<Partial>> {
        let e = self.by_query.get_mut(query)?.get_mut(unit)?;
        e.used = self.pass;
        Some(Arc::clone(&e.partial))
    }

    /// Keeps the aggregate of `query` over `unit`.
    pub(crate) fn put(&mut self, query: &str, unit: Unit, partial: Arc<Partial>) {
        let used = self.pass;
        self.by_query
            .entry(query.to_owned())
            .or_default()
            .insert(unit, Entry { partial, used });
    }

    /// Every aggregate kept of the sealed segment `first` (whose index
    /// digest is `digest`) and of its blocks, as (query, block, aggregate).
    pub(crate) fn of_segment(&self, first: u64, digest: &Hash) -> OfSegment {
        let mut out = Vec::new();
        for (query, units) in &self.by_query {
            for (unit, e) in units {
                let block = match *unit {
                    Unit::Segment {
                        first: f,
                        digest: d,
                    } if f == first && d == *digest => None,
                    Unit::SealedBlock {
                        first: f,
                        digest: d,
                        block,
                    } if f == first && d == *digest => Some(block),
                    _ => continue,
                };
                out.push((query.clone(), block, Arc::clone(&e.partial)));
            }
        }
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        out
    }

    /// Aggregates kept (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_query.values().map(HashMap::len).sum()
    }
}
