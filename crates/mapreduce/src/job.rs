//! What a MapReduce job is: a map from a split of input text to key/value pairs, a reduce from a
//! key and all its values to one value, and an optional combiner that folds values together
//! inside one map task. Jobs are registered by name ([`job_by_name`]) so that a master and its
//! workers, possibly on different hosts, agree on the code by naming it.

use crate::jobs::{InvertedIndex, WordCount};

/// A MapReduce job. Keys and values are bytes; the final output is one `key: value` line per key,
/// sorted by key in byte order (SPEC §2.1 `Merge`).
///
/// A job must be deterministic: the framework may run a task several times (re-execution after a
/// failure, backup copies of stragglers) and keeps any one of the results.
pub trait Job: Send + Sync {
    /// The name workers and the master agree on.
    fn name(&self) -> &'static str;

    /// Maps one split of document `doc` (whole lines of it) to pairs, given to `emit`. Keys may
    /// borrow from the split, which saves a copy per word.
    fn map<'a>(&self, doc: &str, split: &'a [u8], emit: &mut dyn FnMut(&'a [u8], &[u8]));

    /// Reduces every value of `key` (in no particular order) to the key's output value, written
    /// into `out` (which starts empty).
    fn reduce(&self, key: &[u8], values: &mut dyn Iterator<Item = &[u8]>, out: &mut Vec<u8>);

    /// For counting jobs (word count): calls `emit` once per occurrence of a key and returns
    /// true, meaning "map emits (key, 1) and combining is addition". Values are then counts, 8
    /// bytes little-endian, and a map task counts in a plain table with no per-value work. The
    /// default returns false and [`Job::map`] is used.
    fn map_keys<'a>(&self, doc: &str, split: &'a [u8], emit: &mut dyn FnMut(&'a [u8])) -> bool {
        let _ = (doc, split, emit);
        false
    }

    /// True if [`Job::combine`] folds values, which lets a map task keep one value per key.
    fn has_combiner(&self) -> bool {
        false
    }

    /// Folds `value` into `acc` (both values of one key). Called only if
    /// [`Job::has_combiner`]; the result must be something `reduce` accepts as a value.
    fn combine(&self, acc: &mut Vec<u8>, value: &[u8]) {
        let _ = (acc, value);
    }
}

/// The names of the built-in jobs.
pub const JOB_NAMES: [&str; 2] = ["wc", "ii"];

/// The built-in job called `name`: `wc` (word count) or `ii` (inverted index).
pub fn job_by_name(name: &str) -> Option<Box<dyn Job>> {
    match name {
        "wc" => Some(Box::new(WordCount)),
        "ii" => Some(Box::new(InvertedIndex)),
        _ => None,
    }
}
