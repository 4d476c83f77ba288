//! SPEC §5.3 TestPartition: who can reach whom decides who can decide.

use crate::common::*;
use paxos::Seq;
use rpc::NodeId;

fn groups(sim: &mut PaxosSim, parts: &[&[u32]]) {
    let owned: Vec<Vec<NodeId>> = parts
        .iter()
        .map(|g| g.iter().map(|&i| NodeId(i)).collect())
        .collect();
    let borrowed: Vec<&[NodeId]> = owned.iter().map(Vec::as_slice).collect();
    sim.partition(&borrowed);
}

/// Lab 3A TestPartition, 5 peers: (a) no majority anywhere, nothing decided; (b) a majority
/// decides; (c) after healing all 5 agree; (d) 20 rounds where a majority decides with the minority
/// cut off, then the minority learns after the partition moves (peer 4 never started: it must be
/// told); (e) the same 20 rounds in unreliable mode with every peer starting.
#[test]
fn partition() {
    sim::for_each_seed!(20, |seed| {
        let n = 5;
        let mut sim = cluster(seed, n);
        groups(&mut sim, &[&[0, 2], &[1, 3], &[4]]);
        start(&mut sim, 1, 1, val("111"));
        expect_exactly(&mut sim, Seq(1), 0)?;
        run_for(&mut sim, 2 * SECOND_US)?;
        expect_exactly(&mut sim, Seq(1), 0)?;

        groups(&mut sim, &[&[0], &[1, 2, 3], &[4]]);
        wait_n(&mut sim, Seq(1), 3)?;
        expect_exactly(&mut sim, Seq(1), 3)?;

        sim.heal();
        start(&mut sim, 0, 1, val("000"));
        start(&mut sim, 4, 1, val("444"));
        wait_n(&mut sim, Seq(1), 5)?;

        for round in 0..20u64 {
            let seq = 2 + round;
            groups(&mut sim, &[&[0, 1, 2], &[3, 4]]);
            start(&mut sim, 0, seq, val("000"));
            start(&mut sim, 3, seq, val("333"));
            wait_n(&mut sim, Seq(seq), 3)?;
            let decided = ndecided(&sim, Seq(seq));
            ensure(decided <= 3, || {
                format!("round {round}: {decided} decided across a partition")
            })?;
            groups(&mut sim, &[&[0, 1], &[2, 3, 4]]);
            wait_n(&mut sim, Seq(seq), 5)?;
        }

        sim.set_unreliable(true);
        for round in 0..20u64 {
            let seq = 30 + round;
            groups(&mut sim, &[&[0, 1, 2], &[3, 4]]);
            for peer in 0..n {
                start(&mut sim, peer, seq, val(&format!("{peer}")));
            }
            wait_n(&mut sim, Seq(seq), 3)?;
            groups(&mut sim, &[&[0, 1], &[2, 3, 4]]);
            sim.set_unreliable(false);
            wait_n(&mut sim, Seq(seq), 5)?;
            sim.set_unreliable(true);
        }
        Ok(())
    });
}
