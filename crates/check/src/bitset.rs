//! A fixed-size bitset of linearized operations with an incrementally maintained hash.
//!
//! The search hashes the linearized set at every step. Recomputing a hash over all words would
//! cost O(ops/64) per step; a Zobrist hash (XOR of one random word per set bit) updates in O(1)
//! on `set` and `clear` and is order-independent, which is exactly what a set needs.

use crate::hash::mix64;

/// Bits per storage word.
const WORD_BITS: usize = 64;

/// Set of operation indices `0..len` with an O(1)-maintained hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Vec<u64>,
    hash: u64,
}

impl Bitset {
    /// An empty set able to hold indices `0..len`.
    pub(crate) fn new(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(WORD_BITS)],
            hash: 0,
        }
    }

    /// Adds `index`, which must be absent.
    pub(crate) fn set(&mut self, index: usize) {
        let (word, mask) = locate(index);
        assert_eq!(self.words[word] & mask, 0, "bit {index} set twice");
        self.words[word] |= mask;
        self.hash ^= zobrist(index);
    }

    /// Removes `index`, which must be present.
    pub(crate) fn clear(&mut self, index: usize) {
        let (word, mask) = locate(index);
        assert_ne!(
            self.words[word] & mask,
            0,
            "bit {index} cleared while absent"
        );
        self.words[word] &= !mask;
        self.hash ^= zobrist(index);
    }

    /// Whether `index` is in the set.
    pub(crate) fn contains(&self, index: usize) -> bool {
        let (word, mask) = locate(index);
        self.words[word] & mask != 0
    }

    /// The storage words, for exact comparison in the memo table.
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// Hash of the set's contents; equal sets have equal hashes.
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }
}

fn locate(index: usize) -> (usize, u64) {
    (index / WORD_BITS, 1u64 << (index % WORD_BITS))
}

/// The Zobrist key of one index: a fixed pseudo-random word, so runs are deterministic.
fn zobrist(index: usize) -> u64 {
    mix64((index as u64) ^ 0x2545_f491_4f6c_dd1d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_only_on_contents() {
        let mut a = Bitset::new(130);
        let mut b = Bitset::new(130);
        a.set(3);
        a.set(129);
        b.set(129);
        b.set(7);
        b.set(3);
        b.clear(7);
        assert_eq!(a, b);
        assert_eq!(a.hash(), b.hash());
        assert!(a.contains(129));
        assert!(!a.contains(7));
        a.clear(3);
        a.clear(129);
        assert_eq!(a.hash(), 0);
        assert_eq!(a.words(), &[0, 0, 0]);
    }

    #[test]
    #[should_panic(expected = "set twice")]
    fn double_set_is_a_bug() {
        let mut a = Bitset::new(4);
        a.set(1);
        a.set(1);
    }
}
