//! Beyond SPEC §8.3 (issue 13): a shard larger than one chunk moving while the two groups
//! cannot reach each other, a replica of each group lost in the middle of a hand-off, and a
//! clerk's appends applied once while their shard moves under lost answers.

use crate::common::*;
use shardkv::CHUNK_BYTES;
use shardkv::shard::Phase;
use shardmaster::{Gid, lab_shard_of};

/// The lab's shard count (SPEC §8.1).
const SHARDS: u32 = 10;

/// Values put in the big shard: together more than three chunks, so its hand-off is a
/// stream of several `Install`s.
const BIG_VALUES: usize = 4;
const BIG_VALUE_BYTES: usize = CHUNK_BYTES * 3 / 4;

/// The shard of `key` under the lab's mapping.
fn shard(key: &str) -> u32 {
    lab_shard_of(key.as_bytes(), SHARDS)
}

/// A one-letter key whose shard group `gid` owns in `config`, other than `not`.
fn key_owned_by(config: &shardmaster::Config, gid: Gid, not: u32) -> Result<String, String> {
    ('a'..='z')
        .map(|c| c.to_string())
        .find(|k| shard(k) != not && config.shards[shard(k) as usize] == gid)
        .ok_or_else(|| format!("no key of group {gid} in {config:?}"))
}

/// The big shard's keys and values: `b0`.. under the lab's first-byte mapping, one shard.
fn big_values() -> Vec<(String, String)> {
    (0..BIG_VALUES)
        .map(|i| {
            (
                format!("b{i}"),
                format!("{i}{}", "x".repeat(BIG_VALUE_BYTES)),
            )
        })
        .collect()
}

/// Two groups joined and settled, the big shard filled; answers the big shard and the index
/// of the group that owns it.
fn two_groups_with_a_big_shard(c: &mut Cluster) -> Result<(u32, usize), String> {
    c.join(0)?;
    c.join(1)?;
    c.settle(10 * SECOND_US)?;
    let ck = c.clerk();
    for (key, value) in big_values() {
        c.kv.op(ck, put(&key, &value))?;
    }
    let big = shard("b");
    let owner = c.query()?.shards[big as usize];
    let from = c.gids.iter().position(|&g| g == owner).ok_or("no owner")?;
    Ok((big, from))
}

/// True if a replica of group `g` serves `shard`.
fn serves(c: &Cluster, g: usize, shard: u32) -> bool {
    c.group(g).iter().any(|&id| {
        c.kv.sim
            .node(id)
            .and_then(crate::world::WorldNode::server)
            .and_then(|s| s.state().shard(shard))
            .is_some_and(shardkv::shard::Shard::is_serving)
    })
}

/// Operations on two keys of shards that do not move, run back to back for `us`: how many
/// completed.
fn ops_for(c: &mut Cluster, ck: rpc::ClientId, keys: &[String], us: u64) -> Result<u64, String> {
    let until = c.kv.sim.now_us() + us;
    let mut done = 0;
    while c.kv.sim.now_us() < until {
        let key = &keys[done as usize % keys.len()];
        c.kv.op(ck, append(key, "."))?;
        done += 1;
    }
    Ok(done)
}

/// The big shard moves while every link between the two groups is cut (clients and the shard
/// master still reach both): it cannot arrive, yet the shards that do not move keep serving
/// at no less than half their rate before the move (counted, not timed); once the links heal
/// the big shard arrives whole, in several chunks, and is served by its new owner only.
#[test]
fn other_shards_serve_while_a_big_shard_cannot_move() {
    sim::for_each_seed!(4, |seed| {
        let mut c = Cluster::new(seed, 2, 3);
        let (big, from) = two_groups_with_a_big_shard(&mut c)?;
        let to = 1 - from;
        let config = c.query()?;
        let keys = vec![
            key_owned_by(&config, c.gids[from], big)?,
            key_owned_by(&config, c.gids[to], big)?,
        ];
        let ck = c.clerk();
        let before = ops_for(&mut c, ck, &keys, SECOND_US)?;
        for a in c.group(from) {
            for b in c.group(to) {
                c.kv.sim.cut(a, b);
                c.kv.sim.cut(b, a);
            }
        }
        c.move_shard(big, to)?;
        let during = ops_for(&mut c, ck, &keys, SECOND_US)?;
        ensure(2 * during >= before, || {
            format!("{during} operations in the second of the move, {before} in the one before")
        })?;
        ensure(!serves(&c, to, big) && !serves(&c, from, big), || {
            format!(
                "shard {big} served while it cannot have moved: {}",
                c.kv.describe()
            )
        })?;
        c.kv.sim.heal();
        c.settle(20 * SECOND_US)?;
        for (key, value) in big_values() {
            c.kv.check(ck, &key, &value)?;
        }
        c.kv.check_linearizable()
    });
}

