//! SPEC §5.3 TestLots: unreliable delivery and partitions that never stop changing.

use crate::common::*;
use paxos::Seq;
use rpc::{NodeId, Rng};

/// Lab 3A TestLots: 5 unreliable peers, re-partitioned into 3 random groups every 0–200 ms; a new
/// instance is started on every peer whenever fewer than 10 are not yet fully decided; agreement
/// is checked after every step. After 20 s, heal, reliable, 5 s: every started instance is decided
/// by at least a majority.
#[test]
fn lots() {
    sim::for_each_seed!(20, |seed| {
        let n = 5u32;
        let mut sim = cluster(seed, n);
        sim.set_unreliable(true);
        let mut rng = Rng::new(seed ^ 0x1075);
        let mut started = 0u64;
        let mut fully_decided_below = 0u64;
        let end = sim.now_us() + 20 * SECOND_US;
        let mut next_partition = 0;
        while sim.now_us() < end {
            if sim.now_us() >= next_partition {
                random_partition(&mut sim, &mut rng, n);
                next_partition = sim.now_us() + rng.range(0, 200_000);
            }
            while fully_decided_below < started
                && ndecided(&sim, Seq(fully_decided_below)) == n as usize
            {
                fully_decided_below += 1;
            }
            if started - fully_decided_below < 10 {
                for peer in 0..n {
                    start(&mut sim, peer, started, val(&format!("{}", rng.next_u64())));
                }
                started += 1;
            }
            run_for(&mut sim, 10_000)?;
        }
        sim.heal();
        sim.set_unreliable(false);
        run_for(&mut sim, 5 * SECOND_US)?;
        for seq in 0..started {
            let decided = ndecided(&sim, Seq(seq));
            ensure(decided >= 3, || {
                format!("instance {seq} decided by only {decided} of {n}")
            })?;
        }
        ensure(started >= 20, || {
            format!("only {started} instances started in 20 s")
        })
    });
}

/// Assigns every peer to one of 3 random groups (SPEC §5.3 TestLots `part`).
fn random_partition(sim: &mut PaxosSim, rng: &mut Rng, n: u32) {
    let mut groups: [Vec<NodeId>; 3] = Default::default();
    for peer in 0..n {
        groups[rng.below(3) as usize].push(NodeId(peer));
    }
    let borrowed: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
    sim.partition(&borrowed);
}
