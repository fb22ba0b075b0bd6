//! Sealed segments: writing them from records, reading their index section
//! and their blocks.
//!
//! Index section (protected by the footer's crc32c):
//!
//! ```text
//! n_blocks u32, then per block:
//!   pos u64 | comp_len u32 | raw_len u32 | crc32c(compressed) u32 | first_offset u64 | count u32
//!   | min_time i64 | max_time i64 | n_fields u8 | (len u8, field)* | bloom_k u8 | n_words u32 | words u64*
//! segment: count u64 | min_time i64 | max_time i64 | sealed_ms i64 | uncategorized_max_time i64
//!   | n_cat u16 | (len u16, category, max_time i64)*
//! merkle summary: n u32 | head leaf hashes | n u32 | chunk hashes | n u32 | tail leaf hashes
//! ```
//!
//! The Merkle summary lets start-up rebuild the in-memory tree without
//! re-hashing every record: `head` holds the leaf hashes up to the first
//! multiple of [`CHUNK`], `chunks` the roots of the complete aligned
//! [`CHUNK`]-leaf subtrees inside the segment, `tail` the leaf hashes after
//! the last of them. `verify` recomputes all of it from the records.

use super::{
    FOOTER_LEN, FOOTER_MAGIC, FORMAT_VERSION, FileHeader, HEADER_LEN, Reader, SEG_MAGIC, u32_at,
    u64_at,
};
use crate::error::StoreError;
use crate::index::bloom::Bloom;
use crate::merkle::{Hash, leaf_hash, root_of};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Leaves per chunk of the in-memory tree and of the Merkle summary.
pub const CHUNK: u64 = 256;
/// Uncompressed size at which a block is closed.
pub const BLOCK_TARGET: usize = 128 << 10;
/// zstd level for blocks.
const ZSTD_LEVEL: i32 = 3;
/// Largest uncompressed block a reader accepts.
const MAX_RAW_BLOCK: u32 = 64 << 20;

/// One block's place, bounds and filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    /// Byte position of the compressed block.
    pub pos: u64,
    /// Compressed length.
    pub comp_len: u32,
    /// Uncompressed length.
    pub raw_len: u32,
    /// crc32c of the compressed bytes.
    pub crc: u32,
    /// Offset of the first record.
    pub first_offset: u64,
    /// Number of records.
    pub count: u32,
    /// Smallest event time.
    pub min_time: i64,
    /// Largest event time.
    pub max_time: i64,
    /// Fields for which the filter holds every value (others cannot prune).
    pub fields: Vec<String>,
    /// Filter over term hashes.
    pub bloom: Bloom,
}

/// The Merkle summary of a segment (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MerkleSummary {
    /// Leaf hashes before the first chunk boundary.
    pub head: Vec<Hash>,
    /// Roots of the complete chunks.
    pub chunks: Vec<Hash>,
    /// Leaf hashes after the last complete chunk.
    pub tail: Vec<Hash>,
}

impl MerkleSummary {
    /// Summarizes the leaf hashes of a segment starting at `first`.
    pub fn of(first: u64, leaves: &[Hash]) -> Self {
        let to_boundary = ((CHUNK - first % CHUNK) % CHUNK) as usize;
        let head_len = to_boundary.min(leaves.len());
        let rest = &leaves[head_len..];
        let full = rest.len() / CHUNK as usize * CHUNK as usize;
        MerkleSummary {
            head: leaves[..head_len].to_vec(),
            chunks: rest[..full].chunks(CHUNK as usize).map(root_of).collect(),
            tail: rest[full..].to_vec(),
        }
    }
}

