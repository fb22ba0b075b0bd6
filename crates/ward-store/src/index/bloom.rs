//! Per-block bloom filters over `field=value` terms, so that a selective
//! search reads only the blocks that may hold a term.
//!
//! The term hash is part of the on-disk format: FNV-1a 64 over the field,
//! a 0xff separator and the lowercased value (keyword matching is
//! case-insensitive), then split into two hashes for double hashing. It must
//! never change for a given format version.

use crate::format::MAX_TERM_LEN;

/// Bits per distinct term; with 7 probes this gives about 1% false positives.
const BITS_PER_TERM: usize = 10;
/// Number of probes.
const PROBES: u8 = 7;

/// The stable 64-bit hash of a term.
///
/// Only the first [`MAX_TERM_LEN`] bytes of the lowercased value count
/// (whole characters): the store indexes an over-long value by that prefix
/// ([`crate::record::fit_index`]), and a search for the whole value hashes
/// to the same term, so truncation never hides a record from search.
/// Values that fit, the only ones a store could hold before, hash as they
/// always did.
pub fn term_hash(field: &str, value: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    for b in field.bytes() {
        feed(b);
    }
    feed(0xff);
    if value.is_ascii() {
        for b in value.bytes().take(MAX_TERM_LEN) {
            feed(b.to_ascii_lowercase());
        }
    } else {
        for c in lowercase_prefix(value) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                feed(b);
            }
        }
    }
    h
}

/// The lowercased characters of `value` that fit in [`MAX_TERM_LEN`]
/// bytes: the part of a value the index keeps.
pub fn lowercase_prefix(value: &str) -> impl Iterator<Item = char> + '_ {
    let mut used = 0usize;
    value
        .chars()
        .flat_map(char::to_lowercase)
        .take_while(move |c| {
            used += c.len_utf8();
            used <= MAX_TERM_LEN
        })
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A bloom filter with a fixed number of 64-bit words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bloom {
    /// Number of probes.
    pub k: u8,
    /// The bits.
    pub words: Vec<u64>,
}

impl Bloom {
    /// An empty filter sized for `terms` distinct terms.
    pub fn with_capacity(terms: usize) -> Self {
        let bits = (terms.max(8) * BITS_PER_TERM).next_power_of_two();
        Bloom {
            k: PROBES,
            words: vec![0; bits / 64],
        }
    }

    /// Builds a filter from term hashes (duplicates are fine).
    pub fn from_hashes(hashes: &mut Vec<u64>) -> Self {
        hashes.sort_unstable();
        hashes.dedup();
        let mut b = Bloom::with_capacity(hashes.len());
        for &h in hashes.iter() {
            b.insert(h);
        }
        b
    }

    fn probes(&self, h: u64) -> impl Iterator<Item = usize> + use<> {
        let bits = (self.words.len() * 64).max(64) as u64;
        let h1 = mix(h);
        let h2 = mix(h ^ 0x9e37_79b9_7f4a_7c15) | 1;
        (0..u64::from(self.k)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize)
    }

    /// Adds a term hash.
    pub fn insert(&mut self, h: u64) {
        if self.words.is_empty() {
            return;
        }
        let bits = (self.words.len() * 64) as u64;
        let (h1, h2) = (mix(h), mix(h ^ 0x9e37_79b9_7f4a_7c15) | 1);
        for i in 0..u64::from(self.k) {
            let bit = (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize;
            self.words[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// False means the term is certainly absent.
    pub fn may_contain(&self, h: u64) -> bool {
        if self.words.is_empty() {
            return false;
        }
        self.probes(h)
            .all(|bit| self.words[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_terms_are_found_and_most_others_are_not() {
        let mut hashes: Vec<u64> = (0..1000)
            .map(|i| term_hash("user.name", &format!("user{i}")))
            .collect();
        let b = Bloom::from_hashes(&mut hashes);
        for i in 0..1000 {
            assert!(b.may_contain(term_hash("user.name", &format!("USER{i}"))));
        }
        let false_hits = (0..10_000)
            .filter(|i| b.may_contain(term_hash("user.name", &format!("other{i}"))))
            .count();
        assert!(false_hits < 300, "{false_hits} false positives in 10000");
    }

    #[test]
    fn term_hash_is_stable() {
        // Part of the on-disk format: a change here breaks old segments.
        assert_eq!(term_hash("a", "B"), term_hash("a", "b"));
        assert_eq!(term_hash("user.name", "alice"), 0x6fa4_e0b5_fbfb_de38);
    }
}
