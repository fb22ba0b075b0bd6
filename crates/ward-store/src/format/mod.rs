//! The on-disk format, in one place. Version [`FORMAT_VERSION`].
//!
//! All integers are little-endian. Every file starts with a 32-byte header:
//!
//! ```text
//! magic[8] | version u32 | first_offset u64 | created_ms i64 | crc32c(previous 28 bytes) u32
//! ```
//!
//! **Record** (the Merkle leaf data, hashed as `SHA-256(0x00 || record)`):
//!
//! ```text
//! time_ms i64 | id_len u16 | id | n_cat u8 | (len u16, category)* | body_len u32 | body | offset u64
//! ```
//!
//! The offset comes last so that a writer can checksum and hash everything
//! before it holds the lock that assigns offsets.
//!
//! **Write-ahead segment** (`segments/<first_offset:020>.wal`, magic
//! `WARDWAL\0`): the header, then frames
//!
//! ```text
//! payload_len u32 | crc32c(payload) u32 | payload = terms_len u32 | terms | record
//! terms = (field_len u16, field, value_len u16, value)*
//! ```
//!
//! A torn tail (a short or bad frame with no valid frame after it, in the
//! newest file) is cut off at start-up; everything before it was fsynced
//! before it was acknowledged. A bad frame *followed* by a valid one is
//! damage, never cut: start-up resynchronizes on the next valid frame, keeps
//! every later record at its offset, and copies the damaged bytes to
//! `segments/<first:020>.wal.<byte>.quarantine` (one JSON line, then the raw
//! bytes); see [`crate::damage`] for the resynchronization and the
//! placeholder Merkle leaf of a damaged offset.
//!
//! **Sealed segment** (`segments/<first_offset:020>.seg`, magic `WARDSEG\0`,
//! mode 0444): the header, then zstd blocks, each the concatenation of
//! `len u32 | crc32c(record) u32 | record`, then an index section (block
//! directory with time bounds and bloom filters, category retention times and
//! the Merkle summary, see [`sealed`]), then a 32-byte footer:
//!
//! ```text
//! index_pos u64 | index_len u64 | crc32c(index) u32 | version u32 | magic "WARDEND\0"
//! ```
//!
//! A new version gets a new number here; readers keep reading every older
//! version, proven by the fixtures in `tests/compat/`.

pub mod sealed;

use crate::error::StoreError;
use std::path::Path;

/// The format version written by this build.
pub const FORMAT_VERSION: u32 = 1;
/// Magic of a write-ahead segment.
pub const WAL_MAGIC: &[u8; 8] = b"WARDWAL\0";
/// Magic of a sealed segment.
pub const SEG_MAGIC: &[u8; 8] = b"WARDSEG\0";
/// Magic at the end of a sealed segment.
pub const FOOTER_MAGIC: &[u8; 8] = b"WARDEND\0";
/// Size of the file header.
pub const HEADER_LEN: usize = 32;
/// Size of the sealed segment footer.
pub const FOOTER_LEN: usize = 32;
/// Size of a write-ahead frame header (length and checksum).
pub const FRAME_HEADER_LEN: usize = 8;

/// Limits on one record; `append` refuses records beyond them.
pub const MAX_ID_LEN: usize = 512;
/// Maximum number of categories on one record.
pub const MAX_CATEGORIES: usize = 32;
/// Maximum length of one category or term field/value.
pub const MAX_TERM_LEN: usize = 4096;
/// Maximum number of index terms on one record.
pub const MAX_TERMS: usize = 256;
/// Maximum body size.
pub const MAX_BODY_LEN: usize = 8 << 20;
/// Maximum payload of one frame (bounds allocation when reading).
pub const MAX_FRAME_LEN: usize = MAX_BODY_LEN + (1 << 20) + MAX_TERMS * 2 * (MAX_TERM_LEN + 2);

/// The header of a segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// Magic (which kind of file).
    pub magic: [u8; 8],
    /// Format version.
    pub version: u32,
    /// Offset of the first record in the file.
    pub first_offset: u64,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
}

