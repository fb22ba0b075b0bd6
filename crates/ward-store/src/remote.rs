//! Searching a sealed segment held elsewhere (an object in a bucket) by
//! ranged reads: the footer and the index section first, then only the
//! blocks the query can match.
//!
//! Nothing read is believed unchecked. The index must carry the store's
//! signature ([`crate::index::signature`]) made when the segment was
//! sealed; every block read must match its checksum and decompress to its
//! length; and every record of a block that is searched must be a leaf of
//! the segment's signed Merkle summary (the leaf hashes of the head and
//! tail, the roots of the complete 256-leaf chunks in between: the blocks
//! a chunk spans are read with it). A block changed in the bucket, even
//! one whose checksum was made to match, is an error naming the byte,
//! never a silent answer.

use crate::checkpoint::VerifierKey;
use crate::error::StoreError;
use crate::format::sealed::{
    BlockMeta, CHUNK, SegmentIndex, block_records, decode_index, decompress_block,
};
use crate::format::{FOOTER_LEN, FOOTER_MAGIC, HEADER_LEN, u32_at, u64_at};
use crate::index::signature::{Trust, check_note};
use crate::merkle::{Hash, leaf_hash, root_of};
use crate::query::{Doc, Query};
use crate::search::{Hit, SearchOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Ranged reads of one object.
pub trait RangeRead {
    /// `len` bytes from `start`.
    fn read(&mut self, start: u64, len: u64) -> Result<Vec<u8>, StoreError>;
    /// The last `len` bytes, and the object's size.
    fn read_tail(&mut self, len: u64) -> Result<(Vec<u8>, u64), StoreError>;
}

/// A sealed segment whose index was read and found signed.
#[derive(Clone, Debug)]
pub struct RemoteSegment {
    /// The object, for messages.
    pub name: PathBuf,
    /// The first offset (bound by the signature).
    pub first: u64,
    /// The signed index.
    pub index: SegmentIndex,
}

/// What a remote search read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteStats {
    /// Ranged reads made.
    pub reads: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Blocks searched (the query could match them).
    pub blocks_scanned: u64,
    /// Blocks read only to check a Merkle chunk.
    pub blocks_for_proof: u64,
    /// Blocks left alone by time or term filter.
    pub blocks_skipped: u64,
}

fn counted(
    r: &mut dyn RangeRead,
    stats: &mut RemoteStats,
    start: u64,
    len: u64,
) -> Result<Vec<u8>, StoreError> {
    let b = r.read(start, len)?;
    stats.reads += 1;
    stats.bytes += b.len() as u64;
    Ok(b)
}

/// Reads the footer and index of the segment `name` (first offset
/// `first`), and checks the index against `signature` (the `.seg.sig`
/// note) with the store key `public_key` (`verifier.pub` text).
pub fn open_remote(
    name: &Path,
    first: u64,
    signature: &str,
    public_key: &str,
    r: &mut dyn RangeRead,
    stats: &mut RemoteStats,
) -> Result<RemoteSegment, StoreError> {
    let vk = VerifierKey::parse(public_key).map_err(|e| StoreError::Key {
        path: name.with_extension("pub"),
        reason: e.to_string(),
    })?;
    let (footer, size) = r.read_tail(FOOTER_LEN as u64)?;
    stats.reads += 1;
    stats.bytes += footer.len() as u64;
    let fpos = size.saturating_sub(FOOTER_LEN as u64);
    if footer.len() != FOOTER_LEN || &footer[24..32] != FOOTER_MAGIC {
        return Err(StoreError::corrupt(
            name,
            fpos,
            "no footer magic at the end",
        ));
    }
    let ipos = u64_at(&footer, 0);
    let ilen = u64_at(&footer, 8);
    if ipos < HEADER_LEN as u64 || ipos.checked_add(ilen) != Some(fpos) {
        return Err(StoreError::corrupt(
            name,
            fpos,
            "footer points outside the object",
        ));
    }
    let ix = counted(r, stats, ipos, ilen)?;
    if ix.len() as u64 != ilen || crc32c::crc32c(&ix) != u32_at(&footer, 16) {
        return Err(StoreError::corrupt(
            name,
            ipos,
            "index section checksum mismatch",
        ));
    }
    let index = decode_index(&ix)
        .map_err(|e| StoreError::corrupt(name, ipos, format!("index section: {e}")))?;
    match check_note(&vk, signature, first, &index) {
        Trust::Signed => {}
        Trust::Unsigned => {
            return Err(StoreError::corrupt(name, ipos, "the index is not signed"));
        }
        Trust::Mismatch(why) => return Err(StoreError::corrupt(name, ipos, why)),
    }
    Ok(RemoteSegment {
        name: name.to_owned(),
        first,
        index,
    })
}

