//! The records the application appends and reads back.

use crate::config::SECURITY_CATEGORIES;
use crate::format::{
    self, FRAME_HEADER_LEN, MAX_BODY_LEN, MAX_CATEGORIES, MAX_ID_LEN, MAX_TERM_LEN, MAX_TERMS,
};
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

/// Fits a record's index metadata to the store's limits, the way tantivy's
/// `RemoveLongFilter` treats over-long tokens: the record is kept, only its
/// index loses detail. Returns the fields that lost something (empty when
/// the record already fits), so that the caller can flag the record.
///
/// - A term value longer than [`MAX_TERM_LEN`] bytes is replaced by its
///   lowercased prefix of at most that many bytes; [`term_hash`] of the
///   whole value equals that of the prefix, so a search for the whole value
///   still finds the record.
/// - Terms beyond [`MAX_TERMS`], and terms with an over-long field name,
///   are dropped: a search on such a value may miss the record.
/// - Duplicate categories are merged; beyond [`MAX_CATEGORIES`] the
///   security categories are kept first (they decide the retention
///   minimum) and the rest dropped; an over-long category is cut like a
///   term value.
///
/// [`term_hash`]: crate::index::bloom::term_hash
///
/// ```
/// let mut category = vec!["web".to_owned(); 40];
/// let mut terms = vec![("user.name".to_owned(), "x".repeat(5000))];
/// let cut = ward_store::fit_index(&mut category, &mut terms);
/// assert_eq!(cut, ["user.name"]);
/// assert_eq!(category, ["web"]);
/// assert_eq!(terms[0].1.len(), ward_store::format::MAX_TERM_LEN);
/// ```
pub fn fit_index(category: &mut Vec<String>, terms: &mut Vec<(String, String)>) -> Vec<String> {
    let mut cut: Vec<String> = Vec::new();
    let mut note = |field: &str| {
        if !cut.iter().any(|c| c == field) {
            cut.push(field.to_owned());
        }
    };
    if category.len() > MAX_CATEGORIES || category.iter().any(|c| c.len() > MAX_TERM_LEN) {
        let mut seen: Vec<String> = Vec::with_capacity(category.len().min(MAX_CATEGORIES));
        for c in category.drain(..) {
            let c = if c.len() > MAX_TERM_LEN {
                note("event.category");
                crate::index::bloom::lowercase_prefix(&c).collect()
            } else {
                c
            };
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
        if seen.len() > MAX_CATEGORIES {
            note("event.category");
            // Stable: security categories first, each group in its order.
            seen.sort_by_key(|c| !SECURITY_CATEGORIES.contains(&c.as_str()));
            seen.truncate(MAX_CATEGORIES);
        }
        *category = seen;
    }
    if terms.len() > MAX_TERMS {
        for (f, _) in &terms[MAX_TERMS..] {
            note(f);
        }
        terms.truncate(MAX_TERMS);
    }
    terms.retain(|(f, _)| {
        let fits = f.len() <= MAX_TERM_LEN;
        if !fits {
            note("(over-long field name)");
        }
        fits
    });
    for (f, v) in terms.iter_mut() {
        if v.len() > MAX_TERM_LEN {
            note(f);
            *v = crate::index::bloom::lowercase_prefix(v).collect();
        }
    }
    cut
}

/// Checks a record against the store's limits without encoding it: `Err`
/// names the broken limit. [`crate::Store::append`] refuses a batch holding
/// such a record ([`crate::StoreError::InvalidRecord`]); a caller that must
/// not lose the rest of a batch checks first, after [`fit_index`].
pub fn check_record(r: &Record) -> Result<(), String> {
    if r.id.len() > MAX_ID_LEN {
        return Err(format!(
            "event id is {} bytes, limit {MAX_ID_LEN}",
            r.id.len()
        ));
    }
    if r.category.len() > MAX_CATEGORIES {
        return Err(format!(
            "{} categories, limit {MAX_CATEGORIES}",
            r.category.len()
        ));
    }
    if r.category.iter().any(|c| c.len() > MAX_TERM_LEN) {
        return Err(format!("a category is longer than {MAX_TERM_LEN} bytes"));
    }
    if r.body.len() > MAX_BODY_LEN {
        return Err(format!(
            "body is {} bytes, limit {MAX_BODY_LEN}",
            r.body.len()
        ));
    }
    if r.terms.len() > MAX_TERMS {
        return Err(format!("{} index terms, limit {MAX_TERMS}", r.terms.len()));
    }
    if r.terms
        .iter()
        .any(|(f, v)| f.len() > MAX_TERM_LEN || v.len() > MAX_TERM_LEN)
    {
        return Err(format!("an index term is longer than {MAX_TERM_LEN} bytes"));
    }
    Ok(())
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
    use crate::index::bloom::term_hash;

    #[test]
    fn an_over_long_term_is_indexed_by_its_prefix_and_still_found() {
        let long = format!("Ädmin{}", "é".repeat(3000));
        let mut category = vec!["iam".to_owned()];
        let mut terms = vec![
            ("user.name".to_owned(), long.clone()),
            ("host.name".to_owned(), "web-1".to_owned()),
        ];
        let cut = fit_index(&mut category, &mut terms);
        assert_eq!(cut, ["user.name"]);
        assert!(terms[0].1.len() <= MAX_TERM_LEN);
        assert!(terms[0].1.starts_with("ädmin"));
        assert_eq!(terms[1].1, "web-1");
        // A search for the whole value, in any case, hashes to the prefix.
        assert_eq!(
            term_hash("user.name", &terms[0].1),
            term_hash("user.name", &long)
        );
        assert_eq!(
            term_hash("user.name", &long.to_uppercase()),
            term_hash("user.name", &long)
        );
        assert_ne!(
            term_hash("user.name", &terms[0].1),
            term_hash("user.name", "ädmin")
        );
        let r = Record {
            id: "e".into(),
            category,
            terms,
            ..Record::default()
        };
        check_record(&r).unwrap();
        Prepared::new(&r).unwrap();
    }

    #[test]
    fn too_many_categories_keep_the_security_ones() {
        let mut category: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
        category.push("authentication".into());
        category.push("c1".into());
        let mut terms = Vec::new();
        assert_eq!(fit_index(&mut category, &mut terms), ["event.category"]);
        assert_eq!(category.len(), MAX_CATEGORIES);
        assert_eq!(category[0], "authentication");
        let mut fine = vec!["iam".to_owned(), "iam".to_owned()];
        assert!(fit_index(&mut fine, &mut terms).is_empty());
        assert_eq!(fine.len(), 2, "a record within the limits is left alone");
    }

    #[test]
    fn check_record_names_the_limit() {
        let r = Record {
            id: "x".repeat(MAX_ID_LEN + 1),
            ..Record::default()
        };
        assert!(check_record(&r).unwrap_err().contains("event id"));
        let r = Record {
            terms: vec![("user.name".into(), "x".repeat(MAX_TERM_LEN + 1))],
            ..Record::default()
        };
        assert!(check_record(&r).unwrap_err().contains("index term"));
        assert!(Prepared::new(&r).is_err());
    }

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
