//! The built-in jobs.

mod inverted_index;
mod wordcount;

pub use inverted_index::InvertedIndex;
pub use wordcount::WordCount;