/// The matches of `query` in `seg` within `opts`' time window (all of
/// them, newest first, at most `opts.limit`). The blocks read are checked
/// as the module docs say; the first that fails is the error.
pub fn search_remote(
    seg: &RemoteSegment,
    query: &Query,
    opts: &SearchOptions,
    r: &mut dyn RangeRead,
    stats: &mut RemoteStats,
) -> Result<Vec<Hit>, StoreError> {
    if query.aggregation.is_some() {
        return Err(StoreError::Failed(
            "aggregations are not run on segments in a bucket".into(),
        ));
    }
    let window = crate::search::Window::of(query, opts);
    let clauses = crate::search::term_clauses(query);
    let blocks = &seg.index.blocks;
    let wanted: Vec<usize> = (0..blocks.len())
        .filter(|&i| {
            let b = &blocks[i];
            let ok = b.count > 0
                && window.overlaps(b.min_time, b.max_time)
                && crate::search::may_match(&b.fields, &b.bloom, &clauses);
            if !ok {
                stats.blocks_skipped += 1;
            }
            ok
        })
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let proof = Proof::new(seg);
    let mut needed: BTreeSet<usize> = BTreeSet::new();
    for &i in &wanted {
        let (lo, hi) = proof.cover(&blocks[i]);
        for (j, b) in blocks.iter().enumerate() {
            let (bl, bh) = (b.first_offset, b.first_offset + u64::from(b.count));
            if bl < hi && lo < bh {
                needed.insert(j);
            }
        }
    }
    stats.blocks_scanned += wanted.len() as u64;
    stats.blocks_for_proof += (needed.len() - wanted.len()) as u64;
    // Leaves of every block read, by offset; the raw blocks searched.
    let mut leaves: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut raw_of: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    let needed: Vec<usize> = needed.into_iter().collect();
    for run in runs(blocks, &needed) {
        let (start, end) = (blocks[run[0]].pos, {
            let b = &blocks[run[run.len() - 1]];
            b.pos + u64::from(b.comp_len)
        });
        let bytes = counted(r, stats, start, end - start)?;
        if bytes.len() as u64 != end - start {
            return Err(StoreError::corrupt(
                &seg.name,
                start,
                "object shorter than its index says",
            ));
        }
        for &j in &run {
            let b = &blocks[j];
            let at = (b.pos - start) as usize;
            let comp = &bytes[at..at + b.comp_len as usize];
            let raw = decompress_block(comp, b)
                .map_err(|reason| StoreError::corrupt(&seg.name, b.pos, reason))?;
            let mut n = 0u64;
            for (k, (pos, rec)) in block_records(&raw).enumerate() {
                let rec = rec.map_err(|reason| {
                    StoreError::corrupt(
                        &seg.name,
                        b.pos,
                        format!("block {j} record {k} at byte {pos}: {reason}"),
                    )
                })?;
                leaves.insert(b.first_offset + n, leaf_hash(rec));
                n += 1;
            }
            if n != u64::from(b.count) {
                return Err(StoreError::corrupt(
                    &seg.name,
                    b.pos,
                    format!("block {j} holds {n} records, its index says {}", b.count),
                ));
            }
            if wanted.binary_search(&j).is_ok() {
                raw_of.insert(j, raw);
            }
        }
    }
    for &i in &wanted {
        proof.check(&blocks[i], &leaves).map_err(|reason| {
            StoreError::corrupt(&seg.name, blocks[i].pos, format!("block {i}: {reason}"))
        })?;
    }
    let mut hits = Vec::new();
    for (&j, raw) in &raw_of {
        let b = &blocks[j];
        for (k, (_, rec)) in block_records(raw).enumerate() {
            let rec = rec.map_err(|reason| StoreError::corrupt(&seg.name, b.pos, reason))?;
            let d = crate::format::decode_record_ref(rec).map_err(|reason| {
                StoreError::corrupt(&seg.name, b.pos, format!("block {j} record {k}: {reason}"))
            })?;
            if d.offset != b.first_offset + k as u64 {
                return Err(StoreError::corrupt(
                    &seg.name,
                    b.pos,
                    format!("block {j} record {k} carries offset {}", d.offset),
                ));
            }
            if !window.contains(d.time_ms) {
                continue;
            }
            let doc = Doc::new(d.body, d.time_ms);
            if query.expr.matches(&doc) {
                hits.push(Hit {
                    offset: crate::record::Offset(d.offset),
                    id: d.id.to_owned(),
                    time_ms: d.time_ms,
                    event: serde_json::from_slice(d.body).unwrap_or(serde_json::Value::Null),
                });
            }
        }
    }
    hits.sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then(b.offset.cmp(&a.offset)));
    hits.truncate(opts.limit);
    Ok(hits)
}

