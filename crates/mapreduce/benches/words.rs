//! The map hot path: splitting the King James Bible into words, and a whole word-count map task.

#![allow(missing_docs)] // criterion_group! generates undocumented items.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mapreduce::jobs::WordCount;
use mapreduce::task::run_map;
use mapreduce::words::for_each_word;
use std::hint::black_box;

fn bible() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/kjv.txt");
    std::fs::read(path).expect("data/kjv.txt is in the repository")
}

fn bench(c: &mut Criterion) {
    let text = bible();
    let mut group = c.benchmark_group("kjv");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    group.bench_function("split_words", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for_each_word(black_box(&text), |_| n += 1);
            n
        })
    });
    group.bench_function("wc_map_task", |b| {
        b.iter(|| run_map(&WordCount, "kjv", black_box(&text), 4))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
