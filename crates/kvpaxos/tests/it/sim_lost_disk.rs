//! SPEC §9.3's disk-loss scenarios at the kvpaxos level (Test5OneLostOneDown, RejoinMix1,
//! RejoinMix3), on durable replicas: a replica that lost its disk must fetch its state from
//! the others and take part only in new instances, and must never help form a majority that
//! could un-decide anything. Histories are checked; every append must be there exactly once.

use crate::common::*;
use crate::sim_durable::{cluster, config, load, settle_and_check, wait_until_voting};
use rpc::NodeId;

/// Test5OneLostOneDown: of 5 replicas, 0 crashes (disk kept) and stays down; 1 to 4 in turn
/// lose their disks and restart, so at times only 3 are live and one of them is freshly
/// wiped; appends go on throughout. Then 0 restarts and two more Puts land. 10 seeds.
#[test]
fn one_lost_one_down() {
    sim::for_each_seed!(10, |seed| {
        let (config, mut kv, clerks, mut counts) = cluster(seed, 5, 3);
        load(&mut kv, &clerks, 300 * MS_US, &mut counts)?;
        kv.sim.crash(NodeId(0));
        for i in 1..5 {
            kv.finish(&clerks)?;
            kv.sim.crash_and_lose_disk(NodeId(i));
            load(&mut kv, &clerks, SECOND_US, &mut counts)?;
            kv.restart_durable(i, &config, 1)?;
            load(&mut kv, &clerks, 100 * MS_US, &mut counts)?;
            wait_until_voting(&mut kv, i)?;
            load(&mut kv, &clerks, 200 * MS_US, &mut counts)?;
        }
        kv.finish(&clerks)?;
        kv.restart_durable(0, &config, 0)?;
        kv.op(clerks[0], put("a", "b"))?;
        kv.run_for(SECOND_US)?;
        kv.op(clerks[1], put("a", "c"))?;
        kv.check(clerks[2], "a", "c")?;
        settle_and_check(&mut kv, &clerks, &counts)
    });
}

/// RejoinMix1 ("replica waits correctly after disk loss"): of 5 replicas, 0 crashes with its
/// disk; two more appends; 1 and 2 crash losing their disks, 3 and 4 crash keeping theirs.
/// Restarted, 0, 1 and 2 are three of five, but only 0 has real state: a Get must not
/// succeed within 3 s. Once 3 and 4 are back, an append lands and a Get sees every append.
/// 10 seeds.
#[test]
fn rejoin_mix_1_a_wiped_majority_waits() {
    sim::for_each_seed!(10, |seed| {
        let (config, mut kv, clerks, mut counts) = cluster(seed, 5, 3);
        load(&mut kv, &clerks, 300 * MS_US, &mut counts)?;
        kv.finish(&clerks)?;
        kv.sim.crash(NodeId(0));
        load(&mut kv, &clerks, 200 * MS_US, &mut counts)?;
        kv.finish(&clerks)?;
        for i in [1, 2] {
            kv.sim.crash_and_lose_disk(NodeId(i));
        }
        for i in [3, 4] {
            kv.sim.crash(NodeId(i));
        }
        for i in 0..3 {
            let incarnation = u64::from(i != 0);
            kv.restart_durable(i, &config, incarnation)?;
        }
        let probe = kv.shuffled_clerk();
        kv.invoke(probe, get("k"));
        kv.run_for(3 * SECOND_US)?;
        ensure(!kv.sim.is_idle(probe), || {
            format!(
                "a Get succeeded with only one replica holding state: {:?}; {}",
                kv.take(probe),
                kv.describe()
            )
        })?;
        for i in [3, 4] {
            kv.restart_durable(i, &config, 0)?;
        }
        kv.finish(&[probe])?;
        load(&mut kv, &clerks, 300 * MS_US, &mut counts)?;
        settle_and_check(&mut kv, &clerks, &counts)
    });
}

/// RejoinMix3 ("replica Paxos resumes correctly after disk loss"): of 5 replicas, 1 and 2
/// crash with their disks; 100 appends through 0, 3 and 4; 0 crashes losing its disk; 1 and
/// 2 restart, then 0. Two concurrent appends x1, x2 must give the old value followed by
/// both, in either order: no lost or reordered history. 10 seeds.
#[test]
fn rejoin_mix_3_history_survives_a_wiped_replica() {
    sim::for_each_seed!(10, |seed| {
        let config = config();
        let mut kv = Kv::durable(seed, 5, &config);
        let first = kv.clerk(&[0, 3, 4, 1, 2]);
        kv.op(first, append("k", "start "))?;
        for i in [1, 2] {
            kv.sim.crash(NodeId(i));
        }
        let mut expected = String::from("start ");
        for n in 0..100 {
            let item = format!("{n} ");
            kv.op(first, append("k", &item))?;
            expected.push_str(&item);
        }
        kv.sim.crash_and_lose_disk(NodeId(0));
        for i in [1, 2] {
            kv.restart_durable(i, &config, 0)?;
        }
        kv.run_for(200 * MS_US)?;
        kv.restart_durable(0, &config, 1)?;
        let (a, b) = (kv.shuffled_clerk(), kv.shuffled_clerk());
        kv.invoke(a, append("k", "x1 "));
        kv.invoke(b, append("k", "x2 "));
        kv.finish(&[a, b])?;
        let value = kv.op(a, get("k"))?;
        let either = [format!("{expected}x1 x2 "), format!("{expected}x2 x1 ")];
        ensure(either.contains(&value), || {
            format!("history lost or reordered: {value:?}")
        })?;
        wait_until_voting(&mut kv, 0)?;
        kv.check_linearizable()
    });
}