impl MerkleSummary {
    /// [`MerkleSummary::of`] with the chunk roots computed on up to
    /// `threads` threads (chunks are independent; `verify` hashes millions).
    pub fn of_parallel(first: u64, leaves: &[Hash], threads: usize) -> Self {
        let to_boundary = ((CHUNK - first % CHUNK) % CHUNK) as usize;
        let head_len = to_boundary.min(leaves.len());
        let rest = &leaves[head_len..];
        let n_chunks = rest.len() / CHUNK as usize;
        let full = n_chunks * CHUNK as usize;
        let threads = threads.clamp(1, n_chunks.max(1));
        let per = n_chunks.div_ceil(threads) * CHUNK as usize;
        let chunks = if threads == 1 || per == 0 {
            rest[..full].chunks(CHUNK as usize).map(root_of).collect()
        } else {
            std::thread::scope(|scope| {
                let roots = |part: &[Hash]| -> Vec<Hash> {
                    part.chunks(CHUNK as usize).map(root_of).collect()
                };
                let handles: Vec<_> = rest[..full]
                    .chunks(per)
                    .map(|part| (part, scope.spawn(move || roots(part))))
                    .collect();
                // Pure hashing cannot panic; should a thread fail anyway,
                // its share is computed again here rather than lost.
                handles
                    .into_iter()
                    .flat_map(|(part, h)| h.join().unwrap_or_else(|_| roots(part)))
                    .collect()
            })
        };
        MerkleSummary {
            head: leaves[..head_len].to_vec(),
            chunks,
            tail: rest[full..].to_vec(),
        }
    }
}

/// Everything in a sealed segment's index section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentIndex {
    /// The blocks, in offset order.
    pub blocks: Vec<BlockMeta>,
    /// Number of records.
    pub count: u64,
    /// Smallest event time.
    pub min_time: i64,
    /// Largest event time.
    pub max_time: i64,
    /// When the segment was sealed.
    pub sealed_ms: i64,
    /// Largest event time of records without a category.
    pub uncategorized_max_time: Option<i64>,
    /// Largest event time per category (for retention).
    pub categories: BTreeMap<String, i64>,
    /// Merkle summary.
    pub merkle: MerkleSummary,
}

/// A segment's index as its records are added, block by block: what the
/// writer produces when sealing and what start-up rebuilds from the records
/// of a segment whose index is not the signed one.
struct IndexBuilder {
    first_offset: u64,
    block_meta: Option<BlockMeta>,
    block_terms: Vec<u64>,
    block_fields: BTreeSet<String>,
    index: SegmentIndex,
    leaves: Vec<Hash>,
}

impl IndexBuilder {
    fn new(first_offset: u64, created_ms: i64) -> Self {
        IndexBuilder {
            first_offset,
            block_meta: None,
            block_terms: Vec::new(),
            block_fields: BTreeSet::new(),
            index: SegmentIndex {
                blocks: Vec::new(),
                count: 0,
                min_time: i64::MAX,
                max_time: i64::MIN,
                sealed_ms: created_ms,
                uncategorized_max_time: None,
                categories: BTreeMap::new(),
                merkle: MerkleSummary::default(),
            },
            leaves: Vec::new(),
        }
    }

    /// Adds the next record (leaf bytes) to the open block.
    fn add(
        &mut self,
        record: &[u8],
        time_ms: i64,
        category: &[String],
        terms: &[(String, String)],
        id: &str,
    ) {
        let offset = self.first_offset + self.index.count;
        let meta = self.block_meta.get_or_insert_with(|| BlockMeta {
            pos: 0,
            comp_len: 0,
            raw_len: 0,
            crc: 0,
            first_offset: offset,
            count: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
            fields: Vec::new(),
            bloom: Bloom::with_capacity(0),
        });
        meta.count += 1;
        meta.min_time = meta.min_time.min(time_ms);
        meta.max_time = meta.max_time.max(time_ms);
        for (f, v) in crate::record::all_terms(id, category, terms) {
            self.block_terms.push(crate::index::bloom::term_hash(f, v));
            if !self.block_fields.contains(f) {
                self.block_fields.insert(f.to_owned());
            }
        }
        self.index.count += 1;
        self.index.min_time = self.index.min_time.min(time_ms);
        self.index.max_time = self.index.max_time.max(time_ms);
        if category.is_empty() {
            let m = self.index.uncategorized_max_time.get_or_insert(time_ms);
            *m = (*m).max(time_ms);
        }
        for c in category {
            let m = self.index.categories.entry(c.clone()).or_insert(time_ms);
            *m = (*m).max(time_ms);
        }
        self.leaves.push(leaf_hash(record));
    }

