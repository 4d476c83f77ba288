//! Beyond SPEC §6.3: a replica back from a partition learns the slots it missed, asking the
//! leader for up to `CATCH_UP_SLOTS` decisions at a time, with or without new traffic.

use crate::common::*;
use rpc::NodeId;

/// Slots server 2 misses while cut off.
const MISSED: u64 = 200;

/// A 3-server cluster where server 2 missed [`MISSED`] Puts (through servers 0 and 1) while
/// cut off, now healed; returns it with the clerk that made the Puts.
fn server_2_behind(seed: u64) -> Result<(Kv, rpc::ClientId), String> {
    let mut kv = Kv::new(seed, 3);
    let ck = kv.clerk(&[0, 1]);
    kv.sim.partition(&[&[NodeId(0), NodeId(1)], &[NodeId(2)]]);
    for i in 0..MISSED {
        kv.op(ck, put("k", &i.to_string()))?;
    }
    kv.sim.heal();
    Ok((kv, ck))
}

/// Runs until server 2 has applied everything server 0 has, within 1 s of virtual time (one
/// slot per hole timeout would take 6 s).
fn server_2_catches_up(kv: &mut Kv) -> Result<(), String> {
    let target = kv.replica(0).next_apply();
    let deadline = kv.sim.now_us() + SECOND_US;
    kv.sim
        .run_until(deadline, |s| {
            s.node(NodeId(2)).is_some_and(|r| r.next_apply() >= target)
        })
        .map_err(|e| format!("server 2 did not catch up: {e}; {}", kv.describe()))
}

/// After the heal and one more Put, server 2 catches up, and then every replica forgets the
/// log (at most the last few slots are held: `done` travels on the next messages).
#[test]
fn catch_up() {
    sim::for_each_seed!(20, |seed| {
        let (mut kv, ck) = server_2_behind(seed)?;
        kv.op(ck, put("k", "last"))?;
        server_2_catches_up(&mut kv)?;
        kv.op(ck, put("k", "after"))?;
        kv.run_for(100 * MS_US)?;
        for i in 0..3 {
            let held = kv.replica(i).peer().instance_count();
            ensure(held <= 4, || {
                format!("replica {i} still holds {held} instances")
            })?;
        }
        kv.all_agree("k")?;
        kv.check_linearizable()
    });
}

/// With no traffic at all after the heal, server 2 still catches up: the leader's heartbeats
/// carry its highest slot, so server 2 sees the slots it missed and asks for them. (With one
/// agreement per operation and no leader, an idle replica stayed behind until the next
/// operation anywhere.)
#[test]
fn idle_replica_catches_up() {
    sim::for_each_seed!(20, |seed| {
        let (mut kv, _) = server_2_behind(seed)?;
        server_2_catches_up(&mut kv)?;
        kv.all_agree("k")?;
        kv.check_linearizable()
    });
}
