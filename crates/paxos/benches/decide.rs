//! Paxos throughput: decided instances per second and messages per decision, for 3 and 5 peers,
//! with 1 and 16 instances in flight, in the simulator (wall-clock cost of simulating) and over
//! TCP loopback (real peers in this process). Peer 0 proposes every instance; an instance counts
//! as decided when the proposer knows it (a majority accepted).
//!
//! Run: `cargo bench -p paxos --bench decide`. Messages per decision are printed once per case.
#![allow(clippy::disallowed_methods)] // A benchmark measures wall-clock time by definition.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use paxos::{Fate, PaxosServer, Peer, Seq, Value};
use rpc::NodeId;
use sim::{Sim, SimConfig};
use std::time::{Duration, Instant};

/// Instances decided per measured iteration.
const INSTANCES: u64 = 64;

fn value(seq: u64) -> Value {
    Value::from(format!("value-{seq:08}"))
}

/// Decides `INSTANCES` instances in a fresh simulated cluster; returns messages received.
fn decide_in_sim(peers: u32, in_flight: u64, seed: u64) -> u64 {
    let nodes = (0..peers)
        .map(|i| Peer::new(NodeId(i), peers, seed))
        .collect();
    let mut sim = Sim::<Peer>::new(SimConfig::new(seed), nodes);
    let (mut next, mut oldest) = (0u64, 0u64);
    while oldest < INSTANCES {
        while next < INSTANCES && next < oldest + in_flight {
            sim.call(NodeId(0), |p, out| p.start(Seq(next), value(next), out));
            next += 1;
        }
        let deadline = sim.now_us() + 60_000_000;
        sim.run_until(deadline, |s| {
            s.node(NodeId(0))
                .is_some_and(|p| p.status(Seq(oldest)).0 == Fate::Decided)
        })
        .expect("simulated cluster decides");
        oldest += 1;
    }
    sim.node_ids()
        .map(|id| sim.stats(id).requests_received + sim.stats(id).responds_received)
        .sum()
}

/// Decides `INSTANCES` new instances starting at `first` on a running cluster.
async fn decide_over_tcp(cluster: &[PaxosServer], first: u64, in_flight: u64) {
    let proposer = &cluster[0];
    let end = first + INSTANCES;
    let (mut next, mut oldest) = (first, first);
    while oldest < end {
        while next < end && next < oldest + in_flight {
            proposer.start(Seq(next), value(next)).await.expect("start");
            next += 1;
        }
        proposer
            .wait_decided(Seq(oldest), Duration::from_secs(10))
            .await
            .expect("decided");
        oldest += 1;
    }
    for server in cluster {
        server.done(Seq(end - 1)).await.expect("done");
    }
}

fn frames_in(cluster: &[PaxosServer]) -> u64 {
    cluster.iter().map(|s| s.stats().frames_in).sum()
}

fn bench_sim(c: &mut Criterion) {
    let mut group = c.benchmark_group("paxos_sim");
    group.throughput(Throughput::Elements(INSTANCES));
    for peers in [3u32, 5] {
        for in_flight in [1u64, 16] {
            let messages = decide_in_sim(peers, in_flight, 1);
            eprintln!(
                "paxos_sim {peers} peers, {in_flight} in flight: {:.2} messages per decision",
                messages as f64 / INSTANCES as f64
            );
            let id = BenchmarkId::new(format!("{peers}peers"), format!("{in_flight}inflight"));
            let mut seed = 0;
            group.bench_function(id, |b| {
                b.iter(|| {
                    seed += 1;
                    decide_in_sim(peers, in_flight, seed)
                })
            });
        }
    }
    group.finish();
}

fn bench_tcp(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("paxos_tcp");
    group.throughput(Throughput::Elements(INSTANCES));
    for peers in [3u32, 5] {
        for in_flight in [1u64, 16] {
            let cluster = runtime
                .block_on(PaxosServer::local_cluster(peers, 0))
                .expect("bind loopback");
            let mut next = 0u64;
            // One warm-up batch opens every connection before anything is counted.
            runtime.block_on(decide_over_tcp(&cluster, next, in_flight));
            next += INSTANCES;
            let before = frames_in(&cluster);
            runtime.block_on(decide_over_tcp(&cluster, next, in_flight));
            next += INSTANCES;
            eprintln!(
                "paxos_tcp {peers} peers, {in_flight} in flight: {:.2} frames received per decision",
                (frames_in(&cluster) - before) as f64 / INSTANCES as f64
            );
            let id = BenchmarkId::new(format!("{peers}peers"), format!("{in_flight}inflight"));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let started = Instant::now();
                    for _ in 0..iters {
                        runtime.block_on(decide_over_tcp(&cluster, next, in_flight));
                        next += INSTANCES;
                    }
                    started.elapsed()
                })
            });
            for server in cluster {
                runtime.block_on(server.shutdown());
            }
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = bench_sim, bench_tcp
}
criterion_main!(benches);
