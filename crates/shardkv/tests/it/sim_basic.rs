//! SPEC §8.3 TestBasic ("Basic Join/Leave") and TestLimp ("Reconfiguration with some dead
//! replicas"): keys stay readable and writable while groups join and leave.

use crate::common::*;
use rpc::ClientId;

/// The flow both scenarios share: join group 0, write keys, join groups 1 and 2, then make
/// groups 0 and 1 leave; after each change every key reads back its value and is rewritten.
/// `after_leave` runs after each leave (TestLimp kills the group that left).
fn join_leave_flow(
    c: &mut Cluster,
    mut after_leave: impl FnMut(&mut Cluster, usize) -> Result<(), String>,
) -> Result<(), String> {
    c.join(0)?;
    let ck = c.clerk();
    c.kv.op(ck, put("a", "x"))?;
    c.kv.op(ck, append("a", "b"))?;
    c.kv.check(ck, "a", "xb")?;
    let mut keys: Vec<(String, String)> = (0..10)
        .map(|i| {
            let n = c.kv.sim.rng().below(1_000_000);
            (format!("{n}"), format!("v{i}"))
        })
        .collect();
    for (k, v) in &keys {
        c.kv.op(ck, put(k, v))?;
    }
    let mut round = 0;
    let mut check_and_rewrite =
        |c: &mut Cluster, keys: &mut Vec<(String, String)>, ck: ClientId| {
            round += 1;
            for (k, v) in keys.iter_mut() {
                c.kv.check(ck, k, v)?;
                *v = format!("{v}r{round}");
                c.kv.op(ck, put(k, v))?;
            }
            Ok::<(), String>(())
        };
    for g in 1..3 {
        c.join(g)?;
        c.kv.run_for(SECOND_US)?;
        check_and_rewrite(c, &mut keys, ck)?;
    }
    for g in 0..2 {
        c.leave(g)?;
        c.kv.run_for(SECOND_US)?;
        after_leave(c, g)?;
        check_and_rewrite(c, &mut keys, ck)?;
    }
    c.kv.check(ck, "a", "xb")
}

#[test]
fn basic() {
    sim::for_each_seed!(8, |seed| {
        let mut c = Cluster::new(seed, 3, 3);
        join_leave_flow(&mut c, |_, _| Ok(()))?;
        c.settle(10 * SECOND_US)?;
        c.kv.check_linearizable()
    });
}

/// One random replica of every group is down from the start; after a group leaves (and 2 s
/// pass), every replica of it is killed: its shards must have moved by then.
#[test]
fn limp() {
    sim::for_each_seed!(8, |seed| {
        let mut c = Cluster::new(seed, 3, 3);
        for g in 0..3 {
            let victim = c.kv.sim.rng().below(3) as usize;
            let id = c.group(g)[victim];
            c.kv.sim.kill(id);
        }
        join_leave_flow(&mut c, |c, g| {
            c.kv.run_for(SECOND_US)?;
            c.settle(10 * SECOND_US)?;
            for id in c.group(g) {
                if c.kv.sim.is_up(id) {
                    c.kv.sim.kill(id);
                }
            }
            Ok(())
        })?;
        c.kv.check_linearizable()
    });
}
