//! SPEC §5.3 TestDeaf and TestOld: peers that cannot hear, and a minority proposal that comes late.

use crate::common::*;
use paxos::{Peer, Seq};
use rpc::NodeId;

/// Lab 3A TestDeaf: 5 peers; after instance 0, peers 0 and 4 go deaf (they can send, nobody can
/// reach them). A start on peer 1 is decided by exactly the 3 hearing peers; a start on deaf peer 0
/// lets it learn by proposing (exactly 4); a start on peer 4 brings all 5.
#[test]
fn deaf() {
    sim::for_each_seed!(30, |seed| {
        let mut sim = cluster(seed, 5);
        start(&mut sim, 0, 0, val("hello"));
        wait_n(&mut sim, Seq(0), 5)?;

        sim.deafen(NodeId(0));
        sim.deafen(NodeId(4));
        start(&mut sim, 1, 1, val("goodbye"));
        wait_n(&mut sim, Seq(1), 3)?;
        expect_exactly(&mut sim, Seq(1), 3)?;

        start(&mut sim, 0, 1, val("xxx"));
        wait_n(&mut sim, Seq(1), 4)?;
        expect_exactly(&mut sim, Seq(1), 4)?;

        start(&mut sim, 4, 1, val("yyy"));
        wait_n(&mut sim, Seq(1), 5)?;
        let value = sim.node(NodeId(4)).and_then(|p| p.status(Seq(1)).1);
        ensure(value == Some(val("goodbye")), || {
            format!("decided {value:?}, expected goodbye")
        })
    });
}

/// Lab 3A TestOld ("minority proposal ignored"): a 5-peer cluster where only peers 1, 2, 3 run
/// decides 111 for instance 1; then peer 0 starts (fresh) and proposes 222 for the same instance.
/// It must learn 111: 4 peers decided, all equal.
#[test]
fn old() {
    sim::for_each_seed!(30, |seed| {
        let mut sim = cluster(seed, 5);
        sim.crash(NodeId(0));
        sim.crash(NodeId(4));
        start(&mut sim, 1, 1, val("111"));
        wait_n(&mut sim, Seq(1), 3)?;

        sim.restart(NodeId(0), |_disk| Peer::new(NodeId(0), 5, seed));
        start(&mut sim, 0, 1, val("222"));
        wait_n(&mut sim, Seq(1), 4)?;
        expect_exactly(&mut sim, Seq(1), 4)?;
        let value = sim.node(NodeId(0)).and_then(|p| p.status(Seq(1)).1);
        ensure(value == Some(val("111")), || {
            format!("peer 0 decided {value:?}, expected 111")
        })
    });
}
