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

/// Beyond SPEC §5: a peer restarted without its state (Paxos has no disk here) must not vote.
/// Value v is chosen by peers 0 and 2 while peer 1 is cut off; peer 2 restarts empty and peer
/// 0 is cut off. If peer 1 counted the new peer 2's votes, {1, 2} would be a majority that
/// never saw v, and peer 1 would choose its own w: two values for one instance. Peer 1 knows
/// peer 2's earlier incarnation, so it ignores the new one and tells it: nothing is chosen
/// until peer 0 is back, and then peer 1 learns v.
#[test]
fn restarted_peer_without_state_does_not_vote() {
    sim::for_each_seed!(30, |seed| {
        let mut sim = cluster(seed, 3);
        // Peer 1 hears peer 2's first incarnation before the trouble starts.
        start(&mut sim, 2, 0, val("warm-up"));
        wait_n(&mut sim, Seq(0), 3)?;
        sim.partition(&[&[NodeId(0), NodeId(2)], &[NodeId(1)]]);
        start(&mut sim, 0, 1, val("v"));
        wait_n(&mut sim, Seq(1), 2)?;
        sim.crash(NodeId(2));
        sim.restart(NodeId(2), |_disk| Peer::new(NodeId(2), 3, seed ^ 0xfeed));
        sim.partition(&[&[NodeId(0)], &[NodeId(1), NodeId(2)]]);
        start(&mut sim, 1, 1, val("w"));
        start(&mut sim, 2, 1, val("w"));
        run_for(&mut sim, 2 * SECOND_US)?;
        let decided_at_1 = sim.node(NodeId(1)).and_then(|p| p.status(Seq(1)).1);
        ensure(decided_at_1.is_none(), || {
            format!("peer 1 decided {decided_at_1:?} with a restarted peer's votes")
        })?;
        ensure(sim.node(NodeId(2)).is_some_and(Peer::is_amnesiac), || {
            "the restarted peer was not told it lost its state".into()
        })?;
        sim.heal();
        wait_n(&mut sim, Seq(1), 2)?;
        let value = sim.node(NodeId(1)).and_then(|p| p.status(Seq(1)).1);
        ensure(value == Some(val("v")), || {
            format!("peer 1 decided {value:?}, expected v")
        })
    });
}
