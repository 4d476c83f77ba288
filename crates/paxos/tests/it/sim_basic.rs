//! SPEC §5.3 TestBasic and TestDoneMax, plus the simulator's determinism on a Paxos run.

use crate::common::*;
use paxos::Seq;
use rpc::NodeId;

/// Lab 3A TestBasic: one proposer; many proposers with one value; many proposers with different
/// values; out-of-order starts (7, 6, 5 then 4, 3). All 3 peers decide every instance, agree, and
/// `max()` is 7 on peer 0. Reliable network, many seeds.
#[test]
fn basic() {
    sim::for_each_seed!(30, |seed| {
        let mut sim = cluster(seed, 3);
        start(&mut sim, 0, 0, val("hello"));
        wait_n(&mut sim, Seq(0), 3)?;

        for peer in 0..3 {
            start(&mut sim, peer, 1, val("77"));
        }
        wait_n(&mut sim, Seq(1), 3)?;

        for peer in 0..3 {
            start(&mut sim, peer, 2, val(&format!("{}", 100 + peer)));
        }
        wait_n(&mut sim, Seq(2), 3)?;

        start(&mut sim, 0, 7, val("700"));
        start(&mut sim, 0, 6, val("600"));
        start(&mut sim, 1, 5, val("500"));
        wait_n(&mut sim, Seq(7), 3)?;
        start(&mut sim, 0, 4, val("400"));
        start(&mut sim, 1, 3, val("300"));
        for seq in 3..=7 {
            wait_n(&mut sim, Seq(seq), 3)?;
        }
        let max = sim.node(NodeId(0)).and_then(|p| p.max());
        ensure(max == Some(Seq(7)), || {
            format!("peer 0 max() = {max:?}, expected 7")
        })
    });
}

/// Lab 3A TestDoneMax: after deciding 0..=10 and every peer calling `done(10)`, a late `start(10)`
/// on every peer must not lower `max()` below 10, though instance 10 is forgotten.
#[test]
fn done_max() {
    sim::for_each_seed!(30, |seed| {
        let mut sim = cluster(seed, 3);
        for seq in 0..=10 {
            start(&mut sim, 0, seq, val(&format!("v{seq}")));
            wait_n(&mut sim, Seq(seq), 3)?;
        }
        for peer in 0..3 {
            sim.call(NodeId(peer), |p, _| p.done(Seq(10)));
        }
        for peer in 0..3 {
            start(&mut sim, peer, 10, val("z"));
        }
        run_for(&mut sim, 2 * SECOND_US)?;
        for peer in 0..3 {
            let max = sim.node(NodeId(peer)).and_then(|p| p.max());
            ensure(max == Some(Seq(10)), || {
                format!("peer {peer} max() = {max:?}, expected 10")
            })?;
        }
        Ok(())
    });
}

/// The simulator's promise on a real protocol: the same seed replays the same run, event for
/// event (equal trace hashes), and another seed takes another path.
#[test]
fn same_seed_same_trace() {
    fn trace(seed: u64) -> u64 {
        let mut sim = cluster(seed, 5);
        sim.set_unreliable(true);
        for seq in 0..10 {
            for peer in 0..5 {
                start(&mut sim, peer, seq, val(&format!("{peer}")));
            }
        }
        run_for(&mut sim, 5 * SECOND_US).expect("run");
        sim.trace_hash()
    }
    assert_eq!(trace(7), trace(7), "same seed must give the same trace");
    assert_ne!(
        trace(7),
        trace(8),
        "different seeds should give different traces"
    );
}