    /// Closes the open block, stored at `pos` as `comp_len` compressed bytes.
    fn close_block(&mut self, pos: u64, comp_len: u32, raw_len: u32, crc: u32) {
        let Some(mut meta) = self.block_meta.take() else {
            return;
        };
        meta.pos = pos;
        meta.comp_len = comp_len;
        meta.raw_len = raw_len;
        meta.crc = crc;
        meta.fields = std::mem::take(&mut self.block_fields).into_iter().collect();
        meta.bloom = Bloom::from_hashes(&mut self.block_terms);
        self.block_terms.clear();
        self.index.blocks.push(meta);
    }

    fn finish(mut self, sealed_ms: i64) -> SegmentIndex {
        self.index.sealed_ms = sealed_ms;
        self.index.merkle = MerkleSummary::of(self.first_offset, &self.leaves);
        self.index
    }
}

/// Writes a sealed segment record by record.
pub struct SealedWriter {
    file: File,
    path: PathBuf,
    pos: u64,
    block: Vec<u8>,
    builder: IndexBuilder,
    scratch: Vec<u8>,
}

impl SealedWriter {
    /// Starts a segment file at `path` (created, must not exist).
    pub fn create(path: &Path, first_offset: u64, created_ms: i64) -> Result<Self, StoreError> {
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| StoreError::io("create", path, e))?;
        let header = FileHeader {
            magic: *SEG_MAGIC,
            version: FORMAT_VERSION,
            first_offset,
            created_ms,
        };
        file.write_all(&header.encode())
            .map_err(|e| StoreError::io("write", path, e))?;
        Ok(SealedWriter {
            file,
            path: path.to_owned(),
            pos: HEADER_LEN as u64,
            block: Vec::with_capacity(BLOCK_TARGET + 4096),
            builder: IndexBuilder::new(first_offset, created_ms),
            scratch: Vec::new(),
        })
    }

    /// Adds the next record (leaf bytes) with its decoded time, categories
    /// and index terms.
    pub fn add(
        &mut self,
        record: &[u8],
        time_ms: i64,
        category: &[String],
        terms: &[(String, String)],
        id: &str,
    ) -> Result<(), StoreError> {
        self.block
            .extend_from_slice(&(record.len() as u32).to_le_bytes());
        self.block
            .extend_from_slice(&crc32c::crc32c(record).to_le_bytes());
        self.block.extend_from_slice(record);
        self.builder.add(record, time_ms, category, terms, id);
        if self.block.len() >= BLOCK_TARGET {
            self.flush_block()?;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> Result<(), StoreError> {
        if self.block.is_empty() {
            return Ok(());
        }
        let comp = zstd::bulk::compress(&self.block, ZSTD_LEVEL)
            .map_err(|e| StoreError::io("compress", &self.path, e))?;
        self.file
            .write_all(&comp)
            .map_err(|e| StoreError::io("write", &self.path, e))?;
        self.builder.close_block(
            self.pos,
            comp.len() as u32,
            self.block.len() as u32,
            crc32c::crc32c(&comp),
        );
        self.pos += comp.len() as u64;
        self.block.clear();
        Ok(())
    }

    /// Writes the index and footer, fsyncs, and returns the index.
    pub fn finish(mut self, sealed_ms: i64) -> Result<SegmentIndex, StoreError> {
        self.flush_block()?;
        let index = self.builder.finish(sealed_ms);
        self.scratch.clear();
        encode_index(&index, &mut self.scratch);
        let mut footer = [0u8; FOOTER_LEN];
        footer[0..8].copy_from_slice(&self.pos.to_le_bytes());
        footer[8..16].copy_from_slice(&(self.scratch.len() as u64).to_le_bytes());
        footer[16..20].copy_from_slice(&crc32c::crc32c(&self.scratch).to_le_bytes());
        footer[20..24].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        footer[24..32].copy_from_slice(FOOTER_MAGIC);
        self.file
            .write_all(&self.scratch)
            .and_then(|()| self.file.write_all(&footer))
            .map_err(|e| StoreError::io("write", &self.path, e))?;
        self.file
            .sync_all()
            .map_err(|e| StoreError::io("fsync", &self.path, e))?;
        Ok(index)
    }
}

/// SHA-256 of the canonical encoding of an index: what its signature
/// ([`crate::index::signature`]) binds.
pub fn index_digest(index: &SegmentIndex) -> Hash {
    use sha2::{Digest, Sha256};
    let mut bytes = Vec::new();
    encode_index(index, &mut bytes);
    Sha256::digest(&bytes).into()
}

/// Rebuilds a sealed segment's index from its records alone: the blocks
/// are found by walking the compressed frames from the header to the index
/// section, and every record's time, id and categories are read again.
/// Bloom filters then hold only what the store derives itself (`event.id`,
/// `event.category`); other fields are not pruned. For a segment whose
/// index cannot be trusted.
pub fn rebuild_index(file: &File, path: &Path) -> Result<SegmentIndex, StoreError> {
    let (len, header, footer) = read_ends(file, path)?;
    // The footer says where the blocks end; should it lie, a frame fails
    // to decode below and the error names the byte.
    let end = u64_at(&footer, 0).min(len - FOOTER_LEN as u64);
    let mut data = vec![0u8; end.saturating_sub(HEADER_LEN as u64) as usize];
    file.read_exact_at(&mut data, HEADER_LEN as u64)
        .map_err(|e| StoreError::io("read", path, e))?;
    let mut b = IndexBuilder::new(header.first_offset, header.created_ms);
    let mut at = 0usize;
    while at < data.len() {
        let pos = HEADER_LEN as u64 + at as u64;
        let bad = |reason: String| StoreError::corrupt(path, pos, reason);
        let comp_len = zstd::zstd_safe::find_frame_compressed_size(&data[at..])
            .map_err(|_| bad("no compressed block starts here".into()))?;
        let comp = &data[at..at + comp_len];
        let raw = zstd::bulk::decompress(comp, MAX_RAW_BLOCK as usize)
            .map_err(|e| bad(format!("block does not decompress: {e}")))?;
        for (n, (_, rec)) in block_records(&raw).enumerate() {
            let rec = rec.map_err(|e| bad(format!("record {n} of the block: {e}")))?;
            let (time_ms, id, category) = super::record_keys(rec)
                .map_err(|e| bad(format!("record {n} of the block: {e}")))?;
            let category: Vec<String> = category.into_iter().map(str::to_owned).collect();
            b.add(rec, time_ms, &category, &[], id);
        }
        b.close_block(pos, comp_len as u32, raw.len() as u32, crc32c::crc32c(comp));
        at += comp_len;
    }
    Ok(b.finish(header.created_ms))
}

/// Encodes an index section (the canonical encoding [`index_digest`] hashes).
pub fn encode_index(ix: &SegmentIndex, out: &mut Vec<u8>) {
    out.extend_from_slice(&(ix.blocks.len() as u32).to_le_bytes());
    for b in &ix.blocks {
        out.extend_from_slice(&b.pos.to_le_bytes());
        out.extend_from_slice(&b.comp_len.to_le_bytes());
        out.extend_from_slice(&b.raw_len.to_le_bytes());
        out.extend_from_slice(&b.crc.to_le_bytes());
        out.extend_from_slice(&b.first_offset.to_le_bytes());
        out.extend_from_slice(&b.count.to_le_bytes());
        out.extend_from_slice(&b.min_time.to_le_bytes());
        out.extend_from_slice(&b.max_time.to_le_bytes());
        let fields: Vec<&String> = b
            .fields
            .iter()
            .filter(|f| f.len() < 256)
            .take(255)
            .collect();
        out.push(fields.len() as u8);
        for f in fields {
            out.push(f.len() as u8);
            out.extend_from_slice(f.as_bytes());
        }
        out.push(b.bloom.k);
        out.extend_from_slice(&(b.bloom.words.len() as u32).to_le_bytes());
        for w in &b.bloom.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out.extend_from_slice(&ix.count.to_le_bytes());
    out.extend_from_slice(&ix.min_time.to_le_bytes());
    out.extend_from_slice(&ix.max_time.to_le_bytes());
    out.extend_from_slice(&ix.sealed_ms.to_le_bytes());
    out.extend_from_slice(&ix.uncategorized_max_time.unwrap_or(i64::MIN).to_le_bytes());
    let cats: Vec<_> = ix
        .categories
        .iter()
        .filter(|(c, _)| c.len() < 65536)
        .take(65535)
        .collect();
    out.extend_from_slice(&(cats.len() as u16).to_le_bytes());
    for (c, t) in cats {
        out.extend_from_slice(&(c.len() as u16).to_le_bytes());
        out.extend_from_slice(c.as_bytes());
        out.extend_from_slice(&t.to_le_bytes());
    }
    for list in [&ix.merkle.head, &ix.merkle.chunks, &ix.merkle.tail] {
        out.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for h in list {
            out.extend_from_slice(h);
        }
    }
}

/// Decodes an index section (its checksum already checked).
pub fn decode_index(bytes: &[u8]) -> Result<SegmentIndex, String> {
    let mut r = Reader { bytes, pos: 0 };
    let n = r.u32()? as usize;
    let mut blocks = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let pos = r.u64()?;
        let comp_len = r.u32()?;
        let raw_len = r.u32()?;
        let crc = r.u32()?;
        let first_offset = r.u64()?;
        let count = r.u32()?;
        let min_time = r.i64()?;
        let max_time = r.i64()?;
        let nf = r.u8()? as usize;
        let mut fields = Vec::with_capacity(nf);
        for _ in 0..nf {
            let l = r.u8()? as usize;
            fields.push(r.str(l)?);
        }
        let k = r.u8()?;
        let nw = r.u32()? as usize;
        let raw = r.take(nw.checked_mul(8).ok_or("bloom too large")?)?;
        let words = raw.chunks_exact(8).map(|c| u64_at(c, 0)).collect();
        blocks.push(BlockMeta {
            pos,
            comp_len,
            raw_len,
            crc,
            first_offset,
            count,
            min_time,
            max_time,
            fields,
            bloom: Bloom { k, words },
        });
    }
    let count = r.u64()?;
    let min_time = r.i64()?;
    let max_time = r.i64()?;
    let sealed_ms = r.i64()?;
    let unc = r.i64()?;
    let nc = r.u16()? as usize;
    let mut categories = BTreeMap::new();
    for _ in 0..nc {
        let l = r.u16()? as usize;
        let c = r.str(l)?;
        categories.insert(c, r.i64()?);
    }
    let mut lists: [Vec<Hash>; 3] = Default::default();
    for list in &mut lists {
        let n = r.u32()? as usize;
        if n > bytes.len() / 32 {
            return Err("hash list longer than the index".into());
        }
        for _ in 0..n {
            list.push(r.hash()?);
        }
    }
    let [head, chunks, tail] = lists;
    if r.pos != bytes.len() {
        return Err("trailing bytes after the index".into());
    }
    Ok(SegmentIndex {
        blocks,
        count,
        min_time,
        max_time,
        sealed_ms,
        uncategorized_max_time: (unc != i64::MIN).then_some(unc),
        categories,
        merkle: MerkleSummary { head, chunks, tail },
    })
}

/// The file length, the decoded header and the raw footer of a sealed
/// segment (the footer's fields are checked by the caller).
fn read_ends(file: &File, path: &Path) -> Result<(u64, FileHeader, [u8; FOOTER_LEN]), StoreError> {
    let len = file
        .metadata()
        .map_err(|e| StoreError::io("stat", path, e))?
        .len();
    if len < (HEADER_LEN + FOOTER_LEN) as u64 {
        return Err(StoreError::corrupt(
            path,
            len,
            "file shorter than header and footer (truncated)",
        ));
    }
    let mut head = [0u8; HEADER_LEN];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| StoreError::io("read", path, e))?;
    let header = FileHeader::decode(&head, SEG_MAGIC, path)?;
    let mut footer = [0u8; FOOTER_LEN];
    file.read_exact_at(&mut footer, len - FOOTER_LEN as u64)
        .map_err(|e| StoreError::io("read", path, e))?;
    Ok((len, header, footer))
}

