//! Memo tables for the search: interned model states and visited (linearized set, state) pairs.
//!
//! Interning gives every distinct model state a small [`StateId`], so the search stack and the
//! visited table hold 4-byte ids instead of clones of the state. A new state is moved into the
//! table once; afterwards the hot loop never clones a state.

use std::collections::HashMap;
use std::hash::Hash;

use crate::bitset::Bitset;
use crate::hash::{Prehashed, hash_one, mix64};

/// End of a collision chain.
const NIL: u32 = u32::MAX;

/// Index of an interned state in a [`StateTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StateId(u32);

/// Distinct model states, each stored once.
#[derive(Debug)]
pub(crate) struct StateTable<S> {
    states: Vec<S>,
    /// `chain[i]` is the next state with the same hash as state `i`, or `NIL`.
    chain: Vec<u32>,
    heads: HashMap<u64, u32, Prehashed>,
}

impl<S: Hash + Eq> StateTable<S> {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self {
            states: Vec::new(),
            chain: Vec::new(),
            heads: HashMap::default(),
        }
    }

    /// The id of `state`, adding it if it is new.
    pub(crate) fn intern(&mut self, state: S) -> StateId {
        let hash = hash_one(&state);
        let mut cursor = self.heads.get(&hash).copied().unwrap_or(NIL);
        while cursor != NIL {
            if self.states[cursor as usize] == state {
                return StateId(cursor);
            }
            cursor = self.chain[cursor as usize];
        }
        let id = to_u32(self.states.len());
        self.states.push(state);
        self.chain.push(self.heads.insert(hash, id).unwrap_or(NIL));
        StateId(id)
    }

    /// The state behind `id`.
    pub(crate) fn get(&self, id: StateId) -> &S {
        &self.states[id.0 as usize]
    }
}

/// Set of visited (linearized set, state) configurations: Lowe's memoization.
///
/// Bitsets are stored back to back in one word arena, so an insert allocates only when the
/// arena grows.
#[derive(Debug)]
pub(crate) struct Visited {
    words_per_set: usize,
    words: Vec<u64>,
    states: Vec<StateId>,
    /// `chain[i]` is the next entry with the same hash as entry `i`, or `NIL`.
    chain: Vec<u32>,
    heads: HashMap<u64, u32, Prehashed>,
}

impl Visited {
    /// An empty table for bitsets of `ops` bits.
    pub(crate) fn new(ops: usize) -> Self {
        Self {
            words_per_set: Bitset::new(ops).words().len(),
            words: Vec::new(),
            states: Vec::new(),
            chain: Vec::new(),
            heads: HashMap::default(),
        }
    }

    /// Records `(set, state)`; returns `false` if it was already recorded.
    pub(crate) fn insert(&mut self, set: &Bitset, state: StateId) -> bool {
        assert_eq!(
            set.words().len(),
            self.words_per_set,
            "bitset of the wrong size"
        );
        let hash = mix64(set.hash() ^ u64::from(state.0).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut cursor = self.heads.get(&hash).copied().unwrap_or(NIL);
        while cursor != NIL {
            let entry = cursor as usize;
            let start = entry * self.words_per_set;
            if self.states[entry] == state
                && self.words[start..start + self.words_per_set] == *set.words()
            {
                return false;
            }
            cursor = self.chain[entry];
        }
        let id = to_u32(self.states.len());
        self.words.extend_from_slice(set.words());
        self.states.push(state);
        self.chain.push(self.heads.insert(hash, id).unwrap_or(NIL));
        true
    }
}

fn to_u32(len: usize) -> u32 {
    // The step budget bounds the table far below this; hitting it means the budget is broken.
    u32::try_from(len)
        .ok()
        .filter(|&id| id != NIL)
        .expect("memo table exceeds u32 entries")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intern_returns_the_same_id_for_equal_states() {
        let mut table = StateTable::new();
        let a = table.intern(String::from("a"));
        let b = table.intern(String::from("b"));
        assert_ne!(a, b);
        assert_eq!(table.intern(String::from("a")), a);
        assert_eq!(table.get(b), "b");
    }

    #[test]
    fn visited_distinguishes_sets_and_states() {
        let mut table = StateTable::new();
        let x = table.intern(1u8);
        let y = table.intern(2u8);
        let mut visited = Visited::new(70);
        let mut set = Bitset::new(70);
        set.set(65);
        assert!(visited.insert(&set, x));
        assert!(!visited.insert(&set, x));
        assert!(visited.insert(&set, y));
        set.set(0);
        assert!(visited.insert(&set, x));
        set.clear(0);
        assert!(!visited.insert(&set, y));
    }
}
