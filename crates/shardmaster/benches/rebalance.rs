//! `rebalance` at the size: 1,024 shards over 100 groups, after a Join (one group
//! takes its share from the others) and after a Leave (the others share its shards).
//!
//! Run with `cargo bench -p shardmaster --bench rebalance`.
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use criterion::{Criterion, criterion_group, criterion_main};
use shardmaster::{Gid, rebalance};
use std::collections::BTreeSet;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let ninety_nine: BTreeSet<Gid> = (1..=99).map(Gid).collect();
    let hundred: BTreeSet<Gid> = (1..=100).map(Gid).collect();
    let before_join = rebalance(&[Gid::NONE; 1024], &ninety_nine);
    let before_leave = rebalance(&before_join, &hundred);
    c.bench_function("rebalance_1024_shards_join_100th_group", |b| {
        b.iter(|| rebalance(black_box(&before_join), black_box(&hundred)))
    });
    c.bench_function("rebalance_1024_shards_leave_to_99_groups", |b| {
        b.iter(|| rebalance(black_box(&before_leave), black_box(&ninety_nine)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
