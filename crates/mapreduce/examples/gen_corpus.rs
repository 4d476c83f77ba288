//! Writes a synthetic text corpus of about `SIZE_MB` megabytes to `OUT`, for the 1 GiB
//! benchmark (docs/BENCHMARKS.md; never committed). Words follow a Zipf-like law over a
//! vocabulary of 100 000 made-up words (a few with non-ASCII letters), 12 words per line.
//!
//! Usage: `cargo run --release -p mapreduce --example gen_corpus -- SIZE_MB OUT`

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(size), Some(out)) = (args.get(1).and_then(|s| s.parse::<u64>().ok()), args.get(2))
    else {
        eprintln!("usage: gen_corpus SIZE_MB OUT");
        std::process::exit(2);
    };
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let syllables = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "qu", "é", "ph", "th", "ai",
    ];
    let vocab: Vec<Vec<u8>> = (0..100_000u64)
        .map(|i| {
            let mut w = String::new();
            let mut x = i;
            loop {
                w.push_str(syllables[(x % syllables.len() as u64) as usize]);
                x /= syllables.len() as u64;
                if x == 0 {
                    break;
                }
            }
            w.into_bytes()
        })
        .collect();
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    let target = size << 20;
    let mut written = 0u64;
    let mut line = Vec::new();
    while written < target {
        line.clear();
        for k in 0..12 {
            // Zipf-like: the rank is roughly uniform in log scale.
            let r = next();
            let rank = ((r >> 11) % 1_000) * ((r >> 40) % 100 + 1);
            let word = &vocab[(rank % vocab.len() as u64) as usize];
            if k > 0 {
                line.push(if r & 7 == 0 { b',' } else { b' ' });
            }
            line.extend_from_slice(word);
        }
        line.push(b'\n');
        w.write_all(&line)?;
        written += line.len() as u64;
    }
    w.flush()
}
