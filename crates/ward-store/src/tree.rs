//! The in-memory Merkle tree: roots of every aligned perfect subtree of
//! [`CHUNK`] leaves or more, plus the leaf hashes of the last incomplete
//! chunk. Memory is about 64 bytes per 256 records; the leaves of older
//! chunks are re-read from the segments when a proof needs them.

use crate::format::sealed::CHUNK;
use crate::merkle::{Hash, SubtreeSource, node_hash, root_of, split_point};
use std::collections::HashMap;

/// The tree over all durable records (deleted ones included).
#[derive(Default)]
pub struct TreeCache {
    /// `levels[j][i]` is the root of chunks `i*2^j .. (i+1)*2^j`.
    levels: Vec<Vec<Hash>>,
    tail: Vec<Hash>,
}

impl TreeCache {
    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.complete_chunks() * CHUNK + self.tail.len() as u64
    }

    fn complete_chunks(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Adds the next leaf.
    pub fn push_leaf(&mut self, h: Hash) {
        self.tail.push(h);
        if self.tail.len() as u64 == CHUNK {
            let r = root_of(&self.tail);
            self.tail.clear();
            self.push_chunk_root(r);
        }
    }

    /// Adds the root of a complete chunk; `Err` if leaves are pending.
    pub fn push_chunk(&mut self, root: Hash) -> Result<(), String> {
        if !self.tail.is_empty() {
            return Err(format!(
                "chunk root pushed at size {} which is not a multiple of {CHUNK}",
                self.size()
            ));
        }
        self.push_chunk_root(root);
        Ok(())
    }

    fn push_chunk_root(&mut self, root: Hash) {
        let mut level = 0;
        let mut h = root;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(h);
            let n = self.levels[level].len();
            if !n.is_multiple_of(2) {
                break;
            }
            h = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            level += 1;
        }
    }

    /// A subtree source that loads chunk leaves with `load` when needed.
    pub fn view<E, F>(&self, load: F) -> TreeView<'_, F>
    where
        F: FnMut(u64) -> Result<Vec<Hash>, E>,
    {
        TreeView {
            tree: self,
            load,
            loaded: HashMap::new(),
        }
    }
}

/// See [`TreeCache::view`].
pub struct TreeView<'a, F> {
    tree: &'a TreeCache,
    load: F,
    loaded: HashMap<u64, Vec<Hash>>,
}

impl<E, F> TreeView<'_, F>
where
    F: FnMut(u64) -> Result<Vec<Hash>, E>,
{
    /// The hash of leaf `i`.
    pub fn leaf(&mut self, i: u64) -> Result<Hash, E> {
        let c = i / CHUNK;
        if c == self.tree.complete_chunks() {
            return Ok(self.tree.tail[(i % CHUNK) as usize]);
        }
        if !self.loaded.contains_key(&c) {
            let leaves = (self.load)(c)?;
            self.loaded.insert(c, leaves);
        }
        Ok(self
            .loaded
            .get(&c)
            .and_then(|l| l.get((i % CHUNK) as usize))
            .copied()
            .unwrap_or([0; 32]))
    }

    /// The root of the first `size` leaves.
    pub fn root(&mut self, size: u64) -> Result<Hash, E> {
        if size == 0 {
            return Ok(crate::merkle::empty_root());
        }
        self.subtree(0, size)
    }
}

impl<E, F> SubtreeSource for TreeView<'_, F>
where
    F: FnMut(u64) -> Result<Vec<Hash>, E>,
{
    type Error = E;
    fn subtree(&mut self, start: u64, end: u64) -> Result<Hash, E> {
        let n = end - start;
        if n == 1 {
            return self.leaf(start);
        }
        if n.is_multiple_of(CHUNK) && start.is_multiple_of(n) && (n / CHUNK).is_power_of_two() {
            let j = (n / CHUNK).trailing_zeros() as usize;
            let i = (start / CHUNK) >> j;
            if let Some(h) = self.tree.levels.get(j).and_then(|l| l.get(i as usize)) {
                return Ok(*h);
            }
        }
        let k = split_point(n);
        let l = self.subtree(start, start + k)?;
        let r = self.subtree(start + k, end)?;
        Ok(node_hash(&l, &r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{inclusion_path, leaf_hash, verify_inclusion_path};

    #[test]
    fn cached_roots_match_reference_for_many_sizes() {
        let leaves: Vec<Hash> = (0..2000u64).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut t = TreeCache::default();
        for (i, h) in leaves.iter().enumerate() {
            t.push_leaf(*h);
            let size = i as u64 + 1;
            if size.is_multiple_of(97) || size < 300 {
                let mut v = t.view(|c| {
                    Ok::<_, ()>(leaves[(c * CHUNK) as usize..((c + 1) * CHUNK) as usize].to_vec())
                });
                for s in [1, size / 2 + 1, size] {
                    assert_eq!(v.root(s).unwrap(), root_of(&leaves[..s as usize]));
                }
                let idx = size / 3;
                let p = inclusion_path(&mut v, idx, size).unwrap();
                let root = root_of(&leaves[..size as usize]);
                assert!(verify_inclusion_path(
                    &leaves[idx as usize],
                    idx,
                    size,
                    &p,
                    &root
                ));
            }
        }
    }
}
