//! Deterministic hashing for the search's memo tables.
//!
//! std's `RandomState` would make iteration order (and so nothing observable, but still the
//! timing) vary between runs; a fixed, fast multiply-rotate hash keeps every run identical and
//! costs a few cycles per word in the hot loop.

use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Multiplier of the FxHash family (rustc's hasher): odd, with well-spread bits.
const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// A small FxHash-style streaming hasher. Not DoS-resistant, which is fine for checker input.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        // The length keeps zero padding from colliding with real zero bytes ("a" vs "a\0").
        self.add(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// The splitmix64 finalizer: a bijection on `u64` that spreads every input bit over the output.
pub(crate) fn mix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes one value with [`FxHasher`] and finalizes it, so the result can key a [`Prehashed`] map.
pub(crate) fn hash_one<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = FxHasher::default();
    value.hash(&mut hasher);
    mix64(hasher.finish())
}

/// Hasher for `u64` keys that are already well-mixed hashes: hashing them again is wasted work.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PrehashedHasher {
    hash: u64,
}

impl Hasher for PrehashedHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is expected; fall back to a real hash rather than silently colliding.
        let mut fx = FxHasher { hash: self.hash };
        fx.write(bytes);
        self.hash = fx.finish();
    }

    fn write_u64(&mut self, value: u64) {
        self.hash = value;
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `BuildHasher` for maps keyed by precomputed hashes.
pub(crate) type Prehashed = BuildHasherDefault<PrehashedHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_one_is_deterministic_and_separates_values() {
        assert_eq!(hash_one("abc"), hash_one("abc"));
        assert_ne!(hash_one("abc"), hash_one("abd"));
        assert_ne!(hash_one(""), hash_one("\0"));
    }

    #[test]
    fn mix64_is_not_identity() {
        assert_ne!(mix64(0), 0);
        assert_ne!(mix64(1), mix64(2));
    }
}