/// Reads the header and index of a sealed segment.
pub fn read_index(file: &File, path: &Path) -> Result<(FileHeader, SegmentIndex), StoreError> {
    let (len, header, footer) = read_ends(file, path)?;
    let fpos = len - FOOTER_LEN as u64;
    if &footer[24..32] != FOOTER_MAGIC {
        return Err(StoreError::corrupt(
            path,
            fpos,
            "no footer magic at the end of the file (truncated or overwritten)",
        ));
    }
    let ipos = u64_at(&footer, 0);
    let ilen = u64_at(&footer, 8);
    if ipos < HEADER_LEN as u64 || ipos.checked_add(ilen) != Some(fpos) {
        return Err(StoreError::corrupt(
            path,
            fpos,
            "footer points outside the file",
        ));
    }
    let mut ix = vec![0u8; ilen as usize];
    file.read_exact_at(&mut ix, ipos)
        .map_err(|e| StoreError::io("read", path, e))?;
    if crc32c::crc32c(&ix) != u32_at(&footer, 16) {
        return Err(StoreError::corrupt(
            path,
            ipos,
            "index section checksum mismatch",
        ));
    }
    let index = decode_index(&ix)
        .map_err(|e| StoreError::corrupt(path, ipos, format!("index section: {e}")))?;
    Ok((header, index))
}