/// The case the rejoin's `votes_from` exists for: replica 0 votes in slots that replicas 1
/// and 2 decide with it while 3 and 4 are cut off, then loses its disk. It rejoins through 1,
/// 3 and 4 (1 reaches only 0), so the fence tells it how far the log went. Then 0, 3 and 4
/// are a majority apart from 1 and 2: they may serve only with every slot 0 forgot known
/// (0 pulls them in a snapshot from 1 while it rejoins), never by voting in them afresh. An
/// append there, then everything heals: the log agreement checked after every step holds, the
/// value holds the whole history in order, and the history is linearizable. 10 seeds.
#[test]
fn a_rejoined_replica_on_a_new_majority_keeps_the_history() {
    sim::for_each_seed!(10, |seed| {
        let config = config();
        let mut kv = Kv::durable(seed, 5, &config);
        let writer = kv.clerk(&[1, 2, 0]);
        kv.op(writer, put("k", "before "))?;
        kv.sim
            .partition(&[&[NodeId(0), NodeId(1), NodeId(2)], &[NodeId(3), NodeId(4)]]);
        for n in 0..20 {
            kv.op(writer, append("k", &format!("{n} ")))?;
        }
        kv.sim.crash_and_lose_disk(NodeId(0));
        kv.sim
            .partition(&[&[NodeId(0), NodeId(1), NodeId(3), NodeId(4)], &[NodeId(2)]]);
        for other in [3, 4] {
            kv.sim.cut(NodeId(1), NodeId(other));
            kv.sim.cut(NodeId(other), NodeId(1));
        }
        kv.restart_durable(0, &config, 1)?;
        wait_until_voting(&mut kv, 0)?;
        kv.sim.heal();
        kv.sim
            .partition(&[&[NodeId(0), NodeId(3), NodeId(4)], &[NodeId(1), NodeId(2)]]);
        let other_side = kv.clerk(&[3, 4, 0]);
        kv.invoke(other_side, append("k", "x "));
        kv.run_for(2 * SECOND_US)?;
        kv.sim.heal();
        kv.finish(&[other_side])?;
        let value = kv.op(writer, get("k"))?;
        let expected: String = (0..20).map(|n| format!("{n} ")).collect();
        ensure(value == format!("before {expected}x "), || {
            format!("history lost or reordered: {value:?}")
        })?;
        kv.check_linearizable()
    });
}

/// Test5Simultaneous: three replicas on an unreliable network (SPEC §1.2). 50 rounds: an
/// append starts, 0-200 ms later replica `round % 3` crashes, half the time losing its disk; a
/// second clerk's Get 1 s later must hold every append that completed, once and in order; the
/// replica restarts, and within 2.2 s more the append must have completed. 5 seeds.
#[test]
fn simultaneous_crashes_during_appends() {
    sim::for_each_seed!(5, |seed| {
        let config = config();
        let mut kv = Kv::durable(seed, 3, &config);
        kv.sim.set_unreliable(true);
        let (writer, reader) = (kv.shuffled_clerk(), kv.shuffled_clerk());
        // The cluster formed (every member welcomed the others) before the first crash: until
        // then, a member that crashes keeps the others from voting until it returns.
        kv.op(reader, put("warm", "up"))?;
        let deadline = kv.sim.now_us() + 3 * SECOND_US;
        kv.sim
            .run_until(deadline, |s| {
                (0..3).all(|i| s.node(NodeId(i)).is_some_and(|r| !r.peer().is_joining()))
            })
            .map_err(|e| format!("the cluster did not form: {e}"))?;
        let mut completed = 0u64;
        for round in 0..50u32 {
            let victim = round % 3;
            kv.invoke(writer, append("k", &format!("x 0 {round} y")));
            let pause = kv.sim.rng().below(200) * MS_US;
            kv.run_for(pause.max(1))?;
            let lose_disk = kv.sim.rng().below(2) == 0;
            if lose_disk {
                kv.sim.crash_and_lose_disk(NodeId(victim));
            } else {
                kv.sim.crash(NodeId(victim));
            }
            kv.run_for(SECOND_US)?;
            let finished = kv.sim.is_idle(writer);
            if finished {
                kv.take(writer);
                completed = u64::from(round) + 1;
            }
            let value = kv.op(reader, get("k"))?;
            // Appends up to `completed` must be there; this round's may or may not be.
            let done_so_far = check_appends(&value, &[completed])
                .or_else(|_| check_appends(&value, &[u64::from(round) + 1]));
            done_so_far.map_err(|e| format!("round {round}: {e} in {value:?}"))?;
            kv.restart_durable(victim, &config, u64::from(round) + 1)?;
            kv.run_for(2_200 * MS_US)?;
            if !finished {
                ensure(kv.sim.is_idle(writer), || {
                    format!(
                        "round {round}: the append did not complete; {}",
                        kv.describe()
                    )
                })?;
                kv.take(writer);
            }
            completed = u64::from(round) + 1;
        }
        kv.check_linearizable()
    });
}
