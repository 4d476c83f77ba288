//! Multi-Paxos (beyond SPEC §5): a leader decides with phase 2 alone, and agreement holds while
//! leadership moves under partitions and message loss.

use crate::common::*;
use paxos::{Peer, Seq};
use rpc::NodeId;
use std::collections::BTreeSet;

/// One millisecond of virtual time.
const MS_US: u64 = 1_000;

/// Runs until some peer leads, calling `lead` on every up peer that knows no leader, as an
/// application wanting to propose would. Returns the leader.
fn elect(sim: &mut PaxosSim) -> Result<NodeId, String> {
    let deadline = sim.now_us() + 5 * SECOND_US;
    while sim.now_us() < deadline {
        if let Some(leader) = leader_of_majority(sim) {
            return Ok(leader);
        }
        let ids: Vec<NodeId> = sim.node_ids().collect();
        for id in ids {
            if sim.node(id).is_some_and(|p| p.leader().is_none()) {
                sim.call(id, |p, out| p.lead(out));
            }
        }
        run_for(sim, 5 * MS_US)?;
    }
    Err("no leader elected within 5 s".into())
}

/// A peer that leads, if any does.
fn leader_of_majority(sim: &PaxosSim) -> Option<NodeId> {
    sim.node_ids()
        .find(|id| sim.node(*id).is_some_and(Peer::is_leading))
}

fn total_requests(sim: &PaxosSim) -> u64 {
    sim.node_ids()
        .map(|id| sim.stats(id).requests_received)
        .sum()
}

/// With a stable leader, 200 instances started at once cost phase 2 only: 2 Accepts and 2
/// Commits received among 3 peers per instance (single-decree Paxos costs 6: prepares, accepts,
/// decides), plus per tick a heartbeat to each follower and its `Follow` back.
#[test]
fn leader_skips_phase_1() {
    sim::for_each_seed!(20, |seed| {
        let mut sim = cluster(seed, 3);
        let leader = elect(&mut sim)?;
        run_for(&mut sim, 50 * MS_US)?;
        let (before, t0) = (total_requests(&sim), sim.now_us());
        const INSTANCES: u64 = 200;
        let first = sim.node(leader).and_then(Peer::max).map_or(0, |m| m.0 + 1);
        for seq in first..first + INSTANCES {
            start(&mut sim, leader.0, seq, val(&format!("v{seq}")));
        }
        for seq in first..first + INSTANCES {
            wait_n(&mut sim, Seq(seq), 3)?;
        }
        let ticks = (sim.now_us() - t0) / sim.config().tick_us + 1;
        let spent = total_requests(&sim) - before;
        let budget = 4 * INSTANCES + 4 * (ticks + 1);
        ensure(spent <= budget, || {
            format!("{spent} requests for {INSTANCES} instances in {ticks} ticks (budget {budget})")
        })?;
        ensure(sim.node(leader).is_some_and(Peer::is_leading), || {
            "the leader lost its leadership on a quiet network".into()
        })
    });
}

/// 5 peers for 10 s of virtual time: the network is re-partitioned every 300 ms (a random
/// majority and minority, sometimes healed) with 10 % of messages lost; every 10 ms
/// some peer starts the next instance (the leader if one is known, else a random peer, which
/// then runs classic rounds), and peers without a leader campaign. Agreement is checked after
/// every step; leadership must move at least once; after the heal every instance is decided
/// everywhere.
#[test]
fn leaders_change_under_partitions() {
    sim::for_each_seed!(5, |seed| {
        let mut sim = cluster(seed, 5);
        let mut leaders = BTreeSet::new();
        let mut next_seq = 0u64;
        let end = 10 * SECOND_US;
        let mut next_partition = 0;
        while sim.now_us() < end {
            if sim.now_us() >= next_partition {
                next_partition += 300 * MS_US;
                if sim.rng().below(4) == 0 {
                    sim.heal();
                } else {
                    let mut ids: Vec<NodeId> = sim.node_ids().collect();
                    sim.rng().shuffle(&mut ids);
                    let cut = 2 + sim.rng().below(2) as usize;
                    let (a, b) = ids.split_at(cut);
                    sim.partition(&[a, b]);
                }
                let mut faults = sim.faults().clone();
                faults.loss = 0.1;
                sim.set_faults(faults);
            }
            let ids: Vec<NodeId> = sim.node_ids().collect();
            for id in &ids {
                if sim.node(*id).is_some_and(|p| p.leader().is_none()) {
                    sim.call(*id, |p, out| p.lead(out));
                }
            }
            let proposer =
                leader_of_majority(&sim).unwrap_or_else(|| NodeId(sim.rng().below(5) as u32));
            start(&mut sim, proposer.0, next_seq, val(&format!("v{next_seq}")));
            next_seq += 1;
            run_for(&mut sim, 10 * MS_US)?;
            if let Some(leader) = leader_of_majority(&sim) {
                leaders.insert(leader);
            }
        }
        ensure(leaders.len() >= 2, || {
            format!("leadership never moved: {leaders:?}")
        })?;
        sim.heal();
        let mut faults = sim.faults().clone();
        faults.loss = 0.0;
        sim.set_faults(faults);
        let leader = elect(&mut sim)?;
        // Instances whose proposer was cut off get a value again, now from the leader.
        for seq in 0..next_seq {
            start(&mut sim, leader.0, seq, val(&format!("late{seq}")));
        }
        run_for(&mut sim, SECOND_US)?;
        // Peers that missed a Commit ask for the decision, as an application does for a hole.
        let ids: Vec<NodeId> = sim.node_ids().collect();
        for id in ids {
            sim.call(id, |p, out| {
                for seq in 0..next_seq {
                    p.ask(Seq(seq), out);
                }
            });
        }
        for seq in 0..next_seq {
            wait_n(&mut sim, Seq(seq), 5)?;
        }
        Ok(())
    });
}