/// Parses the header, footer and index of a whole sealed segment held in
/// memory (used by fuzzing and tools; the store reads only the tail).
pub fn index_from_bytes(bytes: &[u8]) -> Result<(FileHeader, SegmentIndex), String> {
    let header =
        FileHeader::decode(bytes, SEG_MAGIC, Path::new("segment")).map_err(|e| e.to_string())?;
    if bytes.len() < HEADER_LEN + FOOTER_LEN {
        return Err("shorter than header and footer".into());
    }
    let fpos = bytes.len() - FOOTER_LEN;
    let footer = &bytes[fpos..];
    if &footer[24..32] != FOOTER_MAGIC {
        return Err("no footer magic".into());
    }
    let ipos = u64_at(footer, 0);
    let ilen = u64_at(footer, 8);
    if ipos < HEADER_LEN as u64 || ipos.checked_add(ilen) != Some(fpos as u64) {
        return Err("footer points outside the file".into());
    }
    let ix = &bytes[ipos as usize..fpos];
    if crc32c::crc32c(ix) != u32_at(footer, 16) {
        return Err("index checksum mismatch".into());
    }
    Ok((header, decode_index(ix)?))
}

/// Buffers and a decompression context reused across many blocks (a scan
/// or `verify` reads thousands: no allocation or context set-up per block).
pub struct BlockReader {
    dec: zstd::bulk::Decompressor<'static>,
    comp: Vec<u8>,
    /// The last block read, uncompressed.
    pub raw: Vec<u8>,
}

