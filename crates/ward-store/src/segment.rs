//! The catalog of segments in memory and reading records out of them.
//!
//! A segment is either *open* (a write-ahead file: the active one, or a
//! closed one waiting to be sealed) or *sealed* (compressed blocks with an
//! index, read-only on disk). Records are read by offset; only offsets below
//! the durable mark are ever handed out.

use crate::error::StoreError;
use crate::format::sealed::{
    BlockMeta, BlockReader, SegmentIndex, block_records, index_digest, read_block,
};
use crate::format::{self, FileHeader};
use crate::index::bloom::Bloom;
use parking_lot::RwLock;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// Called with `(offset, record bytes)` for each record read.
pub type RecordVisitor<'a> = dyn FnMut(u64, &[u8]) -> Result<(), StoreError> + 'a;
/// Called with `(offset, terms bytes, record bytes)` for each frame read.
pub type FrameVisitor<'a> = dyn FnMut(u64, &[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// Records per in-memory block of an open segment.
pub const MEM_BLOCK: u32 = 1024;
/// Term capacity of an in-memory block filter.
const MEM_BLOCK_TERMS: usize = MEM_BLOCK as usize * 12;

/// A segment of either kind.
pub enum Segment {
    /// Compressed, indexed, read-only.
    Sealed(SealedSegment),
    /// A write-ahead file.
    Open(OpenSegment),
}

impl Segment {
    /// Offset of the first record.
    pub fn first_offset(&self) -> u64 {
        match self {
            Segment::Sealed(s) => s.header.first_offset,
            Segment::Open(o) => o.header.first_offset,
        }
    }

    /// Number of records (for an open segment: written so far).
    pub fn count(&self) -> u64 {
        match self {
            Segment::Sealed(s) => s.index.count,
            Segment::Open(o) => o.state.read().positions.len() as u64,
        }
    }

    /// The file.
    pub fn path(&self) -> &PathBuf {
        match self {
            Segment::Sealed(s) => &s.path,
            Segment::Open(o) => &o.path,
        }
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        match self {
            Segment::Sealed(s) => s.bytes,
            Segment::Open(o) => o.state.read().bytes,
        }
    }

    /// Calls `f(block number, view)` for every block, in offset order.
    pub fn visit_blocks(&self, f: &mut dyn FnMut(usize, BlockView<'_>)) {
        match self {
            Segment::Sealed(s) => {
                for (i, b) in s.index.blocks.iter().enumerate() {
                    f(
                        i,
                        BlockView {
                            first_offset: b.first_offset,
                            count: b.count,
                            min_time: b.min_time,
                            max_time: b.max_time,
                            fields: &b.fields,
                            bloom: &b.bloom,
                        },
                    );
                }
            }
            Segment::Open(o) => {
                let st = o.state.read();
                for (i, b) in st.blocks.iter().enumerate() {
                    f(
                        i,
                        BlockView {
                            first_offset: b.first_offset,
                            count: b.count,
                            min_time: b.min_time,
                            max_time: b.max_time,
                            fields: &b.fields,
                            bloom: &b.bloom,
                        },
                    );
                }
            }
        }
    }

    /// Reads the leaf bytes of records `from..to` (offsets within this
    /// segment), calling `f(offset, record)` for each.
    pub fn read_range(
        &self,
        from: u64,
        to: u64,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        match self {
            Segment::Sealed(s) => s.read_range(from, to, f),
            Segment::Open(o) => o.read_range(from, to, f),
        }
    }
}

/// A block as search sees it.
#[derive(Clone, Copy)]
pub struct BlockView<'a> {
    /// First offset.
    pub first_offset: u64,
    /// Number of records.
    pub count: u32,
    /// Smallest time.
    pub min_time: i64,
    /// Largest time.
    pub max_time: i64,
    /// Fields whose every value is in the filter.
    pub fields: &'a [String],
    /// The filter.
    pub bloom: &'a Bloom,
}

