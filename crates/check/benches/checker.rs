//! Checker throughput on synthetic linearizable histories (STYLE 2.10: 1k and 10k operations).
//!
//! Run with `cargo bench -p check`. Histories are generated from a fixed seed, so every run
//! measures the same input.
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;

use check::{Budget, check_kv};
use criterion::{Criterion, criterion_group, criterion_main};

// One generator for tests and benches; it lives with the integration tests.
#[path = "../tests/it/synth.rs"]
#[allow(dead_code)]
mod synth;

use synth::{SplitMix, Workload, corrupt_one_read, linearizable_history};

fn bench_check_kv(c: &mut Criterion) {
    let cases = [
        ("1k_ops_10_clients_10_keys", workload(1, 1_000, 10, 10)),
        ("10k_ops_10_clients_100_keys", workload(2, 10_000, 10, 100)),
        // Contention: every operation on one key, with about five overlapping at any time.
        ("1k_ops_5_clients_1_key", workload(3, 1_000, 5, 1)),
    ];
    let mut group = c.benchmark_group("check_kv");
    group.sample_size(20);
    for (name, workload) in cases {
        let history = linearizable_history(workload);
        check_kv(&history, Budget::default()).assert_linearizable();
        group.bench_function(name, |b| {
            b.iter(|| check_kv(black_box(&history), Budget::default()))
        });
    }
    // The failure path: search, shrink and report after one read in 10k turned stale.
    let history = linearizable_history(workload(2, 10_000, 10, 100));
    let (history, _) = corrupt_one_read(&history, &mut SplitMix::new(4), true);
    assert!(!check_kv(&history, Budget::default()).is_linearizable());
    group.bench_function("10k_ops_10_clients_100_keys_stale_read", |b| {
        b.iter(|| check_kv(black_box(&history), Budget::default()))
    });
    group.finish();
}

/// A workload in which 1% of operations never return (half of those take effect).
fn workload(seed: u64, ops: usize, clients: u64, keys: u64) -> Workload {
    Workload {
        seed,
        ops,
        clients,
        keys,
        pending_percent: 1,
    }
}

criterion_group!(benches, bench_check_kv);
criterion_main!(benches);