/// A leader that goes deaf still gets its heartbeats out, so followers keep believing in it; it
/// must notice that it hears no majority, step down, and let another peer lead and decide.
#[test]
fn deaf_leader_makes_way() {
    sim::for_each_seed!(20, |seed| {
        let mut sim = cluster(seed, 3);
        let deaf = elect(&mut sim)?;
        sim.deafen(deaf);
        let deadline = sim.now_us() + 2 * SECOND_US;
        let mut other = None;
        while sim.now_us() < deadline && other.is_none() {
            let ids: Vec<NodeId> = sim.node_ids().filter(|id| *id != deaf).collect();
            for id in ids {
                if sim.node(id).is_some_and(|p| p.leader().is_none()) {
                    sim.call(id, |p, out| p.lead(out));
                }
            }
            run_for(&mut sim, 5 * MS_US)?;
            other = sim
                .node_ids()
                .find(|id| *id != deaf && sim.node(*id).is_some_and(Peer::is_leading));
        }
        let leader = other.ok_or("no other peer leads 2 s after the leader went deaf")?;
        ensure(!sim.node(deaf).is_some_and(Peer::is_leading), || {
            "the deaf leader still leads".into()
        })?;
        let seq = sim.node(leader).and_then(Peer::max).map_or(0, |m| m.0 + 1);
        start(&mut sim, leader.0, seq, val("after"));
        wait_n(&mut sim, Seq(seq), 2)
    });
}

/// Instances decided while peer 2 was cut off.
const MISSED: u64 = 5_000;

/// A candidate far behind: peer 2 missed 5,000 decisions (more than one `PromiseAll` may
/// report), then the leader is cut off and peer 2 campaigns with only peer 1. The report is
/// cut, the campaign asks again from the cut, and peer 2 leads and learns every decision.
#[test]
fn campaign_of_a_peer_far_behind_asks_in_rounds() {
    sim::for_each_seed!(2, |seed| {
        let mut sim = cluster(seed, 3);
        sim.partition(&[&[NodeId(0), NodeId(1)], &[NodeId(2)]]);
        let old = elect(&mut sim)?;
        let first = sim.node(old).and_then(Peer::max).map_or(0, |m| m.0 + 1);
        for seq in first..first + MISSED {
            start(&mut sim, old.0, seq, val(&format!("v{seq}")));
            if seq % 500 == 0 {
                run_for(&mut sim, 20 * MS_US)?;
            }
        }
        for seq in first..first + MISSED {
            wait_n(&mut sim, Seq(seq), 2)?;
        }
        ensure(paxos::leader::REPORT_ENTRIES_MAX < MISSED as usize, || {
            "the scenario must overflow one report".into()
        })?;
        let survivor = if old == NodeId(0) {
            NodeId(1)
        } else {
            NodeId(0)
        };
        sim.partition(&[&[old], &[survivor, NodeId(2)]]);
        let deadline = sim.now_us() + 5 * SECOND_US;
        while !sim.node(NodeId(2)).is_some_and(Peer::is_leading) {
            if sim.now_us() >= deadline {
                return Err("peer 2 did not win with peer 1's promise".into());
            }
            if sim.node(NodeId(2)).is_some_and(|p| p.leader().is_none()) {
                sim.call(NodeId(2), |p, out| p.lead(out));
            }
            run_for(&mut sim, 5 * MS_US)?;
        }
        // Decided instances come in the reports; instances peer 1 had only accepted when the
        // old leader was cut off are proposed again by peer 2 at its ballot.
        let deadline = sim.now_us() + 2 * SECOND_US;
        let missing = |sim: &PaxosSim| {
            (first..first + MISSED)
                .filter(|seq| {
                    sim.node(NodeId(2))
                        .is_some_and(|p| p.status(Seq(*seq)).1.is_none())
                })
                .count()
        };
        sim.run_until(deadline, |s| missing(s) == 0).map_err(|e| {
            format!(
                "peer 2 leads but {} decisions stay unknown: {e}",
                missing(&sim)
            )
        })
    });
}