/// A sealed segment.
pub struct SealedSegment {
    /// The file.
    pub path: PathBuf,
    /// Open read handle.
    pub file: File,
    /// Its header.
    pub header: FileHeader,
    /// Its index section.
    pub index: SegmentIndex,
    /// File size.
    pub bytes: u64,
    /// [`index_digest`] of `index`, computed on first use.
    digest: std::sync::OnceLock<crate::merkle::Hash>,
}

impl SealedSegment {
    /// SHA-256 of the canonical encoding of the index (what its signature
    /// binds), computed once.
    pub fn digest(&self) -> crate::merkle::Hash {
        *self.digest.get_or_init(|| index_digest(&self.index))
    }

    /// Opens and indexes a sealed segment file.
    pub fn open(path: PathBuf) -> Result<SealedSegment, StoreError> {
        let file = File::open(&path).map_err(|e| StoreError::io("open", &path, e))?;
        let (header, index) = format::sealed::read_index(&file, &path)?;
        let bytes = file
            .metadata()
            .map_err(|e| StoreError::io("stat", &path, e))?
            .len();
        Ok(SealedSegment {
            path,
            file,
            header,
            index,
            bytes,
            digest: std::sync::OnceLock::new(),
        })
    }

    /// Decompresses block `i`.
    pub fn block(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        let meta: &BlockMeta = self
            .index
            .blocks
            .get(i)
            .ok_or_else(|| StoreError::corrupt(&self.path, 0, "block index out of range"))?;
        read_block(&self.file, &self.path, meta)
    }

    /// Decompresses block `i` into `reader.raw`, reusing its buffers.
    pub fn block_into(&self, i: usize, reader: &mut BlockReader) -> Result<(), StoreError> {
        let meta: &BlockMeta = self
            .index
            .blocks
            .get(i)
            .ok_or_else(|| StoreError::corrupt(&self.path, 0, "block index out of range"))?;
        reader.read(&self.file, &self.path, meta)
    }

    fn read_range(&self, from: u64, to: u64, f: &mut RecordVisitor<'_>) -> Result<(), StoreError> {
        let blocks = &self.index.blocks;
        let start = blocks.partition_point(|b| b.first_offset + u64::from(b.count) <= from);
        for (i, b) in blocks.iter().enumerate().skip(start) {
            if b.first_offset >= to {
                break;
            }
            let raw = self.block(i)?;
            for (n, (at, rec)) in block_records(&raw).enumerate() {
                let off = b.first_offset + n as u64;
                if off >= to {
                    break;
                }
                let rec = rec.map_err(|reason| {
                    StoreError::corrupt(
                        &self.path,
                        b.pos,
                        format!("record at block byte {at}: {reason}"),
                    )
                })?;
                if off >= from {
                    f(off, rec)?;
                }
            }
        }
        Ok(())
    }
}

/// An open (write-ahead) segment.
pub struct OpenSegment {
    /// The file.
    pub path: PathBuf,
    /// Read handle.
    pub file: File,
    /// Its header.
    pub header: FileHeader,
    /// What has been written (durably) so far.
    pub state: RwLock<OpenState>,
}

/// The growing part of an open segment.
#[derive(Default)]
pub struct OpenState {
    /// File position of each durable frame.
    pub positions: Vec<u64>,
    /// In-memory blocks of [`MEM_BLOCK`] records for search pruning.
    pub blocks: Vec<MemBlock>,
    /// Durable file size.
    pub bytes: u64,
    /// No more records will be added (waiting to be sealed).
    pub closed: bool,
    /// Offsets whose record is damaged (see [`crate::damage`]), sorted.
    pub damaged: Vec<u64>,
}

/// Time bounds and filter of up to [`MEM_BLOCK`] records of an open segment.
pub struct MemBlock {
    /// First offset.
    pub first_offset: u64,
    /// Records so far.
    pub count: u32,
    /// Smallest time.
    pub min_time: i64,
    /// Largest time.
    pub max_time: i64,
    /// Fields seen.
    pub fields: Vec<String>,
    /// Filter.
    pub bloom: Bloom,
}

