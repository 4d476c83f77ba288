//! SPEC §7.3 TestBasic: joins and leaves with duplicates, historical queries, moves,
//! concurrent joins and leaves, Paxos memory freed, and minimal transfers. One scenario, as in
//! the handout, because each part starts from the configurations the last one made.

use crate::common::*;
use rpc::ClientId;
use shardmaster::{Config, ConfigNum, Gid, Op, Reply, ShardError};

/// Lab 4A TestBasic on 3 replicas, its sub-tests in the handout's order (see each helper).
/// No faults: this is the shard master's semantics through the log.
#[test]
fn basic() {
    sim::for_each_seed!(100, |seed| {
        let mut sm = Sm::new(seed, 3);
        let ck = sm.clerk(&[0, 1, 2]);
        let pinned = sm.pinned_clerks();
        let history = basic_leave_join(&mut sm, ck)?;
        historical_queries(&mut sm, ck, &history)?;
        move_shards(&mut sm, ck)?;
        concurrent_leave_join(&mut sm, &pinned)?;
        min_advances(&mut sm)?;
        minimal_transfers(&mut sm, ck)
    });
}

/// "Basic leave/join": Join 1 {x,y,z}, Join 2 {a,b,c}, a duplicate Join 2, Leave 1, a
/// duplicate Leave 1, each followed by `check`; the server lists come back in order; the
/// duplicates make no configuration. Returns the configuration after each step.
fn basic_leave_join(sm: &mut Sm, ck: ClientId) -> Result<Vec<Config>, String> {
    let mut history = vec![sm.check(ck, &[])?];
    sm.join(ck, 1, &["x", "y", "z"])?;
    history.push(sm.check(ck, &[1])?);
    sm.join(ck, 2, &["a", "b", "c"])?;
    history.push(sm.check(ck, &[1, 2])?);
    let dup = sm.join(ck, 2, &["a", "b", "c"])?;
    ensure(dup == Reply::Unchanged(ConfigNum(2)), || {
        format!("duplicate Join answered {dup:?}")
    })?;
    let c = sm.check(ck, &[1, 2])?;
    history.push(c.clone());
    ensure(c.groups[&Gid(1)] == ["x", "y", "z"], || {
        format!("group 1's servers: {:?}", c.groups[&Gid(1)])
    })?;
    ensure(c.groups[&Gid(2)] == ["a", "b", "c"], || {
        format!("group 2's servers: {:?}", c.groups[&Gid(2)])
    })?;
    sm.leave(ck, 1)?;
    history.push(sm.check(ck, &[2])?);
    let dup = sm.leave(ck, 1)?;
    ensure(dup == Reply::Unchanged(ConfigNum(3)), || {
        format!("duplicate Leave answered {dup:?}")
    })?;
    history.push(sm.check(ck, &[2])?);
    Ok(history)
}

/// "Historical queries": `Query(n)` of each recorded configuration returns it exactly.
fn historical_queries(sm: &mut Sm, ck: ClientId, history: &[Config]) -> Result<(), String> {
    for c in history {
        let again = sm.query(ck, c.num.0 as i64)?;
        ensure(&again == c, || {
            format!("Query({}) = {again:?}, recorded {c:?}", c.num)
        })?;
    }
    Ok(())
}

/// "Move": Join 503 and 504, move shards 0–4 to 503 and 5–9 to 504; each Move of a shard not
/// already there makes a new configuration; the final assignment is exactly as moved. Then
/// both leave again.
fn move_shards(sm: &mut Sm, ck: ClientId) -> Result<(), String> {
    sm.join(ck, 503, &["3a", "3b", "3c"])?;
    sm.join(ck, 504, &["4a", "4b", "4c"])?;
    let target = |shard: u32| if shard < 5 { 503 } else { 504 };
    for shard in 0..10 {
        let before = sm.query(ck, -1)?;
        sm.move_shard(ck, shard, target(shard))?;
        let after = sm.query(ck, -1)?;
        let moved = before.shards[shard as usize] != Gid(target(shard));
        ensure(!moved || after.num > before.num, || {
            format!("Move({shard}) did not increase Num past {}", before.num)
        })?;
    }
    let last = sm.query(ck, -1)?;
    let wrong: Vec<u32> = (0..10)
        .filter(|&s| last.shards[s as usize] != Gid(target(s)))
        .collect();
    ensure(wrong.is_empty(), || {
        format!("shards {wrong:?} not where moved: {:?}", last.shards)
    })?;
    sm.leave(ck, 503)?;
    sm.leave(ck, 504)?;
    Ok(())
}

