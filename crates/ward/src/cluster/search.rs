//! Search across nodes: the sealed segments every node uploaded
//! ([`super::segments`]) are searched in the bucket, without the nodes.
//!
//! The [`Catalog`] (from `<prefix>segments`) gives each segment's event-time
//! range, so segments outside the search's window are never touched. Of
//! the others, the footer and the index section are read first (two
//! ranged GETs), the index is checked against the signature the node made
//! when it sealed the segment (its key read from the node's own place in
//! the bucket), and then only the blocks the query can match (by time and
//! by the blocks' term filters) are read, with the blocks their Merkle
//! chunks span, and checked: checksum, and every record a leaf of the
//! signed Merkle summary ([`ward_store::remote`]). A segment that fails is
//! named in the answer's warnings, never searched silently.
//!
//! The query is the caller's, tenant scope included, evaluated as the
//! local search evaluates it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use ward_store::remote::{RangeRead, RemoteStats, open_remote, search_remote};
use ward_store::{Hit, SearchOptions, SearchResult, StoreError};

use super::segments::{Catalog, SegmentRecord};
use crate::config::S3Config;
use crate::metrics::Metrics;
use crate::store::s3::{Location, S3};

/// Searches the cluster's bucket.
pub struct Remote {
    /// `cluster.segments_bucket`.
    pub location: Location,
    /// Endpoint and credentials (`[archive.s3]`).
    pub s3: S3Config,
    /// What `<prefix>segments` recorded.
    pub catalog: Arc<Catalog>,
    pub metrics: Arc<Metrics>,
}

/// What the bucket part of a search did (the `cluster` member of the
/// answer).
#[derive(Debug, Default, Clone, Serialize)]
pub struct RemoteReport {
    /// Segments recorded in `<prefix>segments`.
    pub segments: usize,
    /// Segments whose blocks were searched.
    pub segments_searched: usize,
    /// Segments left alone: outside the time window, or older than the
    /// oldest hit kept once the limit was reached.
    pub segments_skipped: usize,
    /// Blocks searched.
    pub blocks_scanned: u64,
    /// Blocks read only to check a Merkle chunk of a searched block.
    pub blocks_for_proof: u64,
    /// Blocks left alone by time or term filter.
    pub blocks_skipped: u64,
    /// Ranged GETs of segment objects.
    pub ranged_gets: u64,
    /// Bytes those returned.
    pub bytes_fetched: u64,
    /// Total size of the segments searched.
    pub bytes_in_segments: u64,
    /// Hits from the bucket that the local store did not already have.
    pub hits_added: usize,
}

/// One object read by ranged GETs, counting what the server sent.
struct Object<'a> {
    s3: &'a S3,
    key: String,
    gets: u64,
    sent: u64,
}

impl Object<'_> {
    fn counted(
        &mut self,
        part: Result<crate::store::s3::Part, crate::store::s3::S3Error>,
    ) -> Result<crate::store::s3::Part, StoreError> {
        let part = part.map_err(|e| StoreError::Failed(e.to_string()))?;
        self.gets += 1;
        self.sent += part.sent;
        Ok(part)
    }
}

impl RangeRead for Object<'_> {
    fn read(&mut self, start: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        let part = self.s3.get_range(&self.key, start, len);
        self.counted(part).map(|p| p.bytes)
    }

    fn read_tail(&mut self, len: u64) -> Result<(Vec<u8>, u64), StoreError> {
        let part = self.s3.get_tail(&self.key, len);
        self.counted(part).map(|p| (p.bytes, p.size))
    }
}

