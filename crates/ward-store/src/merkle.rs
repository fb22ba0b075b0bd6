//! Merkle tree hashing, inclusion and consistency proofs as in RFC 6962 /
//! RFC 9162 section 2.1: SHA-256, leaf hash `H(0x00 || leaf)`, node hash
//! `H(0x01 || left || right)`, the split point of a range of n leaves is the
//! largest power of two smaller than n.
//!
//! Proof generation works on any source of subtree hashes
//! ([`SubtreeSource`]); verification needs only the hashes in the proof.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Largest power of two strictly smaller than `n` (n >= 2).
pub fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Gives the hash of the subtree over leaves `start..end`. Only ranges that
/// occur in the RFC 9162 decomposition are asked for.
pub trait SubtreeSource {
    /// The error of the source.
    type Error;
    /// `MTH(D[start:end])`, `end > start`.
    fn subtree(&mut self, start: u64, end: u64) -> Result<Hash, Self::Error>;
}

/// Root of a whole list of leaf hashes (reference implementation, used by
/// verification and tests).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// A compact accumulator: the roots of the perfect subtrees covering the
/// leaves pushed so far. Root of the current size in O(log n).
#[derive(Clone, Debug, Default)]
pub struct CompactRange {
    size: u64,
    /// (height, hash) from the largest (leftmost) to the smallest.
    stack: Vec<(u32, Hash)>,
}

impl CompactRange {
    /// Number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds the next leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_subtree(0, leaf);
    }

    /// Adds a perfect subtree of `2^height` leaves; the current size must
    /// be a multiple of that.
    pub fn push_subtree(&mut self, height: u32, hash: Hash) {
        let mut cur = (height, hash);
        while let Some(&(h, top)) = self.stack.last() {
            if h != cur.0 {
                break;
            }
            self.stack.pop();
            cur = (h + 1, node_hash(&top, &cur.1));
        }
        self.stack.push(cur);
        self.size += 1 << height;
    }

    /// The root of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, h) in iter {
            acc = node_hash(h, &acc);
        }
        acc
    }
}

/// The audit path of leaf `index` in the tree of the first `size` leaves.
pub fn inclusion_path<S: SubtreeSource>(
    src: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    let mut out = Vec::new();
    path(src, index, 0, size, &mut out)?;
    Ok(out)
}

fn path<S: SubtreeSource>(
    src: &mut S,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m - start < k {
        path(src, m, start, start + k, out)?;
        out.push(src.subtree(start + k, end)?);
    } else {
        path(src, m, start + k, end, out)?;
        out.push(src.subtree(start, start + k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `old` and `new` leaves,
/// `0 < old <= new`.
pub fn consistency_path<S: SubtreeSource>(
    src: &mut S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, S::Error> {
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof(src, old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

fn subproof<S: SubtreeSource>(
    src: &mut S,
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(src.subtree(start, end)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(src, m, start, start + k, complete, out)?;
        out.push(src.subtree(start + k, end)?);
    } else {
        subproof(src, m - k, start + k, end, false, out)?;
        out.push(src.subtree(start, start + k)?);
    }
    Ok(())
}

/// RFC 9162 2.1.3.2: does `path` prove that `leaf` is at `index` in the
/// tree of `size` leaves with `root`?
pub fn verify_inclusion_path(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// RFC 9162 2.1.4.2: does `proof` show that the tree of `new` leaves with
/// `new_root` extends the tree of `old` leaves with `old_root`?
pub fn verify_consistency_path(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    let mut items: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        items.push(*old_root);
    }
    items.extend_from_slice(proof);
    let Some((first, rest)) = items.split_first() else {
        return false;
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *old_root && sr == *new_root && snode == 0
}

/// A [`SubtreeSource`] over a slice of leaf hashes.
pub struct SliceSource<'a>(pub &'a [Hash]);

impl SubtreeSource for SliceSource<'_> {
    type Error = std::convert::Infallible;
    fn subtree(&mut self, start: u64, end: u64) -> Result<Hash, Self::Error> {
        Ok(root_of(&self.0[start as usize..end as usize]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_le_bytes()))
            .collect()
    }

    #[test]
    fn compact_range_matches_reference_root() {
        let l = leaves(300);
        let mut c = CompactRange::default();
        assert_eq!(c.root(), empty_root());
        for (i, h) in l.iter().enumerate() {
            c.push(*h);
            assert_eq!(c.root(), root_of(&l[..=i]), "size {}", i + 1);
        }
    }

    /// `verify` adds whole aligned chunks as subtrees: that must give the
    /// same roots as adding their leaves one by one, whatever the start.
    #[test]
    fn chunk_subtrees_match_leaf_by_leaf() {
        let l = leaves(1400);
        for first in [0usize, 1, 255, 256, 300] {
            let seg = &l[first..];
            let mut reference = CompactRange::default();
            let mut chunked = CompactRange::default();
            for h in &l[..first] {
                reference.push(*h);
                chunked.push(*h);
            }
            let s = crate::format::sealed::MerkleSummary::of_parallel(first as u64, seg, 2);
            assert_eq!(
                s,
                crate::format::sealed::MerkleSummary::of(first as u64, seg)
            );
            for h in seg {
                reference.push(*h);
            }
            for h in &s.head {
                chunked.push(*h);
            }
            for root in &s.chunks {
                assert_eq!(chunked.size() % 256, 0);
                chunked.push_subtree(8, *root);
            }
            for h in &s.tail {
                chunked.push(*h);
            }
            assert_eq!(chunked.size(), reference.size());
            assert_eq!(chunked.root(), reference.root(), "first {first}");
        }
    }

    #[test]
    fn proofs_verify_for_all_small_trees() {
        let l = leaves(40);
        for size in 1..=40u64 {
            let root = root_of(&l[..size as usize]);
            for i in 0..size {
                let p = inclusion_path(&mut SliceSource(&l), i, size).unwrap();
                assert!(verify_inclusion_path(&l[i as usize], i, size, &p, &root));
                let other = leaf_hash(b"other");
                assert!(!verify_inclusion_path(&other, i, size, &p, &root));
            }
            for old in 1..=size {
                let old_root = root_of(&l[..old as usize]);
                let p = consistency_path(&mut SliceSource(&l), old, size).unwrap();
                assert!(
                    verify_consistency_path(old, size, &old_root, &root, &p),
                    "{old} {size}"
                );
            }
        }
    }
}
