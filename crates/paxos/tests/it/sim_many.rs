//! SPEC §5.3 TestMany and TestManyUnreliable: many instances in flight, every peer proposing.

use crate::common::*;
use paxos::Seq;

/// Runs `instances` instances with at most `in_flight` undecided at once; every peer proposes its
/// own value for each. Every instance must be decided by every peer.
fn many_instances(
    sim: &mut PaxosSim,
    peers: u32,
    instances: u64,
    in_flight: u64,
) -> Result<(), String> {
    let mut next = 0;
    let mut oldest = 0;
    while oldest < instances {
        while next < instances && next < oldest + in_flight {
            for peer in 0..peers {
                start(sim, peer, next, val(&format!("{next}-{peer}")));
            }
            next += 1;
        }
        wait_n(sim, Seq(oldest), peers as usize)?;
        oldest += 1;
    }
    Ok(())
}

/// Lab 3A TestMany: 3 peers, 50 instances, at most 5 in flight, reliable network.
#[test]
fn many() {
    sim::for_each_seed!(30, |seed| {
        let mut sim = cluster(seed, 3);
        start(&mut sim, 0, 0, val("0"));
        wait_n(&mut sim, Seq(0), 3)?;
        many_instances(&mut sim, 3, 50, 5)
    });
}

/// Lab 3A TestManyUnreliable: 3 peers in unreliable mode (10 % of requests lost, 18 % executed
/// with the reply lost), 50 instances, at most 3 in flight; all decided by all.
#[test]
fn many_unreliable() {
    sim::for_each_seed!(30, |seed| {
        let mut sim = cluster(seed, 3);
        sim.set_unreliable(true);
        many_instances(&mut sim, 3, 50, 3)
    });
}
