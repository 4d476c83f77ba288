//! Word count (SPEC §2.3): every word with its number of occurrences.

use crate::job::Job;
use crate::words::for_each_word;

/// Word count. Values in flight are counts as 8 little-endian bytes; the output value is decimal.
#[derive(Clone, Copy, Debug, Default)]
pub struct WordCount;

const ONE: [u8; 8] = 1u64.to_le_bytes();

/// Reads a count; a value of the wrong length (which only a corrupt peer could send) counts 0.
fn count(value: &[u8]) -> u64 {
    value.try_into().map(u64::from_le_bytes).unwrap_or(0)
}

impl Job for WordCount {
    fn name(&self) -> &'static str {
        "wc"
    }

    fn map<'a>(&self, _doc: &str, split: &'a [u8], emit: &mut dyn FnMut(&'a [u8], &[u8])) {
        for_each_word(split, |word| emit(word, &ONE));
    }

    fn map_keys<'a>(&self, _doc: &str, split: &'a [u8], emit: &mut dyn FnMut(&'a [u8])) -> bool {
        for_each_word(split, emit);
        true
    }

    fn reduce(&self, _key: &[u8], values: &mut dyn Iterator<Item = &[u8]>, out: &mut Vec<u8>) {
        let total: u64 = values.map(count).sum();
        out.extend_from_slice(total.to_string().as_bytes());
    }

    fn has_combiner(&self) -> bool {
        true
    }

    fn combine(&self, acc: &mut Vec<u8>, value: &[u8]) {
        let sum = count(acc).wrapping_add(count(value));
        acc.clear();
        acc.extend_from_slice(&sum.to_le_bytes());
    }
}
