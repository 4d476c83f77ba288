//! Word count against independent computations (SPEC §2.3).

use mapreduce::jobs::{InvertedIndex, WordCount};
use mapreduce::output::{top_by_value, write_output};
use mapreduce::sequential::run_sequential;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn bible() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/kjv.txt")
}

/// The obvious word count: decode as UTF-8 (lossily), split on every non-alphabetic char.
fn naive_counts(text: &[u8]) -> BTreeMap<Vec<u8>, u64> {
    let mut counts = BTreeMap::new();
    for word in String::from_utf8_lossy(text).split(|c: char| !c.is_alphabetic()) {
        if !word.is_empty() {
            *counts.entry(word.as_bytes().to_vec()).or_insert(0) += 1;
        }
    }
    counts
}

fn render(counts: &BTreeMap<Vec<u8>, u64>) -> Vec<u8> {
    let mut out = Vec::new();
    for (word, n) in counts {
        out.extend_from_slice(word);
        out.extend_from_slice(format!(": {n}\n").as_bytes());
    }
    out
}

fn wc_file(inputs: &[PathBuf], split_bytes: u64, reduces: u32) -> Vec<u8> {
    let dir = tempdir();
    let out = dir.join("out.wc");
    let outputs = run_sequential(&WordCount, inputs, split_bytes, reduces).unwrap();
    write_output(&out, &outputs).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    bytes
}

fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mr-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The top ten of kjv.txt are those of data/README.md (the handout's `sort -n -k2 | tail -10`).
#[test]
fn bible_top_ten_matches_the_published_counts() {
    let outputs = run_sequential(&WordCount, &[bible()], 1 << 20, 3).unwrap();
    let top = top_by_value(&outputs, 10).unwrap();
    let expected = [
        ("the", 62057),
        ("and", 38844),
        ("of", 34428),
        ("to", 13379),
        ("And", 12850),
        ("that", 12579),
        ("in", 12331),
        ("shall", 9759),
        ("he", 9666),
        ("unto", 8943),
    ];
    let top: Vec<(&str, u64)> = top.iter().map(|(w, n)| (w.as_str(), *n)).collect();
    assert_eq!(top, expected);
}

/// The whole Bible output equals an independent count, whatever the split size and number of
/// reduce partitions.
#[test]
fn bible_output_equals_naive_count_for_any_split() {
    let text = std::fs::read(bible()).unwrap();
    let expected = render(&naive_counts(&text));
    for (split_bytes, reduces) in [(1 << 30, 1), (300_000, 3), (1 << 20, 7)] {
        assert!(
            wc_file(&[bible()], split_bytes, reduces) == expected,
            "split {split_bytes} R {reduces}"
        );
    }
}

/// Generated text with known counts, non-ASCII letters, digits, punctuation and invalid UTF-8
/// between words; splits small enough to fall inside long lines without newlines.
#[test]
fn generated_text_has_the_known_counts() {
    let vocab = [
        "Élan",
        "naïve",
        "Ωμέγα",
        "東京",
        "and",
        "And",
        "x",
        "straße",
        "ǅemal",
    ];
    let seps: [&[u8]; 6] = [b" ", b"\n", b", ", b"1", b"\xff", "\u{2013}".as_bytes()];
    let mut text = Vec::new();
    let mut known: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    let mut state: u64 = 7;
    for i in 0..200_000u64 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let word = vocab[(state >> 33) as usize % vocab.len()];
        text.extend_from_slice(word.as_bytes());
        text.extend_from_slice(seps[(i % 6) as usize]);
        *known.entry(word.as_bytes().to_vec()).or_insert(0) += 1;
    }
    let dir = tempdir();
    let input = dir.join("gen.txt");
    std::fs::write(&input, &text).unwrap();
    let got = wc_file(std::slice::from_ref(&input), 256 << 10, 5);
    assert!(
        got == render(&known),
        "counts differ from the generated ones"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Several inputs, one empty: the inverted index lists each word's documents, sorted.
#[test]
fn inverted_index_lists_sorted_documents() {
    let dir = tempdir();
    let paths: Vec<PathBuf> = ["b.txt", "a.txt", "empty.txt"]
        .iter()
        .map(|n| dir.join(n))
        .collect();
    std::fs::write(&paths[0], "apple pie\nbanana\n").unwrap();
    std::fs::write(&paths[1], "apple\ncherry apple").unwrap();
    std::fs::write(&paths[2], "").unwrap();
    let outputs = run_sequential(&InvertedIndex, &paths, 1 << 20, 2).unwrap();
    let out = dir.join("ii.out");
    write_output(&out, &outputs).unwrap();
    let (a, b) = (paths[1].display(), paths[0].display());
    let expected = format!("apple: 2 {a},{b}\nbanana: 1 {b}\ncherry: 1 {a}\npie: 1 {b}\n");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}