impl Remote {
    /// Runs `query` over the recorded segments (blocking); warnings name
    /// each segment that could not be searched.
    pub fn search(
        &self,
        query: &ward_store::Query,
        opts: &SearchOptions,
    ) -> Result<(Vec<Hit>, RemoteReport, Vec<String>), StoreError> {
        let mut report = RemoteReport::default();
        let mut warnings = Vec::new();
        let mut records = self.catalog.all();
        report.segments = records.len();
        let (qlo, qhi) = query.expr.time_bounds();
        let lo = [opts.since, qlo].into_iter().flatten().max();
        let hi = [opts.until, qhi].into_iter().flatten().min();
        records.retain(|r| {
            let s = &r.segment;
            let inside =
                lo.is_none_or(|lo| s.max_time_ms >= lo) && hi.is_none_or(|hi| s.min_time_ms <= hi);
            if !inside {
                report.segments_skipped += 1;
            }
            inside
        });
        // Newest first: with a limit, older segments are left once enough
        // newer hits are kept.
        records.sort_by_key(|r| std::cmp::Reverse(r.segment.max_time_ms));
        let s3 = S3::new(
            &self.s3,
            Location {
                bucket: self.location.bucket.clone(),
                prefix: String::new(),
            },
            &|k| std::env::var(k).ok(),
        )
        .map_err(|e| StoreError::Failed(e.to_string()))?;
        let mut keys: BTreeMap<String, Result<String, String>> = BTreeMap::new();
        let mut hits: Vec<Hit> = Vec::new();
        for r in records {
            opts.stop.check()?;
            if hits.len() >= opts.limit
                && hits
                    .iter()
                    .map(|h| h.time_ms)
                    .min()
                    .is_some_and(|oldest| r.segment.max_time_ms < oldest)
            {
                report.segments_skipped += 1;
                continue;
            }
            let key = keys
                .entry(r.node.clone())
                .or_insert_with(|| read_text(&s3, &r.object(&r.segment.key)))
                .clone();
            let mut stats = RemoteStats::default();
            let mut object = Object {
                s3: &s3,
                key: r.object(&r.segment.object),
                gets: 0,
                sent: 0,
            };
            let found = key.and_then(|key| {
                search_one(&mut object, &r, &key, query, opts, &mut stats)
                    .map_err(|e| e.to_string())
            });
            report.ranged_gets += object.gets;
            report.bytes_fetched += object.sent;
            report.blocks_scanned += stats.blocks_scanned;
            report.blocks_for_proof += stats.blocks_for_proof;
            report.blocks_skipped += stats.blocks_skipped;
            self.metrics
                .add("ward_cluster_search_ranged_gets_total", &[], object.gets);
            self.metrics
                .add("ward_cluster_search_bytes_total", &[], object.sent);
            match found {
                Ok(mut h) => {
                    report.segments_searched += 1;
                    report.bytes_in_segments += r.segment.bytes;
                    hits.append(&mut h);
                    hits.sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then(b.id.cmp(&a.id)));
                    hits.truncate(opts.limit);
                }
                Err(why) => {
                    self.metrics
                        .add("ward_cluster_search_segment_failures_total", &[], 1);
                    let warning = format!(
                        "segment {} of node {} (records {}..={}) could not be searched and is left out: {why}",
                        s3.show(&r.object(&r.segment.object)),
                        r.node,
                        r.segment.first,
                        r.segment.last
                    );
                    tracing::warn!(%warning, "cluster search skipped a segment");
                    warnings.push(warning);
                }
            }
        }
        Ok((hits, report, warnings))
    }
}

/// Opens and searches one recorded segment.
fn search_one(
    object: &mut Object<'_>,
    r: &SegmentRecord,
    public_key: &str,
    query: &ward_store::Query,
    opts: &SearchOptions,
    stats: &mut RemoteStats,
) -> Result<Vec<Hit>, StoreError> {
    let signature =
        read_text(object.s3, &r.object(&r.segment.signature)).map_err(StoreError::Failed)?;
    let name = PathBuf::from(object.s3.show(&object.key));
    let seg = open_remote(
        &name,
        r.segment.first,
        &signature,
        public_key,
        object,
        stats,
    )?;
    search_remote(&seg, query, opts, object, stats)
}

/// A small object's text (a key, a signature); a missing one is an error.
fn read_text(s3: &S3, key: &str) -> Result<String, String> {
    match s3.get(key) {
        Ok(Some(b)) => String::from_utf8(b).map_err(|_| format!("{} is not text", s3.show(key))),
        Ok(None) => Err(format!("{} is missing", s3.show(key))),
        Err(e) => Err(e.to_string()),
    }
}

/// The local result with the bucket's hits added: no event id twice (the
/// local copy wins), newest first, at most `limit`.
pub fn merge(
    mut local: SearchResult,
    remote: Vec<Hit>,
    report: &mut RemoteReport,
    warnings: Vec<String>,
    limit: usize,
) -> SearchResult {
    let mut seen: BTreeSet<String> = local.hits.iter().map(|h| h.id.clone()).collect();
    for h in remote {
        if seen.insert(h.id.clone()) {
            local.matched += 1;
            report.hits_added += 1;
            local.hits.push(h);
        }
    }
    local
        .hits
        .sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then(b.id.cmp(&a.id)));
    local.hits.truncate(limit);
    local.warnings.extend(warnings);
    local
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str, t: i64) -> Hit {
        Hit {
            offset: ward_store::Offset(0),
            id: id.into(),
            time_ms: t,
            event: serde_json::Value::Null,
        }
    }

    #[test]
    fn merging_keeps_one_hit_per_event_id_newest_first() {
        let local = SearchResult {
            hits: vec![hit("b", 20), hit("a", 10)],
            matched: 2,
            ..SearchResult::default()
        };
        let mut report = RemoteReport::default();
        let r = merge(
            local,
            vec![hit("c", 30), hit("a", 10), hit("d", 5)],
            &mut report,
            vec!["w".into()],
            3,
        );
        let ids: Vec<&str> = r.hits.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        assert_eq!((r.matched, report.hits_added), (4, 2));
        assert_eq!(r.warnings, ["w"]);
    }
}