/// Groups block indices (sorted) into runs of blocks that lie back to
/// back in the object, each read with one ranged read.
fn runs(blocks: &[BlockMeta], needed: &[usize]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for &j in needed {
        match out.last_mut() {
            Some(run)
                if run.last().is_some_and(|&p| {
                    p + 1 == j && blocks[p].pos + u64::from(blocks[p].comp_len) == blocks[j].pos
                }) =>
            {
                run.push(j);
            }
            _ => out.push(vec![j]),
        }
    }
    out
}

/// The segment's signed Merkle summary, by offset.
struct Proof<'a> {
    first: u64,
    head: &'a [Hash],
    chunks: &'a [Hash],
    tail: &'a [Hash],
}

impl<'a> Proof<'a> {
    fn new(seg: &'a RemoteSegment) -> Self {
        let m = &seg.index.merkle;
        Proof {
            first: seg.first,
            head: &m.head,
            chunks: &m.chunks,
            tail: &m.tail,
        }
    }

    fn chunks_start(&self) -> u64 {
        self.first + self.head.len() as u64
    }

    fn tail_start(&self) -> u64 {
        self.chunks_start() + self.chunks.len() as u64 * CHUNK
    }

    /// The offsets whose leaves prove block `b`: its own, widened to the
    /// chunks it touches.
    fn cover(&self, b: &BlockMeta) -> (u64, u64) {
        let (mut lo, mut hi) = (b.first_offset, b.first_offset + u64::from(b.count));
        let (cs, ts) = (self.chunks_start(), self.tail_start());
        if lo >= cs && lo < ts {
            lo = cs + (lo - cs) / CHUNK * CHUNK;
        }
        if hi > cs && hi <= ts {
            hi = cs + (hi - cs).div_ceil(CHUNK) * CHUNK;
        }
        (lo, hi)
    }