impl OpenState {
    /// Records `count` offsets whose bytes at `pos` are damaged: they keep
    /// their place (later records keep their offsets) but are never read.
    pub fn add_damaged(&mut self, pos: u64, count: u64, first_offset: u64) {
        for _ in 0..count {
            let offset = first_offset + self.positions.len() as u64;
            self.positions.push(pos);
            self.damaged.push(offset);
            self.block_for(offset).count += 1;
        }
    }

    /// The in-memory block that takes `offset` (a new one when full).
    fn block_for(&mut self, offset: u64) -> &mut MemBlock {
        if self.blocks.last().is_none_or(|b| b.count >= MEM_BLOCK) {
            self.blocks.push(MemBlock {
                first_offset: offset,
                count: 0,
                min_time: i64::MAX,
                max_time: i64::MIN,
                fields: Vec::new(),
                bloom: Bloom::with_capacity(MEM_BLOCK_TERMS),
            });
        }
        let last = self.blocks.len() - 1;
        &mut self.blocks[last]
    }

    /// Records one durable frame.
    pub fn add(
        &mut self,
        pos: u64,
        len: u64,
        time_ms: i64,
        term_hashes: &[u64],
        fields: &[String],
        first_offset: u64,
    ) {
        let offset = first_offset + self.positions.len() as u64;
        self.positions.push(pos);
        self.bytes = pos + len;
        // Only a batch's first record brings the batch's fields: a block
        // that a batch enters half-way takes the fields of the block before
        // it (a superset of the batch's), or it could never be pruned.
        let carried = match self.blocks.last() {
            Some(prev) if fields.is_empty() && prev.count >= MEM_BLOCK => prev.fields.clone(),
            _ => Vec::new(),
        };
        {
            let b = self.block_for(offset);
            if b.count == 0 {
                b.fields = carried;
            }
            b.count += 1;
            b.min_time = b.min_time.min(time_ms);
            b.max_time = b.max_time.max(time_ms);
            for &h in term_hashes {
                b.bloom.insert(h);
            }
            for f in fields {
                if !b.fields.contains(f) {
                    b.fields.push(f.clone());
                }
            }
        }
    }
}

impl OpenSegment {
    fn read_range(&self, from: u64, to: u64, f: &mut RecordVisitor<'_>) -> Result<(), StoreError> {
        let first = self.header.first_offset;
        let (start_pos, end_pos, starts, damaged) = {
            let st = self.state.read();
            let n = st.positions.len() as u64;
            let lo = from.saturating_sub(first).min(n) as usize;
            let hi = to.saturating_sub(first).min(n) as usize;
            if lo >= hi {
                return Ok(());
            }
            let end = st.positions.get(hi).copied().unwrap_or(st.bytes);
            let damaged: Vec<u64> = st
                .damaged
                .iter()
                .copied()
                .filter(|o| (from..to).contains(o))
                .collect();
            (
                st.positions[lo],
                end,
                st.positions[lo..hi].to_vec(),
                damaged,
            )
        };
        let mut buf = vec![0u8; (end_pos - start_pos) as usize];
        self.file
            .read_exact_at(&mut buf, start_pos)
            .map_err(|e| StoreError::io("read", &self.path, e))?;
        for (i, p) in starts.iter().enumerate() {
            let off = first + (from.saturating_sub(first)) + i as u64;
            if !damaged.is_empty() && damaged.binary_search(&off).is_ok() {
                continue;
            }
            let at = (p - start_pos) as usize;
            let payload = match format::parse_frame(&buf[at..]) {
                format::Frame::Ok { payload, .. } => payload,
                format::Frame::Short => {
                    return Err(StoreError::corrupt(&self.path, *p, "frame cut off"));
                }
                format::Frame::Bad(reason) => {
                    return Err(StoreError::corrupt(&self.path, *p, reason));
                }
            };
            let (_, rec) = format::split_payload(payload)
                .map_err(|reason| StoreError::corrupt(&self.path, *p, reason))?;
            f(off, rec)?;
        }
        Ok(())
    }

