//! Beyond SPEC §5: what an application built on the log needs from Paxos (crate `rsm`): the
//! drain of decided instances (`take_decided`), local compaction below a snapshot (`compact`),
//! and catching up from another peer's snapshot (`snapshot_needed`, `install_snapshot`).

use crate::common::*;
use paxos::{Fate, Peer, Seq, SnapshotNeed, Value};
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

    /// `peer` installed a snapshot of everything below `upto`: it skips to there.
    fn skip_to(&mut self, peer: NodeId, upto: Seq) {
        let next = self.next.entry(peer).or_insert(Seq(0));
        *next = (*next).max(upto);
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

/// What an application does once it applied everything it was handed and keeps a snapshot of
/// it: tell Paxos it is done with the log below, and compact it here (min() cannot move while a
/// peer is away; compaction does not wait for it).
fn snapshot_and_compact(sim: &mut PaxosSim, peer: NodeId) {
    sim.call(peer, |p, _| {
        let upto = p.delivered();
        if let Some(last) = upto.0.checked_sub(1) {
            p.done(Seq(last));
        }
        p.compact(upto);
    });
}

/// Runs until one of `peers` leads, calling `lead` on those that know no leader.
fn elect_among(sim: &mut PaxosSim, peers: &[NodeId]) -> Result<NodeId, String> {
    let deadline = sim.now_us() + 5 * SECOND_US;
    loop {
        if let Some(leader) = peers
            .iter()
            .copied()
            .find(|id| sim.node(*id).is_some_and(Peer::is_leading))
        {
            return Ok(leader);
        }
        if sim.now_us() > deadline {
            return Err(format!("none of {peers:?} leads after 5 s"));
        }
        for id in peers {
            if sim.node(*id).is_some_and(|p| p.leader().is_none()) {
                sim.call(*id, |p, out| p.lead(out));
            }
        }
        run_for(sim, 5 * MS_US)?;
    }
}

/// Instances decided while peer 2 is away.
const MISSED: u64 = 2_000;

/// Instances a leader starts at once.
const BATCH: u64 = 50;

/// Peer 2 is cut off while peers 0 and 1 decide [`MISSED`] instances in batches, applying and
/// compacting after each as an application with snapshots would. Fails unless memory stays
/// bounded (a few batches of instances held) although `min()` stays 0 (peer 2 never calls
/// `done`). Returns the simulator and what the applications took.
fn compact_while_peer_2_is_away(seed: u64) -> Result<(PaxosSim, Applied), String> {
    let mut sim = cluster(seed, 3);
    let pair = [NodeId(0), NodeId(1)];
    sim.partition(&[&pair, &[NodeId(2)]]);
    let mut applied = Applied::default();
    let mut held_max = 0;
    for first in (0..MISSED).step_by(BATCH as usize) {
        let leader = elect_among(&mut sim, &pair)?;
        for seq in first..first + BATCH {
            start(&mut sim, leader.0, seq, val(&format!("v{seq}")));
        }
        let deadline = sim.now_us() + 5 * SECOND_US;
        while pair.iter().any(|p| applied.next(*p) < Seq(first + BATCH)) {
            if sim.now_us() > deadline {
                return Err(format!("batch from {first} not applied within 5 s"));
            }
            run_for(&mut sim, 5 * MS_US)?;
            for peer in pair {
                applied.drain(&mut sim, peer, 64)?;
                held_max = held_max.max(sim.node(peer).map_or(0, Peer::instance_count));
                snapshot_and_compact(&mut sim, peer);
            }
        }
    }
    ensure(held_max <= 2 * BATCH as usize, || {
        format!("a peer held {held_max} instances although it compacted")
    })?;
    for peer in pair {
        let p = sim.node(peer).ok_or("peer down")?;
        ensure(p.min() == Seq(0), || {
            format!("{peer} min() = {} moved", p.min())
        })?;
        ensure(p.first_held() == Seq(MISSED), || {
            format!("{peer} holds from {}", p.first_held())
        })?;
    }
    Ok((sim, applied))
}

/// Runs until every peer in `peers` applied everything below `upto`, the applications
/// compacting, asking for holes, and installing a snapshot when their peer needs one, meanwhile.
fn apply_everywhere(
    sim: &mut PaxosSim,
    applied: &mut Applied,
    peers: &[NodeId],
    upto: Seq,
) -> Result<(), String> {
    let deadline = sim.now_us() + 10 * SECOND_US;
    while peers.iter().any(|p| applied.next(*p) < upto) {
        if sim.now_us() > deadline {
            return Err(format!(
                "{peers:?} did not all apply up to {upto} within 10 s"
            ));
        }
        run_for(sim, 10 * MS_US)?;
        for peer in peers {
            if let Some(need) = sim.node(*peer).and_then(Peer::snapshot_needed) {
                applied.skip_to(*peer, need.upto);
                sim.call(*peer, |p, _| p.install_snapshot(need.upto));
            }
            applied.drain(sim, *peer, 64)?;
            snapshot_and_compact(sim, *peer);
        }
        ask_for_holes(sim);
    }
    Ok(())
}

/// Memory bounded by compaction, and catching up from a snapshot by asking: 3 peers, peer 2
/// cut off while the other two decide and compact 2,000 instances (memory stays bounded
/// although `min()` cannot move). Healed, peer 2 asks for its first hole, is answered
/// `Compacted`, and reports that it needs a snapshot covering everything it missed from one
/// of them. Once it installs one, it takes part in new instances, and every peer applies the
/// same log (checked by the applications and by the agreement invariant after every step).
#[test]
fn rejoining_peer_asks_is_answered_compacted_and_installs_a_snapshot() {
    sim::for_each_seed!(5, |seed| {
        let (mut sim, mut applied) = compact_while_peer_2_is_away(seed)?;
        let away = NodeId(2);
        sim.heal();
        let deadline = sim.now_us() + 2 * SECOND_US;
        let need = loop {
            if let Some(need) = sim.node(away).and_then(Peer::snapshot_needed) {
                break need;
            }
            if sim.now_us() > deadline {
                return Err("peer 2 was never told it needs a snapshot".into());
            }
            ask_for_holes(&mut sim);
            run_for(&mut sim, 10 * MS_US)?;
        };
        ensure(need.upto >= Seq(MISSED), || {
            format!("{need:?} covers less than it missed")
        })?;
        ensure(matches!(need.from, Some(NodeId(0 | 1))), || {
            format!("{need:?} names no peer that compacted")
        })?;
        ensure(applied.next(away) == Seq(0), || {
            "peer 2 applied something".into()
        })?;
        // The application fetches and restores that peer's snapshot, then tells Paxos.
        applied.skip_to(away, need.upto);
        sim.call(away, |p, _| p.install_snapshot(need.upto));
        ensure(
            sim.node(away)
                .is_some_and(|p| p.snapshot_needed().is_none()),
            || "the need outlived the install".into(),
        )?;
        let all: Vec<NodeId> = sim.node_ids().collect();
        let leader = elect_among(&mut sim, &all)?;
        for seq in MISSED..MISSED + 20 {
            start(&mut sim, leader.0, seq, val(&format!("after{seq}")));
        }
        apply_everywhere(&mut sim, &mut applied, &all, Seq(MISSED + 20))
    });
}

/// Rule 3 of `paxos::compact` from the candidate's side: after the setup above, the leader is
/// cut off and peer 2 campaigns with only the other compacted peer. Its promise reports a
/// compaction point above the campaign's `from`, so peer 2 gives up (it never leads) and asks
/// for that peer's snapshot. Once installed, one of the two leads and both decide new
/// instances; healed, all three apply the same log.
#[test]
fn candidate_behind_a_compacted_peer_gives_up_and_installs_a_snapshot() {
    sim::for_each_seed!(5, |seed| {
        let (mut sim, mut applied) = compact_while_peer_2_is_away(seed)?;
        let away = NodeId(2);
        let old = elect_among(&mut sim, &[NodeId(0), NodeId(1)])?;
        let other = if old == NodeId(0) {
            NodeId(1)
        } else {
            NodeId(0)
        };
        sim.partition(&[&[old], &[other, away]]);
        let deadline = sim.now_us() + 3 * SECOND_US;
        let need = loop {
            ensure(!sim.node(away).is_some_and(Peer::is_leading), || {
                "peer 2 leads instances it cannot know".into()
            })?;
            if let Some(need) = sim.node(away).and_then(Peer::snapshot_needed) {
                break need;
            }
            if sim.now_us() > deadline {
                return Err("peer 2's campaign never heard of the compaction".into());
            }
            // The other peer refuses while it still hears the old leader, then promises.
            if sim.node(away).is_some_and(|p| p.leader().is_none()) {
                sim.call(away, |p, out| p.lead(out));
            }
            run_for(&mut sim, 5 * MS_US)?;
        };
        let wanted = SnapshotNeed {
            from: Some(other),
            upto: Seq(MISSED),
        };
        ensure(need == wanted, || format!("{need:?}, expected {wanted:?}"))?;
        applied.skip_to(away, need.upto);
        sim.call(away, |p, _| p.install_snapshot(need.upto));
        let pair = [other, away];
        let leader = elect_among(&mut sim, &pair)?;
        let first = sim.node(leader).and_then(Peer::max).map_or(0, |m| m.0 + 1);
        for seq in first..first + 10 {
            start(&mut sim, leader.0, seq, val(&format!("new{seq}")));
        }
        apply_everywhere(&mut sim, &mut applied, &pair, Seq(first + 10))?;
        sim.heal();
        let all: Vec<NodeId> = sim.node_ids().collect();
        apply_everywhere(&mut sim, &mut applied, &all, Seq(first + 10))
    });
}

fn decided_at(sim: &PaxosSim, peer: NodeId, seq: u64) -> Option<Value> {
    sim.node(peer).and_then(|p| p.status(Seq(seq)).1)
}

/// The scenario of `paxos::compact` rule 3, by hand: 5 peers A–E. A proposes v at instance 0
/// with B and C; the moment A knows v is chosen, B is cut off, so B accepted v but never
/// learns it. A applies and compacts 0. D campaigns with {A, D, E}: without the compaction
/// point in A's promise, D would hear nothing of instance 0, lead, and then {B, D, E} would
/// accept D's w there, a second chosen value. D must give up instead, and need A's snapshot;
/// E, proposing w classically with {B, D, E}, finds v through B. The agreement invariant runs
/// after every step.
#[test]
fn compacted_quorum_member_keeps_a_candidate_from_choosing_a_second_value() {
    sim::for_each_seed!(30, |seed| {
        let mut sim = cluster(seed, 5);
        let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(NodeId);
        sim.partition(&[&[a, b, c], &[d, e]]);
        start(&mut sim, a.0, 0, val("v"));
        let deadline = sim.now_us() + 5 * SECOND_US;
        while decided_at(&sim, a, 0).is_none() {
            ensure(sim.now_us() < deadline, || "v was not chosen".into())?;
            sim.step().map_err(|e| e.to_string())?;
        }
        // A's Decided to B is still in flight: the cut drops it on delivery.
        sim.partition(&[&[a, c], &[b], &[d, e]]);
        run_for(&mut sim, 100 * MS_US)?;
        ensure(decided_at(&sim, b, 0).is_none(), || "B learned v".into())?;
        let mut applied = Applied::default();
        applied.drain(&mut sim, a, 10)?;
        sim.call(a, |p, _| p.compact(Seq(1)));

        sim.partition(&[&[a, d, e], &[b], &[c]]);
        let mut led = false;
        let deadline = sim.now_us() + SECOND_US;
        while sim.now_us() < deadline && sim.node(d).and_then(Peer::snapshot_needed).is_none() {
            if sim.node(d).is_some_and(|p| p.leader().is_none()) {
                sim.call(d, |p, out| p.lead(out));
            }
            run_for(&mut sim, 5 * MS_US)?;
            led |= sim.node(d).is_some_and(Peer::is_leading);
        }
        // Had D led, this is where {B, D, E} would choose w. D does not even propose there
        // (A reported instance 0 compacted); E's classic round learns v from B's promise.
        sim.partition(&[&[b, d, e], &[a, c]]);
        start(&mut sim, d.0, 0, val("w"));
        start(&mut sim, e.0, 0, val("w"));
        run_for(&mut sim, SECOND_US)?;
        led |= sim.node(d).is_some_and(Peer::is_leading);
        ensure(!led, || "D led with a quorum that hid instance 0".into())?;
        let need = sim.node(d).and_then(Peer::snapshot_needed);
        let wanted = SnapshotNeed {
            from: Some(a),
            upto: Seq(1),
        };
        ensure(need == Some(wanted), || {
            format!("D needs {need:?}, expected {wanted:?}")
        })?;
        sim.heal();
        for peer in [b, c, d, e] {
            let deadline = sim.now_us() + 5 * SECOND_US;
            sim.run_until(deadline, |s| decided_at(s, peer, 0).is_some())
                .map_err(|err| format!("{peer} never learned instance 0: {err}"))?;
            ensure(decided_at(&sim, peer, 0) == Some(val("v")), || {
                format!("{peer} decided {:?}", decided_at(&sim, peer, 0))
            })?;
        }
        Ok(())
    });
}

/// Instances decided before the chaos of [`classic_proposers_behind_a_compaction_never_decide_another_value`].
const DECIDED_FIRST: u64 = 10;

/// Classic proposers behind a compaction: 5 peers; peers 0–2 decide instances 0..10 while 3
/// and 4 are cut off, then 0 and 1 apply and compact them (2 keeps them). For 3 s the network
/// is re-partitioned every 100 ms with 5 % loss, and every 10 ms peer 3 or 4 (behind) starts
/// one of those instances with a value of its own, classic Paxos. No other value is ever
/// decided (agreement invariant after every step); afterwards, each of 3 and 4 either decided
/// the original value of each instance or needs a snapshot.
#[test]
fn classic_proposers_behind_a_compaction_never_decide_another_value() {
    sim::for_each_seed!(20, |seed| {
        let mut sim = cluster(seed, 5);
        let ids: Vec<NodeId> = sim.node_ids().collect();
        sim.partition(&[&ids[..3], &ids[3..]]);
        for seq in 0..DECIDED_FIRST {
            start(&mut sim, 0, seq, val(&format!("v{seq}")));
        }
        let mut applied = Applied::default();
        apply_everywhere(&mut sim, &mut applied, &ids[..2], Seq(DECIDED_FIRST))?;
        let mut faults = sim.faults().clone();
        faults.loss = 0.05;
        sim.set_faults(faults);
        let end = sim.now_us() + 3 * SECOND_US;
        let mut next_partition = 0;
        while sim.now_us() < end {
            if sim.now_us() >= next_partition {
                next_partition = sim.now_us() + 100 * MS_US;
                let mut shuffled = ids.clone();
                sim.rng().shuffle(&mut shuffled);
                let cut = 2 + sim.rng().below(2) as usize;
                let (x, y) = shuffled.split_at(cut);
                sim.partition(&[x, y]);
            }
            let peer = 3 + sim.rng().below(2) as u32;
            let seq = sim.rng().below(DECIDED_FIRST);
            start(&mut sim, peer, seq, val(&format!("w{seq}-{peer}")));
            run_for(&mut sim, 10 * MS_US)?;
        }
        sim.heal();
        run_for(&mut sim, SECOND_US)?;
        for peer in [NodeId(3), NodeId(4)] {
            let behind = sim.node(peer).and_then(Peer::snapshot_needed).is_some();
            for seq in 0..DECIDED_FIRST {
                let status = sim.node(peer).map(|p| p.status(Seq(seq)));
                let original = Some((Fate::Decided, Some(val(&format!("v{seq}")))));
                ensure(status == original || behind, || {
                    format!("{peer} instance {seq}: {status:?}, and no snapshot needed")
                })?;
            }
        }
        Ok(())
    });
}