    /// Checks every record of `b` against the summary.
    fn check(&self, b: &BlockMeta, leaves: &BTreeMap<u64, Hash>) -> Result<(), String> {
        let (cs, ts) = (self.chunks_start(), self.tail_start());
        let mut checked_chunks = BTreeSet::new();
        for off in b.first_offset..b.first_offset + u64::from(b.count) {
            let leaf = leaves.get(&off).ok_or("a record was not read")?;
            let want = if off < self.first {
                None
            } else if off < cs {
                self.head.get((off - self.first) as usize)
            } else if off < ts {
                let k = (off - cs) / CHUNK;
                if !checked_chunks.insert(k) {
                    continue;
                }
                let from = cs + k * CHUNK;
                let chunk: Option<Vec<Hash>> = (from..from + CHUNK)
                    .map(|o| leaves.get(&o).copied())
                    .collect();
                let chunk = chunk.ok_or("a record of its Merkle chunk was not read")?;
                if Some(&root_of(&chunk)) != self.chunks.get(k as usize) {
                    return Err(format!(
                        "records {from}..{} do not hash to the signed Merkle summary",
                        from + CHUNK
                    ));
                }
                continue;
            } else {
                self.tail.get((off - ts) as usize)
            };
            if want != Some(leaf) {
                return Err(format!(
                    "record {off} does not hash to the signed Merkle summary"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Record, Store, StoreConfig};

    /// An object in memory, its reads counted.
    struct Mem(Vec<u8>);

    impl RangeRead for Mem {
        fn read(&mut self, start: u64, len: u64) -> Result<Vec<u8>, StoreError> {
            let s = (start as usize).min(self.0.len());
            let e = (s + len as usize).min(self.0.len());
            Ok(self.0[s..e].to_vec())
        }
        fn read_tail(&mut self, len: u64) -> Result<(Vec<u8>, u64), StoreError> {
            let s = self.0.len().saturating_sub(len as usize);
            Ok((self.0[s..].to_vec(), self.0.len() as u64))
        }
    }

    /// A store with one sealed segment of 3,000 events (many blocks).
    fn sealed() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            dir: dir.path().into(),
            ..StoreConfig::default()
        };
        let (store, _) = Store::open(cfg).unwrap();
        let recs: Vec<Record> = (0..3000)
            .map(|i| Record {
                id: format!("e{i:05}"),
                time_ms: 1_700_000_000_000 + i,
                category: vec!["authentication".into()],
                terms: vec![("user.name".into(), format!("u{}", i % 7))],
                body: format!(
                    r#"{{"user":{{"name":"u{}"}},"n":{i},"pad":"{}"}}"#,
                    i % 7,
                    "x".repeat(200 + (i as usize * 37) % 300)
                )
                .into_bytes(),
            })
            .collect();
        store.append(recs).unwrap();
        store.seal_now().unwrap();
        drop(store);
        let mut segs = Vec::new();
        crate::verify::walk(&dir.path().join("segments"), &mut |p| {
            if p.extension().is_some_and(|e| e == "seg") {
                segs.push(p.to_owned());
            }
        });
        let seg = segs.pop().unwrap();
        (dir, seg)
    }

    fn open(dir: &Path, seg: &Path, bytes: Vec<u8>) -> (Mem, Result<RemoteSegment, StoreError>) {
        let sig = std::fs::read_to_string(crate::index::signature::path_for(seg)).unwrap();
        let key = std::fs::read_to_string(dir.join("key/verifier.pub")).unwrap();
        let mut m = Mem(bytes);
        let r = open_remote(seg, 0, &sig, &key, &mut m, &mut RemoteStats::default());
        (m, r)
    }

    #[test]
    fn finds_what_the_local_search_finds_reading_only_some_blocks() {
        let (dir, seg) = sealed();
        let bytes = std::fs::read(&seg).unwrap();
        let size = bytes.len() as u64;
        let (mut m, remote) = open(dir.path(), &seg, bytes);
        let remote = remote.unwrap();
        assert!(
            remote.index.blocks.len() > 4,
            "{}",
            remote.index.blocks.len()
        );
        let q = crate::query::parse("user.name:u3").unwrap();
        let opts = SearchOptions {
            since: Some(1_700_000_000_000 + 2_500),
            limit: 1000,
            ..SearchOptions::default()
        };
        let mut stats = RemoteStats::default();
        let hits = search_remote(&remote, &q, &opts, &mut m, &mut stats).unwrap();
        let want: Vec<String> = (2500..3000)
            .rev()
            .filter(|i| i % 7 == 3)
            .map(|i| format!("e{i:05}"))
            .collect();
        let got: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
        assert_eq!(got, want);
        assert!(stats.blocks_skipped > 0, "{stats:?}");
        assert!(stats.bytes < size / 2, "{stats:?} of {size}");
    }

    #[test]
    fn a_changed_block_or_index_is_an_error_naming_the_byte() {
        let (dir, seg) = sealed();
        let good = std::fs::read(&seg).unwrap();
        let q = crate::query::parse("").unwrap();
        let opts = SearchOptions {
            limit: 10_000,
            ..SearchOptions::default()
        };
        // A byte of the first block.
        let mut bad = good.clone();
        bad[HEADER_LEN + 10] ^= 1;
        let (mut m, remote) = open(dir.path(), &seg, bad);
        let e = search_remote(
            &remote.unwrap(),
            &q,
            &opts,
            &mut m,
            &mut RemoteStats::default(),
        )
        .unwrap_err();
        assert!(
            matches!(e, StoreError::Corrupt { byte, .. } if byte == HEADER_LEN as u64),
            "{e}"
        );
        // A block swapped for one with a matching index entry cannot be
        // made without the key: changing the index breaks its signature.
        let ipos = u64_at(&good[good.len() - FOOTER_LEN..], 0) as usize;
        let mut bad = good.clone();
        // The first block's min_time, the footer's CRC made to match.
        bad[ipos + 4 + 36] ^= 1;
        let crc = crc32c::crc32c(&bad[ipos..bad.len() - FOOTER_LEN]);
        let at = bad.len() - FOOTER_LEN + 16;
        bad[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        let (_, remote) = open(dir.path(), &seg, bad);
        let e = remote.unwrap_err().to_string();
        assert!(e.contains("differs from the one signed"), "{e}");
        // Records that are not the signed leaves, in a block whose index
        // entry is kept: the Merkle check names them.
        let mut forged = open(dir.path(), &seg, good.clone()).1.unwrap();
        forged.index.merkle.chunks[0][0] ^= 1;
        let e = search_remote(
            &forged,
            &q,
            &opts,
            &mut Mem(good),
            &mut RemoteStats::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("do not hash to the signed Merkle summary"),
            "{e}"
        );
    }
}
