//! The baseline of the 1 GiB benchmark: a single-threaded, in-memory word count. It reads the
//! whole file, counts words (the same splitter as dsys) in a hash map, sorts and writes
//! `word: count` lines: the same output as `dsys wc`.
//!
//! Usage: `cargo run --release -p mapreduce --example wc_baseline -- FILE OUT`

use mapreduce::fx::FxHashMap;
use mapreduce::words::for_each_word;
use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(out)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: wc_baseline FILE OUT");
        std::process::exit(2);
    };
    let text = std::fs::read(input)?;
    let mut counts: FxHashMap<&[u8], u64> = FxHashMap::default();
    for_each_word(&text, |w| *counts.entry(w).or_insert(0) += 1);
    let mut sorted: Vec<(&[u8], u64)> = counts.into_iter().collect();
    sorted.sort_unstable();
    let mut w = BufWriter::new(std::fs::File::create(out)?);
    for (word, n) in sorted {
        w.write_all(word)?;
        writeln!(w, ": {n}")?;
    }
    w.flush()
}