impl BlockReader {
    /// A reader with empty buffers.
    pub fn new() -> Result<Self, StoreError> {
        Ok(BlockReader {
            dec: zstd::bulk::Decompressor::new()
                .map_err(|e| StoreError::Failed(format!("zstd decompressor: {e}")))?,
            comp: Vec::new(),
            raw: Vec::new(),
        })
    }

    /// Reads, checks and decompresses one block into [`BlockReader::raw`].
    pub fn read(&mut self, file: &File, path: &Path, meta: &BlockMeta) -> Result<(), StoreError> {
        self.comp.resize(meta.comp_len as usize, 0);
        file.read_exact_at(&mut self.comp, meta.pos)
            .map_err(|e| StoreError::io("read", path, e))?;
        self.raw.clear();
        check_block_bytes(&self.comp, meta)
            .and_then(|()| {
                self.raw.reserve(meta.raw_len as usize);
                self.dec
                    .decompress_to_buffer(&self.comp[..], &mut self.raw)
                    .map_err(|e| format!("block does not decompress: {e}"))
            })
            .and_then(|n| {
                (n == meta.raw_len as usize)
                    .then_some(())
                    .ok_or_else(|| "block has the wrong uncompressed length".to_owned())
            })
            .map_err(|reason| StoreError::corrupt(path, meta.pos, reason))
    }

