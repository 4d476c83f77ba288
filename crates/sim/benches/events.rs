//! Simulator throughput in events per second: a ring of peers that ping their neighbour on every
//! tick (each ping is answered), with small messages and with messages as large as a Paxos
//! accept carrying a value, with and without faults.
#![allow(missing_docs)] // criterion_main! generates an undocumented main.

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rpc::{NoRequest, Node, NodeId, NodeOutbox, ReqId};
use sim::{FaultConfig, Sim, SimConfig};
use std::hint::black_box;

/// A peer message shaped like a Paxos accept: a few numbers and a value.
#[derive(Clone, Debug)]
enum Msg {
    Ping { seq: u64, ballot: u64, value: Bytes },
    Pong { seq: u64, ballot: u64 },
}

struct Ring {
    next: NodeId,
    seq: u64,
    value_len: usize,
}

impl Node for Ring {
    type Msg = Msg;
    type Req = NoRequest;
    type Resp = NoRequest;

    fn on_message(&mut self, from: NodeId, msg: Msg, out: &mut NodeOutbox<Self>) {
        match msg {
            Msg::Ping { seq, ballot, value } => {
                black_box(value.len());
                out.respond(from, Msg::Pong { seq, ballot });
            }
            Msg::Pong { seq, ballot } => {
                black_box(seq + ballot);
            }
        }
    }

    fn on_request(&mut self, _: ReqId, body: NoRequest, _: &mut NodeOutbox<Self>) {
        match body {}
    }

    fn on_tick(&mut self, out: &mut NodeOutbox<Self>) {
        self.seq += 1;
        out.send(
            self.next,
            Msg::Ping {
                seq: self.seq,
                ballot: self.seq * 7,
                value: Bytes::from(vec![42; self.value_len]),
            },
        );
    }
}

/// Runs 5 peers for 2 virtual seconds of 1 ms ticks; returns the number of events.
fn run(seed: u64, value_len: usize, faults: FaultConfig) -> u64 {
    let mut config = SimConfig::new(seed);
    config.tick_us = 1_000;
    config.faults = faults;
    let nodes = (0..5u32)
        .map(|i| Ring {
            next: NodeId((i + 1) % 5),
            seq: 0,
            value_len,
        })
        .collect();
    let mut sim = Sim::<Ring>::new(config, nodes);
    sim.run_for(2_000_000)
        .expect("a ring with no invariant cannot fail");
    black_box(sim.trace_hash());
    sim.steps()
}

fn events(c: &mut Criterion) {
    let cases = [
        ("small", 0, FaultConfig::none()),
        ("value_64B", 64, FaultConfig::none()),
        ("value_4KiB", 4096, FaultConfig::none()),
        (
            "small_unreliable_lossy",
            0,
            FaultConfig {
                loss: 0.1,
                duplicate: 0.1,
                unreliable: true,
                ..FaultConfig::none()
            },
        ),
    ];
    let mut group = c.benchmark_group("sim_events");
    for (name, value_len, faults) in cases {
        let steps = run(1, value_len, faults.clone());
        group.throughput(Throughput::Elements(steps));
        group.bench_function(name, |b| b.iter(|| run(1, value_len, faults.clone())));
    }
    group.finish();
}

criterion_group!(benches, events);
criterion_main!(benches);
