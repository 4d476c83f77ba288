//! Integration tests of the MapReduce library: word-count correctness, and the master's
//! scheduling under the simulator (SPEC §2.4 and the MapReduce paper's fault tolerance).

#![allow(clippy::unwrap_used)] // Tests may unwrap (STYLE 2.5).
mod wc_correct;