/// "Concurrent leave/join": 10 workers, worker i on servers i, i+1, i+2 (mod 3) in turn:
/// Join gid+1000, Join gid, Leave gid+1000, for gid 1..10; then `check` through each
/// server.
///
/// The handout's gids 1..10 include gid 1, which left in "Basic leave/join", and SPEC §7.2
/// says a gid that left never joins again: its Join here is refused (`GidRetired`), so the
/// final groups are 2..10 (group 2 is joined already, so its Join is a duplicate).
fn concurrent_leave_join(sm: &mut Sm, pinned: &[ClientId]) -> Result<(), String> {
    let works: Vec<Work> = (0..10u32)
        .map(|i| {
            let gid = i64::from(i) + 1;
            // A clerk of its own per worker and server: a clerk runs one operation at a time.
            let mut on = |k: u32| sm.clerk(&[(i + k) % 3]);
            vec![
                (on(0), join(gid + 1000, &["a", "b", "c"])),
                (on(1), join(gid, &["a", "b", "c"])),
                (
                    on(2),
                    Op::Leave {
                        gid: Gid(gid + 1000),
                    },
                ),
            ]
        })
        .collect();
    let retired = |op: &Op| matches!(op, Op::Join { gid: Gid(1), .. });
    sm.run_concurrently(works, retired, |_, _| {})?;
    let refusal = sm.try_op(pinned[0], join(1, &["a", "b", "c"]))?;
    ensure(refusal == Err(ShardError::GidRetired(Gid(1))), || {
        format!("Join of retired gid 1 answered {refusal:?}")
    })?;
    for &c in pinned {
        sm.check(c, &(2..=10).collect::<Vec<_>>())?;
    }
    Ok(())
}

/// "Min advances after joins": every replica's Paxos `min()` is above 0, so the log is freed
/// while every replica is up.
fn min_advances(sm: &mut Sm) -> Result<(), String> {
    let deadline = sm.sim.now_us() + 5 * SECOND_US;
    sm.sim
        .run_until(deadline, |s| {
            s.node_ids()
                .all(|id| s.node(id).is_some_and(|r| r.peer().min() > paxos::Seq(0)))
        })
        .map_err(|e| format!("min() did not advance: {e}; {}", sm.describe()))
}

/// "Minimal transfers after joins", then "after leaves": Join 11..15, and no shard moves
/// between the original groups (a shard of a group ≤ 10 afterwards was that group's
/// before); Leave 11..15, and the shards of groups ≤ 10 stay put.
fn minimal_transfers(sm: &mut Sm, ck: ClientId) -> Result<(), String> {
    let original = |g: Gid| (1..=10).contains(&g.0);
    let c1 = sm.query(ck, -1)?;
    for gid in 11..=15 {
        sm.join(ck, gid, &["a", "b", "c"])?;
    }
    let c2 = sm.query(ck, -1)?;
    for (shard, &g) in c2.shards.iter().enumerate() {
        ensure(!original(g) || c1.shards[shard] == g, || {
            format!(
                "non-minimal transfer after Joins: shard {shard} {} -> {g}",
                c1.shards[shard]
            )
        })?;
    }
    for gid in 11..=15 {
        sm.leave(ck, gid)?;
    }
    let c3 = sm.query(ck, -1)?;
    for (shard, &g) in c2.shards.iter().enumerate() {
        ensure(!original(g) || c3.shards[shard] == g, || {
            format!(
                "non-minimal transfer after Leaves: shard {shard} {g} -> {}",
                c3.shards[shard]
            )
        })?;
    }
    Ok(())
}

/// The product's shard master (64 shards, [`shardmaster::Replica`] and
/// [`shardmaster::Clerk`]) runs the same way: three Joins through the log give 64 shards
/// balanced 22/21/21, the extra shard to the lowest gid.
#[test]
fn product_cluster_balances_its_64_shards() {
    sim::for_each_seed!(20, |seed| {
        let replicas = (0..3)
            .map(|i| shardmaster::Replica::new(rpc::NodeId(i), 3, seed))
            .collect();
        let mut sim: sim::Sim<shardmaster::Replica, shardmaster::Clerk> =
            sim::Sim::new(sim::SimConfig::new(seed), replicas);
        let ck = sim.add_client(shardmaster::Clerk::new((0..3).map(rpc::NodeId).collect()));
        let mut run = |op: Op| {
            let done = sim.run_op(ck, op, OP_US_MAX).map_err(|e| e.to_string())?;
            done.output.map_err(|e| e.to_string())
        };
        for gid in 1..=3 {
            run(join(gid, &["s"]))?.map_err(|e| e.to_string())?;
        }
        let Ok(Reply::Config(c)) = run(Op::Query { num: -1 })? else {
            return Err("Query did not answer a configuration".into());
        };
        let counts: Vec<u32> = c.shards_per_group().into_values().collect();
        ensure(c.shard_count() == 64 && counts == [22, 21, 21], || {
            format!("{} shards, per group {counts:?}", c.shard_count())
        })
    });
}
