//! Catching up through a snapshot: a replica cut off while the others applied so much that
//! they compacted the log it needs pulls a peer's snapshot, installs it, goes on from the log
//! after it, and ends in the same state as the others.

use crate::common::*;
use paxos::Seq;
use rpc::{ClientId, NodeId};
use rsm::Config;

/// Slots between snapshots. Compaction keeps one interval behind the latest snapshot, so once
/// the others applied more than two intervals past the cut-off replica, the log it needs is
/// gone everywhere.
const SNAPSHOT_EVERY_SLOTS: u64 = 500;
/// Slots the others apply while replica 2 is cut off: twenty snapshot intervals.
const MISSED_SLOTS: u64 = 10_000;
/// Clerks working through replicas 0 and 1 while replica 2 is cut off. Enough to keep the
/// leader's window of 8 entries full, so slots go by at the pace of one round trip each.
const CLERKS: u32 = 12;
/// How long replica 2 may take, once healed, to apply what the others applied.
const CATCH_UP_US_MAX: u64 = 5 * SECOND_US;

fn config() -> Config {
    Config {
        snapshot_every_slots: SNAPSHOT_EVERY_SLOTS,
        ..Config::default()
    }
}

/// A three-replica cluster, snapshots every 500 slots. Replica 2 applies the first few
/// operations, then is cut off while twelve clerks on replicas 0 and 1 (and one clerk that
/// tries replica 2 first, so replica 2 holds requests it cannot serve) apply at least 10,000
/// more slots (about 12,500 operations, in some 5 s of virtual time); by then replicas 0 and 1
/// hold no slot replica 2 needs. The network heals with the load still on for another second:
/// replica 2 must install a snapshot (`snapshots_installed >= 1`), apply the rest from the log,
/// and end with the same counter and sessions as the others; the whole history is
/// linearizable. 3 seeds (each run checks some 13,000 operations on one counter); soak:
/// `SIM_SEEDS=50 cargo test --release -p rsm --test it -- sim_snapshot`.
#[test]
fn cut_off_replica_catches_up_through_a_snapshot() {
    sim::for_each_seed!(3, |seed| {
        let (mut cluster, clerks) = replica_2_left_behind(seed)?;
        cluster.sim.heal();
        let end = cluster.sim.now_us() + SECOND_US;
        let mut next = |c: &mut Cluster, _: usize| Some(random_cmd(c));
        cluster.drive_for(&clerks, end, MS_US, &mut next)?;
        cluster.finish(&clerks)?;
        replica_2_caught_up(&mut cluster)?;
        cluster.check_linearizable()
    });
}

/// As [`cut_off_replica_catches_up_through_a_snapshot`] but with no traffic at all after the
/// heal: the leader's own messages must tell replica 2 that the log it needs is compacted
/// away, and it pulls a snapshot on its own. 3 seeds.
#[test]
fn idle_cut_off_replica_catches_up_through_a_snapshot() {
    sim::for_each_seed!(3, |seed| {
        let (mut cluster, _) = replica_2_left_behind(seed)?;
        cluster.sim.heal();
        replica_2_caught_up(&mut cluster)?;
        cluster.check_linearizable()
    });
}

/// A cluster whose replica 2 is cut off, and behind replicas 0 and 1 by at least
/// [`MISSED_SLOTS`] slots, none of which they still hold; with the clerks (all idle).
fn replica_2_left_behind(seed: u64) -> Result<(Cluster, Vec<ClientId>), String> {
    let mut cluster = Cluster::new(seed, 3, &config());
    let mut clerks: Vec<ClientId> = (0..CLERKS)
        .map(|i| cluster.clerk(if i % 2 == 0 { &[0, 1] } else { &[1, 0] }))
        .collect();
    clerks.push(cluster.clerk(&[2, 0, 1]));
    for &c in &clerks {
        cluster.op(c, CounterCmd::Add(1))?;
    }
    cluster.converge(SECOND_US)?;
    let left_at = cluster.replica(2).next_apply();
    cluster
        .sim
        .partition(&[&[NodeId(0), NodeId(1)], &[NodeId(2)]]);
    let target = left_at.0 + MISSED_SLOTS;
    let mut next = |c: &mut Cluster, _: usize| Some(random_cmd(c));
    while cluster.replica(0).next_apply().0 < target {
        let until = cluster.sim.now_us() + 100 * MS_US;
        cluster.drive_for(&clerks, until, MS_US, &mut next)?;
        ensure(cluster.sim.now_us() < 60 * SECOND_US, || {
            format!(
                "{MISSED_SLOTS} slots took over a minute; {}",
                cluster.describe()
            )
        })?;
    }
    cluster.finish(&clerks)?;
    let behind = cluster.replica(2).next_apply();
    for i in 0..2 {
        let first = cluster.replica(i).peer().first_held();
        ensure(first > behind, || {
            format!("replica {i} still holds slot {first} and up; replica 2 needs {behind}")
        })?;
    }
    ensure(behind == left_at, || {
        format!("replica 2 moved from {left_at} to {behind} while cut off")
    })?;
    Ok((cluster, clerks))
}

/// Replica 2 applies what replica 0 applied within [`CATCH_UP_US_MAX`], having installed a
/// snapshot, and every replica then holds the same state.
fn replica_2_caught_up(cluster: &mut Cluster) -> Result<(), String> {
    let target: Seq = cluster.replica(0).next_apply();
    let deadline = cluster.sim.now_us() + CATCH_UP_US_MAX;
    cluster
        .sim
        .run_until(deadline, |s| {
            s.node(NodeId(2)).is_some_and(|r| r.next_apply() >= target)
        })
        .map_err(|e| format!("replica 2 did not catch up: {e}; {}", cluster.describe()))?;
    let installed = cluster.replica(2).stats().snapshots_installed;
    ensure(installed >= 1, || {
        format!(
            "replica 2 caught up without installing a snapshot; {}",
            cluster.describe()
        )
    })?;
    cluster.converge(CATCH_UP_US_MAX)
}