impl FileHeader {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&self.magic);
        out[8..12].copy_from_slice(&self.version.to_le_bytes());
        out[12..20].copy_from_slice(&self.first_offset.to_le_bytes());
        out[20..28].copy_from_slice(&self.created_ms.to_le_bytes());
        let crc = crc32c::crc32c(&out[0..28]);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks a header of the expected kind.
    pub fn decode(bytes: &[u8], magic: &[u8; 8], path: &Path) -> Result<Self, StoreError> {
        if bytes.len() < HEADER_LEN {
            return Err(StoreError::corrupt(path, 0, "file shorter than its header"));
        }
        if &bytes[0..8] != magic {
            return Err(StoreError::corrupt(path, 0, "wrong magic"));
        }
        let crc = u32_at(bytes, 28);
        if crc != crc32c::crc32c(&bytes[0..28]) {
            return Err(StoreError::corrupt(path, 28, "header checksum mismatch"));
        }
        let version = u32_at(bytes, 8);
        if version == 0 || version > FORMAT_VERSION {
            return Err(StoreError::corrupt(
                path,
                8,
                format!(
                    "unsupported format version {version} (this build reads 1..={FORMAT_VERSION})"
                ),
            ));
        }
        Ok(FileHeader {
            magic: *magic,
            version,
            first_offset: u64_at(bytes, 12),
            created_ms: i64_at(bytes, 20),
        })
    }
}

/// A record decoded from its leaf bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedRecord {
    /// Event time.
    pub time_ms: i64,
    /// Event id.
    pub id: String,
    /// Categories.
    pub category: Vec<String>,
    /// The body (event JSON).
    pub body: Vec<u8>,
    /// The offset the writer assigned.
    pub offset: u64,
}

/// Encodes a record without its offset (the last 8 bytes are left zero for
/// [`set_record_offset`]). Checks the limits.
pub fn encode_record_prefix(
    out: &mut Vec<u8>,
    time_ms: i64,
    id: &str,
    category: &[String],
    body: &[u8],
) -> Result<(), String> {
    if id.len() > MAX_ID_LEN {
        return Err(format!(
            "event id is {} bytes, limit {MAX_ID_LEN}",
            id.len()
        ));
    }
    if category.len() > MAX_CATEGORIES {
        return Err(format!(
            "{} categories, limit {MAX_CATEGORIES}",
            category.len()
        ));
    }
    if body.len() > MAX_BODY_LEN {
        return Err(format!(
            "body is {} bytes, limit {MAX_BODY_LEN}",
            body.len()
        ));
    }
    out.extend_from_slice(&time_ms.to_le_bytes());
    out.extend_from_slice(&(id.len() as u16).to_le_bytes());
    out.extend_from_slice(id.as_bytes());
    out.push(category.len() as u8);
    for c in category {
        if c.len() > MAX_TERM_LEN {
            return Err(format!(
                "a category is {} bytes, limit {MAX_TERM_LEN}",
                c.len()
            ));
        }
        out.extend_from_slice(&(c.len() as u16).to_le_bytes());
        out.extend_from_slice(c.as_bytes());
    }
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&[0u8; 8]);
    Ok(())
}

/// Writes the offset into the last 8 bytes of an encoded record.
pub fn set_record_offset(record: &mut [u8], offset: u64) {
    let n = record.len();
    if n >= 8 {
        record[n - 8..].copy_from_slice(&offset.to_le_bytes());
    }
}

/// Decodes leaf bytes into a record; `Err` says what is malformed.
pub fn decode_record(bytes: &[u8]) -> Result<DecodedRecord, String> {
    let mut r = Reader { bytes, pos: 0 };
    let time_ms = r.i64()?;
    let id_len = r.u16()? as usize;
    let id = r.str(id_len)?;
    let n_cat = r.u8()? as usize;
    let mut category = Vec::with_capacity(n_cat);
    for _ in 0..n_cat {
        let len = r.u16()? as usize;
        category.push(r.str(len)?);
    }
    let body_len = r.u32()? as usize;
    let body = r.take(body_len)?.to_vec();
    let offset = r.u64()?;
    if r.pos != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the record",
            bytes.len() - r.pos
        ));
    }
    Ok(DecodedRecord {
        time_ms,
        id,
        category,
        body,
        offset,
    })
}

