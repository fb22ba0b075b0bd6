//! The records the application appends and reads back.

use crate::format::{self, FRAME_HEADER_LEN};
use serde::{Deserialize, Serialize};

/// The position of a record in the log: its Merkle leaf index. Global,
/// dense from 0, never reused (deleted records keep their offsets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Offset(pub u64);

/// One event to append.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// `event.id`.
    pub id: String,
    /// `@timestamp`, ms since the Unix epoch.
    pub time_ms: i64,
    /// `event.category` values.
    pub category: Vec<String>,
    /// Indexed field -> value pairs, extracted by the application. For the
    /// fields in [`crate::INDEXED_FIELDS`] the application must give every
    /// value present in the body, or searches on that field may miss the
    /// event. `event.id` and `event.category` are added by the store.
    pub terms: Vec<(String, String)>,
    /// The event JSON.
    pub body: Vec<u8>,
}

/// A record read back from the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// Its offset.
    pub offset: Offset,
    /// `event.id`.
    pub id: String,
    /// `@timestamp`, ms.
    pub time_ms: i64,
    /// `event.category`.
    pub category: Vec<String>,
    /// The event JSON.
    pub body: Vec<u8>,
}

impl From<format::DecodedRecord> for StoredRecord {
    fn from(r: format::DecodedRecord) -> Self {
        StoredRecord {
            offset: Offset(r.offset),
            id: r.id,
            time_ms: r.time_ms,
            category: r.category,
            body: r.body,
        }
    }
}

/// Every indexed term of a record: the application's terms plus `event.id`
/// and each `event.category`.
pub fn all_terms<'a>(
    id: &'a str,
    category: &'a [String],
    terms: &'a [(String, String)],
) -> impl Iterator<Item = (&'a str, &'a str)> {
    std::iter::once(("event.id", id))
        .chain(category.iter().map(|c| ("event.category", c.as_str())))
        .chain(terms.iter().map(|(f, v)| (f.as_str(), v.as_str())))
}

/// The distinct fields with terms in a batch (computed once per batch, not
/// per record).
pub fn batch_fields(batch: &[Record]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in batch {
        for (f, _) in all_terms(&r.id, &r.category, &r.terms) {
            if !out.iter().any(|x| x == f) {
                out.push(f.to_owned());
            }
        }
    }
    out
}

/// A record encoded as a write-ahead frame, everything but the offset done
/// (checksum state and hash state wait for the last 8 bytes).
pub struct Prepared {
    /// The whole frame; the record's offset is the last 8 bytes.
    pub frame: Vec<u8>,
    /// crc32c of the payload without the offset.
    pub crc_prefix: u32,
    /// SHA-256 state over `0x00 || record without offset`.
    pub hash_prefix: sha2::Sha256,
    /// Event time.
    pub time_ms: i64,
    /// Term hashes for the in-memory block filter.
    pub term_hashes: Vec<u64>,
}

impl Prepared {
    /// Encodes a record; `Err` names the broken limit.
    pub fn new(r: &Record) -> Result<Prepared, String> {
        use sha2::Digest;
        let mut frame = vec![0u8; FRAME_HEADER_LEN + 4];
        format::encode_terms(&mut frame, &r.terms)?;
        let terms_len = frame.len() - FRAME_HEADER_LEN - 4;
        frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + 4]
            .copy_from_slice(&(terms_len as u32).to_le_bytes());
        let rec_start = frame.len();
        format::encode_record_prefix(&mut frame, r.time_ms, &r.id, &r.category, &r.body)?;
        let payload_len = frame.len() - FRAME_HEADER_LEN;
        frame[0..4].copy_from_slice(&(payload_len as u32).to_le_bytes());
        let end = frame.len() - 8;
        let crc_prefix = crc32c::crc32c(&frame[FRAME_HEADER_LEN..end]);
        let mut hash_prefix = sha2::Sha256::new();
        hash_prefix.update([0u8]);
        hash_prefix.update(&frame[rec_start..end]);
        let term_hashes = all_terms(&r.id, &r.category, &r.terms)
            .map(|(f, v)| crate::index::bloom::term_hash(f, v))
            .collect();
        Ok(Prepared {
            frame,
            crc_prefix,
            hash_prefix,
            time_ms: r.time_ms,
            term_hashes,
        })
    }

    /// Assigns the offset: finishes the frame and returns the leaf hash.
    pub fn finish(&mut self, offset: u64) -> crate::merkle::Hash {
        use sha2::Digest;
        let bytes = offset.to_le_bytes();
        let n = self.frame.len();
        self.frame[n - 8..].copy_from_slice(&bytes);
        let crc = crc32c::crc32c_append(self.crc_prefix, &bytes);
        self.frame[4..8].copy_from_slice(&crc.to_le_bytes());
        let mut h = self.hash_prefix.clone();
        h.update(bytes);
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_frame_parses_and_hashes_like_the_leaf() {
        let r = Record {
            id: "e1".into(),
            time_ms: 5,
            category: vec!["iam".into()],
            terms: vec![("user.name".into(), "bob".into())],
            body: br#"{"a":1}"#.to_vec(),
        };
        let mut p = Prepared::new(&r).unwrap();
        let h = p.finish(99);
        let format::Frame::Ok { payload, len } = format::parse_frame(&p.frame) else {
            panic!("frame does not parse")
        };
        assert_eq!(len, p.frame.len());
        let (terms, rec) = format::split_payload(payload).unwrap();
        assert_eq!(format::decode_terms(terms).unwrap(), r.terms);
        assert_eq!(crate::merkle::leaf_hash(rec), h);
        assert_eq!(format::decode_record(rec).unwrap().offset, 99);
    }
}
