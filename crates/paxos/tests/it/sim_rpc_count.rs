//! SPEC §5.3 TestRPCCount: the protocol's message cost.

use crate::common::*;
use paxos::Seq;

/// Lab 3A TestRPCCount: 5 sequential instances proposed by peer 0 cost at most 45 requests
/// received in total (9 per instance), and 5 instances contended by all 3 peers at most 225 more.
/// Requests are counted at the receivers, replies are not, as the original counted RPCs.
#[test]
fn rpc_count() {
    sim::for_each_seed!(30, |seed| {
        let mut sim = cluster(seed, 3);
        for seq in 0..5 {
            start(&mut sim, 0, seq, val(&format!("x{seq}")));
            wait_n(&mut sim, Seq(seq), 3)?;
        }
        let sequential = total_requests(&sim);
        ensure(sequential <= 45, || {
            format!("{sequential} requests for 5 sequential instances")
        })?;

        for seq in 5..10 {
            for peer in 0..3 {
                start(&mut sim, peer, seq, val(&format!("y{seq}-{peer}")));
            }
            wait_n(&mut sim, Seq(seq), 3)?;
        }
        let contended = total_requests(&sim) - sequential;
        ensure(contended <= 225, || {
            format!("{contended} requests for 5 contended instances")
        })
    });
}

fn total_requests(sim: &PaxosSim) -> u64 {
    sim.node_ids()
        .map(|id| sim.stats(id).requests_received)
        .sum()
}