/// What a segment's index summarizes of one record, borrowed from its
/// leaf bytes: event time, event id and categories.
pub fn record_keys(bytes: &[u8]) -> Result<(i64, &str, Vec<&str>), String> {
    let mut r = Reader { bytes, pos: 0 };
    let time_ms = r.i64()?;
    let id_len = r.u16()? as usize;
    let id =
        std::str::from_utf8(r.take(id_len)?).map_err(|_| "event id is not UTF-8".to_owned())?;
    let n_cat = r.u8()? as usize;
    let mut category = Vec::with_capacity(n_cat);
    for _ in 0..n_cat {
        let len = r.u16()? as usize;
        category.push(
            std::str::from_utf8(r.take(len)?).map_err(|_| "a category is not UTF-8".to_owned())?,
        );
    }
    Ok((time_ms, id, category))
}

/// A record decoded without copying: id and body borrow the leaf bytes
/// (categories are skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Event time.
    pub time_ms: i64,
    /// Event id.
    pub id: &'a str,
    /// The body.
    pub body: &'a [u8],
    /// The offset.
    pub offset: u64,
}

/// Decodes leaf bytes without copying (the search hot path).
pub fn decode_record_ref(bytes: &[u8]) -> Result<RecordRef<'_>, String> {
    let mut r = Reader { bytes, pos: 0 };
    let time_ms = r.i64()?;
    let id_len = r.u16()? as usize;
    let id =
        std::str::from_utf8(r.take(id_len)?).map_err(|_| "event id is not UTF-8".to_owned())?;
    let n_cat = r.u8()? as usize;
    for _ in 0..n_cat {
        let len = r.u16()? as usize;
        r.take(len)?;
    }
    let body_len = r.u32()? as usize;
    let body = r.take(body_len)?;
    let offset = r.u64()?;
    if r.pos != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the record",
            bytes.len() - r.pos
        ));
    }
    Ok(RecordRef {
        time_ms,
        id,
        body,
        offset,
    })
}

/// The offset stored in a record's last 8 bytes, without decoding the rest.
pub fn record_offset(bytes: &[u8]) -> Option<u64> {
    (bytes.len() >= 8).then(|| u64_at(bytes, bytes.len() - 8))
}

/// Encodes index terms.
pub fn encode_terms(out: &mut Vec<u8>, terms: &[(String, String)]) -> Result<(), String> {
    if terms.len() > MAX_TERMS {
        return Err(format!("{} index terms, limit {MAX_TERMS}", terms.len()));
    }
    for (f, v) in terms {
        if f.len() > MAX_TERM_LEN || v.len() > MAX_TERM_LEN {
            return Err(format!("an index term is longer than {MAX_TERM_LEN} bytes"));
        }
        out.extend_from_slice(&(f.len() as u16).to_le_bytes());
        out.extend_from_slice(f.as_bytes());
        out.extend_from_slice(&(v.len() as u16).to_le_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    Ok(())
}

/// Decodes index terms.
pub fn decode_terms(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut r = Reader { bytes, pos: 0 };
    let mut out = Vec::new();
    while r.pos < bytes.len() {
        let fl = r.u16()? as usize;
        let f = r.str(fl)?;
        let vl = r.u16()? as usize;
        let v = r.str(vl)?;
        out.push((f, v));
    }
    Ok(out)
}

/// Splits a write-ahead frame payload into (terms bytes, record bytes).
pub fn split_payload(payload: &[u8]) -> Result<(&[u8], &[u8]), String> {
    if payload.len() < 4 {
        return Err("payload shorter than its terms length".into());
    }
    let tl = u32_at(payload, 0) as usize;
    if 4 + tl > payload.len() {
        return Err("terms length beyond the payload".into());
    }
    Ok((&payload[4..4 + tl], &payload[4 + tl..]))
}

/// Result of parsing one frame from a buffer.
pub enum Frame<'a> {
    /// A complete frame with a valid checksum.
    Ok {
        /// The payload.
        payload: &'a [u8],
        /// Bytes taken from the buffer.
        len: usize,
    },
    /// The buffer ends inside the frame.
    Short,
    /// The frame's checksum or length is wrong.
    Bad(String),
}

/// Parses one frame (`len | crc | payload`) at the start of `buf`.
pub fn parse_frame(buf: &[u8]) -> Frame<'_> {
    if buf.len() < FRAME_HEADER_LEN {
        return Frame::Short;
    }
    let len = u32_at(buf, 0) as usize;
    if len > MAX_FRAME_LEN {
        return Frame::Bad(format!("frame length {len} beyond the limit"));
    }
    if buf.len() < FRAME_HEADER_LEN + len {
        return Frame::Short;
    }
    let crc = u32_at(buf, 4);
    let payload = &buf[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len];
    if crc32c::crc32c(payload) != crc {
        return Frame::Bad("checksum mismatch".into());
    }
    Frame::Ok {
        payload,
        len: FRAME_HEADER_LEN + len,
    }
}