    /// The compressed bytes of the last block read (also when it failed its
    /// checks).
    pub fn compressed(&self) -> &[u8] {
        &self.comp
    }
}

/// The checks before decompression: checksum and size limit.
fn check_block_bytes(comp: &[u8], meta: &BlockMeta) -> Result<(), String> {
    if crc32c::crc32c(comp) != meta.crc {
        return Err(format!(
            "block of offsets {}..{}: checksum mismatch",
            meta.first_offset,
            meta.first_offset + u64::from(meta.count)
        ));
    }
    if meta.raw_len > MAX_RAW_BLOCK {
        return Err("block larger than the limit".into());
    }
    Ok(())
}

/// Reads, checks and decompresses one block.
pub fn read_block(file: &File, path: &Path, meta: &BlockMeta) -> Result<Vec<u8>, StoreError> {
    let mut comp = vec![0u8; meta.comp_len as usize];
    file.read_exact_at(&mut comp, meta.pos)
        .map_err(|e| StoreError::io("read", path, e))?;
    decompress_block(&comp, meta).map_err(|reason| StoreError::corrupt(path, meta.pos, reason))
}

/// Checks and decompresses a block's bytes.
pub fn decompress_block(comp: &[u8], meta: &BlockMeta) -> Result<Vec<u8>, String> {
    check_block_bytes(comp, meta)?;
    let raw = zstd::bulk::decompress(comp, meta.raw_len as usize)
        .map_err(|e| format!("block does not decompress: {e}"))?;
    if raw.len() != meta.raw_len as usize {
        return Err("block has the wrong uncompressed length".into());
    }
    Ok(raw)
}

/// Iterates the records of a decompressed block: yields `(position in the
/// block, Ok(record bytes) | Err(reason))`; stops after the first error.
pub fn block_records(raw: &[u8]) -> impl Iterator<Item = (usize, Result<&[u8], String>)> {
    let mut pos = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= raw.len() {
            return None;
        }
        let at = pos;
        if raw.len() - pos < 8 {
            failed = true;
            return Some((at, Err("record header cut off".into())));
        }
        let len = u32_at(raw, pos) as usize;
        let crc = u32_at(raw, pos + 4);
        if raw.len() - pos - 8 < len {
            failed = true;
            return Some((at, Err("record cut off".into())));
        }
        let rec = &raw[pos + 8..pos + 8 + len];
        pos += 8 + len;
        if crc32c::crc32c(rec) != crc {
            return Some((at, Err("record checksum mismatch".into())));
        }
        Some((at, Ok(rec)))
    })
}
