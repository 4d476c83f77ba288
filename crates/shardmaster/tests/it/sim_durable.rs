//! Durable shard master replicas (SPEC §12: every replicated server is durable by default):
//! crashes with the disk kept, one at a time and all at once, under concurrent joins, leaves
//! and queries. The configuration history must survive whole: every configuration a client
//! was told about is still there, unchanged, after every restart.

use crate::common::*;
use rpc::NodeId;
use shardmaster::{Gid, LabReplica, Op};

/// Snapshots every 30 slots, so that crashes land before, during and after log rotations and
/// restarts go through the machine's snapshot and restore.
fn config() -> rsm::Config {
    rsm::Config {
        snapshot_every_slots: 30,
        ..rsm::Config::default()
    }
}

/// A cluster of 3 durable replicas, each on an empty directory.
fn durable(seed: u64) -> Sm {
    let empty = rpc::DiskImage::new();
    let replicas = (0..3)
        .map(|i| LabReplica::open(NodeId(i), 3, seed, config(), &empty))
        .collect::<Result<Vec<_>, _>>()
        .expect("an empty directory opens");
    Sm::from_replicas(seed, replicas)
}

/// Restarts crashed replica `i` on what its disk kept.
///
/// # Panics
/// If the replica refuses its directory (the seeded runner reports it with the seed).
fn restart(sm: &mut Sm, i: u32) {
    let seed = sm.sim.seed() ^ u64::from(i).rotate_left(17);
    sm.sim.restart(NodeId(i), |disk| {
        LabReplica::open(NodeId(i), 3, seed, config(), disk)
            .unwrap_or_else(|e| panic!("replica {i} refused its directory: {e}"))
    });
}

/// Workers for groups `gids`: Join gid+1000, Join gid, Leave gid+1000, Query(-1), each through
/// a clerk of its own that knows every server.
fn workers(sm: &mut Sm, gids: std::ops::RangeInclusive<i64>) -> Vec<Work> {
    gids.map(|gid| {
        let ck = sm.clerk(&[0, 1, 2]);
        vec![
            (ck, join(gid + 1000, &[&format!("s{gid}a")])),
            (ck, join(gid, &[&format!("s{gid}b"), &format!("s{gid}c")])),
            (
                ck,
                Op::Leave {
                    gid: Gid(gid + 1000),
                },
            ),
            (ck, Op::Query { num: -1 }),
        ]
    })
    .collect()
}

/// Three durable replicas; six rounds of 10 concurrent workers, and in each round one replica
/// (in turn) crashes 20 ms in, losing its unsynced writes, and restarts on its directory
/// 150 ms later while the others serve. Afterwards the groups are exactly those that joined,
/// balanced; the replicas converge on one history; every Query was fresh and answered a
/// configuration the final history holds unchanged; and snapshots were taken.
#[test]
fn each_replica_crashes_and_recovers_its_history() {
    sim::for_each_seed!(50, |seed| {
        let mut sm = durable(seed);
        let mut records = Vec::new();
        for round in 0..6i64 {
            let victim = (round % 3) as u32;
            let works = workers(&mut sm, round * 10 + 1..=round * 10 + 10);
            let start = sm.sim.now_us();
            let (mut crashed, mut restarted) = (false, false);
            records.extend(sm.run_concurrently(
                works,
                |_| false,
                |sm, _| {
                    let elapsed = sm.sim.now_us() - start;
                    if !crashed && elapsed >= 20 * MS_US {
                        sm.sim.crash(NodeId(victim));
                        crashed = true;
                    }
                    if crashed && !restarted && elapsed >= 170 * MS_US {
                        restart(sm, victim);
                        restarted = true;
                    }
                },
            )?);
            if !restarted {
                // The round finished before the restart was due: keep the victim down for
                // its full 150 ms all the same.
                let until = start + 170 * MS_US;
                let rest = until.saturating_sub(sm.sim.now_us());
                sm.sim.run_for(rest).map_err(|e| e.to_string())?;
                if crashed {
                    restart(&mut sm, victim);
                }
            }
        }
        let ck = sm.clerk(&[0, 1, 2]);
        sm.check(ck, &(1..=60).collect::<Vec<_>>())?;
        sm.converge()?;
        check_queries(&records, &sm.longest_history())?;
        let snapshots = sm
            .sim
            .node(NodeId(0))
            .map_or(0, |r| r.stats().snapshots_taken);
        ensure(snapshots > 0, || {
            "no snapshot taken: restarts skipped restore".into()
        })
    });
}

/// Every replica crashes at once in the middle of the load, with operations in flight, and
/// all restart on their directories 200 ms later, three times: the cluster serves again, and
/// no configuration a client saw is lost or changed.
#[test]
fn all_replicas_crash_at_once_and_keep_the_history() {
    sim::for_each_seed!(50, |seed| {
        let mut sm = durable(seed);
        let mut records = Vec::new();
        for round in 0..3i64 {
            let works = workers(&mut sm, round * 10 + 1..=round * 10 + 10);
            let start = sm.sim.now_us();
            let (mut down_at, mut up) = (None, false);
            records.extend(sm.run_concurrently(
                works,
                |_| false,
                |sm, _| {
                    let now = sm.sim.now_us();
                    if down_at.is_none() && now - start >= 30 * MS_US {
                        (0..3).for_each(|i| sm.sim.crash(NodeId(i)));
                        down_at = Some(now);
                    }
                    if !up && down_at.is_some_and(|at| now >= at + 200 * MS_US) {
                        (0..3).for_each(|i| restart(sm, i));
                        up = true;
                    }
                },
            )?);
            if !up {
                // The round finished before the crash was due, or while every replica was
                // down (its answers already sent): crash them now if need be, and keep them
                // down their 200 ms.
                let at = down_at.unwrap_or_else(|| {
                    (0..3).for_each(|i| sm.sim.crash(NodeId(i)));
                    sm.sim.now_us()
                });
                let rest = (at + 200 * MS_US).saturating_sub(sm.sim.now_us());
                sm.sim.run_for(rest).map_err(|e| e.to_string())?;
                (0..3).for_each(|i| restart(&mut sm, i));
            }
        }
        let ck = sm.clerk(&[0, 1, 2]);
        sm.check(ck, &(1..=30).collect::<Vec<_>>())?;
        sm.converge()?;
        check_queries(&records, &sm.longest_history())
    });
}