/// Little-endian readers on a byte slice; callers check bounds first.
pub fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// See [`u32_at`].
pub fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// See [`u32_at`].
pub fn i64_at(b: &[u8], at: usize) -> i64 {
    u64_at(b, at) as i64
}

/// A bounds-checked cursor over bytes.
pub struct Reader<'a> {
    /// The bytes.
    pub bytes: &'a [u8],
    /// Current position.
    pub pos: usize,
}

impl<'a> Reader<'a> {
    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() - self.pos < n {
            return Err(format!(
                "needs {n} bytes at position {} but {} remain",
                self.pos,
                self.bytes.len() - self.pos
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// Reads a u8.
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    /// Reads a u16.
    pub fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    /// Reads a u32.
    pub fn u32(&mut self) -> Result<u32, String> {
        Ok(u32_at(self.take(4)?, 0))
    }
    /// Reads a u64.
    pub fn u64(&mut self) -> Result<u64, String> {
        Ok(u64_at(self.take(8)?, 0))
    }
    /// Reads an i64.
    pub fn i64(&mut self) -> Result<i64, String> {
        Ok(self.u64()? as i64)
    }
    /// Reads a 32-byte hash.
    pub fn hash(&mut self) -> Result<[u8; 32], String> {
        let mut h = [0u8; 32];
        h.copy_from_slice(self.take(32)?);
        Ok(h)
    }
    /// Reads a UTF-8 string of `n` bytes.
    pub fn str(&mut self, n: usize) -> Result<String, String> {
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| format!("invalid UTF-8 at position {}", self.pos - n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_with_offset_last() {
        let mut buf = Vec::new();
        encode_record_prefix(&mut buf, 42, "id-1", &["authentication".into()], b"{}").unwrap();
        set_record_offset(&mut buf, 7);
        let r = decode_record(&buf).unwrap();
        assert_eq!(r.offset, 7);
        assert_eq!(r.id, "id-1");
        assert_eq!(r.category, vec!["authentication".to_string()]);
        assert_eq!(r.body, b"{}");
        assert_eq!(record_offset(&buf), Some(7));
        assert!(decode_record(&buf[..buf.len() - 1]).is_err());
    }

    #[test]
    fn header_rejects_future_version_and_bad_crc() {
        let h = FileHeader {
            magic: *WAL_MAGIC,
            version: FORMAT_VERSION,
            first_offset: 5,
            created_ms: 9,
        };
        let mut b = h.encode();
        assert_eq!(
            FileHeader::decode(&b, WAL_MAGIC, Path::new("x")).unwrap(),
            h
        );
        assert!(FileHeader::decode(&b, SEG_MAGIC, Path::new("x")).is_err());
        b[13] ^= 1;
        assert!(FileHeader::decode(&b, WAL_MAGIC, Path::new("x")).is_err());
    }

    #[test]
    fn limits_are_enforced() {
        let mut buf = Vec::new();
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert!(encode_record_prefix(&mut buf, 0, &long, &[], b"").is_err());
        let terms = vec![("a".to_string(), "b".to_string()); MAX_TERMS + 1];
        assert!(encode_terms(&mut buf, &terms).is_err());
    }
}