    /// Reads every frame with its terms (for sealing).
    pub fn read_all(&self, f: &mut FrameVisitor<'_>) -> Result<(), StoreError> {
        let (positions, end) = {
            let st = self.state.read();
            if let Some(off) = st.damaged.first() {
                return Err(StoreError::corrupt(
                    &self.path,
                    0,
                    format!("record {off} is damaged; a segment with damage is not sealed"),
                ));
            }
            (st.positions.clone(), st.bytes)
        };
        let Some(&start) = positions.first() else {
            return Ok(());
        };
        let mut buf = vec![0u8; (end - start) as usize];
        self.file
            .read_exact_at(&mut buf, start)
            .map_err(|e| StoreError::io("read", &self.path, e))?;
        for (i, p) in positions.iter().enumerate() {
            let at = (p - start) as usize;
            let format::Frame::Ok { payload, .. } = format::parse_frame(&buf[at..]) else {
                return Err(StoreError::corrupt(
                    &self.path,
                    *p,
                    "bad frame while sealing",
                ));
            };
            let (terms, rec) = format::split_payload(payload)
                .map_err(|reason| StoreError::corrupt(&self.path, *p, reason))?;
            f(self.header.first_offset + i as u64, terms, rec)?;
        }
        Ok(())
    }
}

/// The ordered list of segments.
#[derive(Default)]
pub struct Catalog {
    /// Segments by first offset.
    pub segments: Vec<Arc<Segment>>,
}

impl Catalog {
    /// The segment holding `offset`, if any (deleted ranges have none).
    pub fn find(&self, offset: u64) -> Option<Arc<Segment>> {
        let i = self
            .segments
            .partition_point(|s| s.first_offset() <= offset);
        let s = self.segments.get(i.checked_sub(1)?)?;
        (offset < s.first_offset() + s.count()).then(|| s.clone())
    }

    /// The first segment starting after `offset`.
    pub fn next_after(&self, offset: u64) -> Option<Arc<Segment>> {
        let i = self
            .segments
            .partition_point(|s| s.first_offset() <= offset);
        self.segments.get(i).cloned()
    }

    /// Replaces the segment starting at `first` (after sealing).
    pub fn replace(&mut self, first: u64, seg: Arc<Segment>) {
        if let Some(s) = self.segments.iter_mut().find(|s| s.first_offset() == first) {
            *s = seg;
        }
    }
}

/// Reads the frames of a write-ahead file for recovery.
pub struct WalScan {
    /// Header.
    pub header: FileHeader,
    /// Good frames.
    pub frames: u64,
    /// Damaged ranges (kept, not cut).
    pub damage: Vec<crate::damage::Damage>,
    /// Where the good part ends.
    pub good_len: u64,
    /// File length.
    pub file_len: u64,
    /// Why the rest is a torn tail, if it is.
    pub bad: Option<String>,
}

/// Scans a write-ahead file; `f` sees each good frame and each damaged
/// range in file order (see [`crate::damage::walk`]).
pub fn scan_wal(
    path: &std::path::Path,
    f: &mut dyn FnMut(crate::damage::WalItem<'_>) -> Result<(), StoreError>,
) -> Result<WalScan, StoreError> {
    let bytes = std::fs::read(path).map_err(|e| StoreError::io("read", path, e))?;
    let header = FileHeader::decode(&bytes, format::WAL_MAGIC, path)?;
    let (mut frames, mut damage) = (0, Vec::new());
    let end = crate::damage::walk(&bytes, header.first_offset, &mut |item| {
        match &item {
            crate::damage::WalItem::Frame { .. } => frames += 1,
            crate::damage::WalItem::Damaged(d) => damage.push(d.clone()),
        }
        f(item)
    })?;
    Ok(WalScan {
        header,
        frames,
        damage,
        good_len: end.good_len,
        file_len: bytes.len() as u64,
        bad: end.torn,
    })
}
