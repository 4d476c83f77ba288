//! The cost of a kvpaxos snapshot: taking one (the store's bytes plus `rsm`'s checksummed image,
//! exactly what `Replica::take_snapshot` does) and installing one (checking the image and
//! restoring the store, what `Replica::install_snapshot` does), per MB of state.
//!
//! Run with `cargo bench -p kvpaxos --bench snapshot`. The state is 1 KB values under distinct
//! keys, plus 1,000 sessions with short answers; criterion reports time per snapshot, and
//! `Throughput::Bytes` turns it into MB/s (ms per MB is 1,000 / that).
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kvpaxos::msg::{KvCommand, KvOutput};
use kvpaxos::{KvMachine, Op};
use paxos::Seq;
use rsm::snapshot::{self, Image};
use rsm::{Sessions, StateMachine};
use std::hint::black_box;

fn state(megabytes: usize) -> (KvMachine, Sessions<KvOutput>) {
    let mut machine = KvMachine::default();
    let value = "v".repeat(1000);
    for i in 0..megabytes * 1000 {
        let put = Op::Put {
            key: format!("key{i:08}"),
            value: value.clone(),
        };
        machine.apply(Seq(i as u64), &KvCommand::Lab(put));
    }
    let mut sessions = Sessions::new(100_000);
    for seq in 0..1000 {
        let s = sessions.register();
        sessions.record(s, 1, KvOutput::Lab(format!("{seq}")));
    }
    (machine, sessions)
}

fn bench_snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("kv_snapshot");
    group.sample_size(10);
    for megabytes in [1, 16] {
        let (machine, sessions) = state(megabytes);
        let bytes = snapshot::encode(Seq(1), &sessions, &machine.snapshot());
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("take_{megabytes}MB"), |b| {
            b.iter(|| snapshot::encode(Seq(1), black_box(&sessions), &machine.snapshot()))
        });
        group.bench_function(format!("install_{megabytes}MB"), |b| {
            b.iter(|| {
                let image = Image::<KvOutput>::decode(black_box(&bytes)).expect("a snapshot");
                KvMachine::restore(&image.machine).expect("restores")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_snapshot);
criterion_main!(benches);
