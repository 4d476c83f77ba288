//! Inverted index: every word with the sorted, deduplicated list of documents it occurs in.
//! The output value is `N doc1,doc2,...` (the count of documents, then the list), as in the
//! original lab's `ii` application.

use crate::job::Job;
use crate::words::for_each_word;
use std::collections::BTreeSet;

/// Inverted index. Values in flight are document lists joined by `\n` (a document name from the
/// command line never contains one in practice; a name that does is split, never lost).
#[derive(Clone, Copy, Debug, Default)]
pub struct InvertedIndex;

impl Job for InvertedIndex {
    fn name(&self) -> &'static str {
        "ii"
    }

    fn map<'a>(&self, doc: &str, split: &'a [u8], emit: &mut dyn FnMut(&'a [u8], &[u8])) {
        for_each_word(split, |word| emit(word, doc.as_bytes()));
    }

    fn reduce(&self, _key: &[u8], values: &mut dyn Iterator<Item = &[u8]>, out: &mut Vec<u8>) {
        let mut docs = BTreeSet::new();
        for value in values {
            docs.extend(value.split(|&b| b == b'\n').filter(|d| !d.is_empty()));
        }
        out.extend_from_slice(docs.len().to_string().as_bytes());
        out.push(b' ');
        for (i, doc) in docs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(doc);
        }
    }

    fn has_combiner(&self) -> bool {
        true
    }

    fn combine(&self, acc: &mut Vec<u8>, value: &[u8]) {
        // Within one map task the document is almost always the same: keep the list short.
        if acc.split(|&b| b == b'\n').any(|d| d == value) {
            return;
        }
        acc.push(b'\n');
        acc.extend_from_slice(value);
    }
}