/// The big shard moves; when its new owner has some of its chunks but not all, one replica of
/// each group goes down (the new owner's leader, which drives the pull, and the old owner's
/// leader). The other two of each group finish the hand-off; every value arrives whole.
#[test]
fn a_replica_of_each_group_lost_in_the_middle_of_a_hand_off() {
    sim::for_each_seed!(4, |seed| {
        let mut c = Cluster::new(seed, 2, 3);
        let (big, from) = two_groups_with_a_big_shard(&mut c)?;
        let to = 1 - from;
        c.move_shard(big, to)?;
        let receivers = c.group(to);
        let midway = |sim: &mut sim::Sim<crate::world::WorldNode, crate::world::WorldClerk>| {
            receivers.iter().any(|&id| {
                sim.node(id)
                    .and_then(crate::world::WorldNode::server)
                    .and_then(|s| s.state().shard(big))
                    .is_some_and(|sh| {
                        matches!(&sh.phase, Phase::Pulling { received, .. } if !received.is_empty())
                    })
            })
        };
        let deadline = c.kv.sim.now_us() + 10 * SECOND_US;
        c.kv.sim
            .run_until(deadline, midway)
            .map_err(|e| format!("no chunk arrived: {e}; {}", c.kv.describe()))?;
        for g in [to, from] {
            let leader = c.group(g).into_iter().find(|&id| {
                c.kv.sim
                    .node(id)
                    .and_then(crate::world::WorldNode::server)
                    .is_some_and(|s| s.replica().peer().is_leading())
            });
            // No leader at this instant: lose the first replica instead.
            c.kv.sim.kill(leader.unwrap_or(c.group(g)[0]));
        }
        c.settle(30 * SECOND_US)?;
        let ck = c.clerk();
        for (key, value) in big_values() {
            c.kv.check(ck, &key, &value)?;
        }
        c.kv.check_linearizable()
    });
}

/// One clerk appends to a key ten times while its shard moves to the other group during each
/// append, with unreliable links (requests dropped, answers lost after the append ran): the
/// retries reach the shard's new owner, whose client table came with the shard, so each
/// append is in the value exactly once, in order.
#[test]
fn appends_run_once_while_their_shard_moves() {
    sim::for_each_seed!(6, |seed| {
        let mut c = Cluster::new(seed, 2, 3);
        c.join(0)?;
        c.join(1)?;
        c.settle(10 * SECOND_US)?;
        for g in 0..2 {
            for id in c.group(g) {
                c.kv.sim.set_unreliable_at(id, true);
            }
        }
        let key = "m";
        let ck = c.clerk();
        let appends = 10;
        for n in 0..appends {
            c.kv.invoke(ck, append(key, &format!("x 0 {n} y")));
            let pause = c.kv.sim.rng().below(20) * MS_US;
            c.kv.run_for(pause)?;
            let owner = c.query()?.shards[shard(key) as usize];
            let other = usize::from(c.gids[0] == owner);
            c.move_shard(shard(key), other)?;
            c.kv.wait(ck, OP_US_MAX, "append")?;
        }
        let value = c.kv.op(ck, get(key))?;
        check_appends(&value, &[appends])?;
        c.kv.check_linearizable()
    });
}

/// Twenty moves of the big shard back and forth: once settled, what the groups hold is one
/// copy of the data per replica of its owner (the old owner deletes each shard once handed
/// off), however many moves there were.
#[test]
fn retained_bytes_do_not_grow_with_moves() {
    sim::for_each_seed!(2, |seed| {
        let mut c = Cluster::new(seed, 2, 3);
        let (big, mut owner) = two_groups_with_a_big_shard(&mut c)?;
        let data_bytes = BIG_VALUES * (BIG_VALUE_BYTES + 1);
        for _ in 0..20 {
            owner = 1 - owner;
            c.move_shard(big, owner)?;
        }
        c.settle(60 * SECOND_US)?;
        let held: usize = (0..2)
            .flat_map(|g| c.group(g))
            .filter_map(|id| c.kv.sim.node(id).and_then(crate::world::WorldNode::server))
            .flat_map(|s| {
                s.state()
                    .shards()
                    .map(|(_, sh)| sh.retained_bytes())
                    .collect::<Vec<_>>()
            })
            .sum();
        // Three replicas of the owner hold the data; keys, client tables and the other,
        // nearly empty shards add a little.
        let bound = 3 * data_bytes + 64 * 1024;
        ensure(held <= bound, || {
            format!("{held} bytes held after 20 moves of {data_bytes} bytes, bound {bound}")
        })?;
        ensure(held >= 3 * data_bytes, || {
            format!("only {held} bytes held: data lost?")
        })?;
        c.kv.check_linearizable()
    });
}
