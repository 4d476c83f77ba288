//! Beyond SPEC §5: what an application built on the log needs from Paxos (crate `rsm`): the
//! drain of decided instances (`take_decided`), local compaction below a snapshot (`compact`),
//! and catching up from another peer's snapshot (`snapshot_needed`, `install_snapshot`).

use crate::common::*;
use paxos::{Peer, Seq, Value};
use rpc::{NodeId, Rng};
use std::collections::BTreeMap;

/// One millisecond of virtual time.
const MS_US: u64 = 1_000;

/// What the applications of a cluster took from their peers' drains: each peer's next
/// instance, and the one log they must all agree on.
#[derive(Default)]
struct Applied {
    next: BTreeMap<NodeId, Seq>,
    log: BTreeMap<Seq, Value>,
}

impl Applied {
    /// Drains `peer` (at most `max` a call, repeatedly) as an application would, checking
    /// that instances come contiguously, each once, and agree with every other peer's.
    fn drain(&mut self, sim: &mut PaxosSim, peer: NodeId, max: usize) -> Result<(), String> {
        loop {
            let taken = sim.call(peer, |p, _| p.take_decided(max));
            if taken.is_empty() {
                return Ok(());
            }
            ensure(taken.len() <= max, || {
                format!("{peer} took {} > {max}", taken.len())
            })?;
            for (seq, value) in taken {
                let next = self.next.entry(peer).or_insert(Seq(0));
                ensure(seq == *next, || {
                    format!("{peer} handed out {seq}, expected {next}")
                })?;
                *next = Seq(seq.0 + 1);
                let known = self.log.entry(seq).or_insert_with(|| value.clone());
                ensure(*known == value, || {
                    format!("{peer} applied another value at {seq}")
                })?;
            }
        }
    }

    fn next(&self, peer: NodeId) -> Seq {
        self.next.get(&peer).copied().unwrap_or(Seq(0))
    }
}

fn delivered(sim: &PaxosSim, peer: NodeId) -> Seq {
    sim.node(peer).map_or(Seq(0), Peer::delivered)
}

/// Every peer of the cluster asks for the first instance it has not taken, as an application
/// stuck on a hole does.
fn ask_for_holes(sim: &mut PaxosSim) {
    let ids: Vec<NodeId> = sim.node_ids().collect();
    for id in ids {
        sim.call(id, |p, out| {
            let hole = p.delivered();
            p.ask(hole, out);
        });
    }
}

/// The drain: 3 peers over an unreliable network; instances 0..40 except 17 are started by
/// random peers in random order. Each peer's `take_decided` (at most 5 a call) hands out 0..17
/// in order, each once, and stops at the hole however long it runs; once 17 is started the
/// rest follows, and every peer took the same 40 values.
#[test]
fn take_decided_stops_at_a_hole_and_resumes_when_it_is_decided() {
    sim::for_each_seed!(20, |seed| {
        let n = 3;
        let mut sim = cluster(seed, n);
        sim.set_unreliable(true);
        let mut rng = Rng::new(seed ^ 0xD4A1);
        let mut order: Vec<u64> = (0..40).filter(|s| *s != 17).collect();
        rng.shuffle(&mut order);
        for seq in order {
            let peer = rng.below(u64::from(n)) as u32;
            start(&mut sim, peer, seq, val(&format!("v{seq}")));
        }
        let mut applied = Applied::default();
        let ids: Vec<NodeId> = sim.node_ids().collect();
        let deadline = sim.now_us() + 10 * SECOND_US;
        while ids.iter().any(|id| applied.next(*id) < Seq(17)) {
            if sim.now_us() > deadline {
                return Err("peers did not take 0..17 within 10 s".into());
            }
            run_for(&mut sim, 10 * MS_US)?;
            for id in &ids {
                applied.drain(&mut sim, *id, 5)?;
            }
            ask_for_holes(&mut sim);
        }
        run_for(&mut sim, SECOND_US)?;
        for id in &ids {
            applied.drain(&mut sim, *id, 5)?;
            let at = delivered(&sim, *id);
            ensure(at == Seq(17), || {
                format!("{id} delivered() = {at} past the hole")
            })?;
        }
        start(&mut sim, rng.below(u64::from(n)) as u32, 17, val("v17"));
        let deadline = sim.now_us() + 10 * SECOND_US;
        while ids.iter().any(|id| applied.next(*id) < Seq(40)) {
            if sim.now_us() > deadline {
                return Err("peers did not take 17..40 within 10 s".into());
            }
            run_for(&mut sim, 10 * MS_US)?;
            for id in &ids {
                applied.drain(&mut sim, *id, 5)?;
            }
            ask_for_holes(&mut sim);
        }
        ensure(applied.log.len() == 40, || {
            format!("{} instances", applied.log.len())
        })
    });
}
