//! Beyond SPEC §6.3: a replica cut off while the others compacted the log it needs catches up
//! by pulling a snapshot of a store larger than one 16 MiB frame, in many chunks.

use crate::common::*;
use kvpaxos::KvMachine;
use rpc::NodeId;
use rsm::{Config, StateMachine};

/// Keys of 1 MB values written while replica 2 is cut off: 20 MB, over one 16 MiB frame.
const KEYS: usize = 20;
/// Bytes per value: 1 MB, as in the handout's TestDone.
const VALUE_BYTES: usize = 1_000_000;
/// Slots between snapshots: the 20 large Puts span more than two intervals, so the others
/// compact past replica 2 (compaction keeps one interval behind the latest snapshot).
const SNAPSHOT_EVERY_SLOTS: u64 = 6;
/// The largest frame (`rpc`'s `MAX_FRAME_BYTES`): the snapshot must not fit in one.
const FRAME_BYTES: usize = 16 << 20;
/// How long replica 2 may take, once healed, to apply what the others applied.
const CATCH_UP_US_MAX: u64 = 5 * SECOND_US;

/// Three replicas, snapshots every 6 slots, the default 1 MiB chunks. Replica 2 applies a few
/// small Puts, then is cut off while a clerk Puts 20 keys × 1 MB through replicas 0 and 1;
/// by then they hold no slot replica 2 needs, and a snapshot of their store is over 16 MiB.
/// After the heal, with small Appends going on, replica 2 must install a snapshot
/// (`snapshots_installed >= 1`: at least 17 chunks of 1 MiB), catch up, and hold the same
/// store and sessions as the others; keys read their values through every replica; the
/// history is linearizable.
/// 5 seeds (each moves a 20 MB store through Paxos, then as a snapshot); soak:
/// `SIM_SEEDS=30 cargo test --release -p kvpaxos --test it -- sim_snapshot`.
#[test]
fn cut_off_replica_catches_up_through_a_large_snapshot() {
    sim::for_each_seed!(5, |seed| {
        let config = Config {
            snapshot_every_slots: SNAPSHOT_EVERY_SLOTS,
            ..Config::default()
        };
        let mut kv = Kv::with_config(seed, 3, &config);
        let ck = kv.clerk(&[0, 1]);
        for i in 0..3 {
            kv.op(ck, put("small", &i.to_string()))?;
        }
        kv.run_for(100 * MS_US)?;
        kv.sim.partition(&[&[NodeId(0), NodeId(1)], &[NodeId(2)]]);
        let behind = kv.replica(2).next_apply();
        for key in 0..KEYS {
            let fill = char::from(b'a' + (key % 26) as u8);
            let value: String = std::iter::repeat_n(fill, VALUE_BYTES).collect();
            kv.op(ck, put(&key.to_string(), &value))?;
        }
        for i in 0..2 {
            let first = kv.replica(i).peer().first_held();
            ensure(first > behind, || {
                format!("replica {i} still holds slot {first}; replica 2 needs {behind}")
            })?;
        }
        let snapshot_bytes = kv.replica(0).state().snapshot().len();
        ensure(snapshot_bytes > FRAME_BYTES, || {
            format!("the store's snapshot is only {snapshot_bytes} bytes")
        })?;

        kv.sim.heal();
        for i in 0..10 {
            kv.op(ck, append("small", &format!(" a{i}")))?;
        }
        let target = kv.replica(0).next_apply();
        let deadline = kv.sim.now_us() + CATCH_UP_US_MAX;
        kv.sim
            .run_until(deadline, |s| {
                s.node(NodeId(2)).is_some_and(|r| r.next_apply() >= target)
            })
            .map_err(|e| format!("replica 2 did not catch up: {e}; {}", kv.describe()))?;
        let installed = kv.replica(2).stats().snapshots_installed;
        ensure(installed >= 1, || {
            format!("replica 2 caught up without a snapshot; {}", kv.describe())
        })?;
        same_store(&mut kv)?;
        for key in [0, KEYS - 1] {
            kv.all_agree(&key.to_string())?;
        }
        kv.all_agree("small")?;
        kv.check_linearizable()
    });
}

/// Runs until the three replicas applied the same prefix, then checks they hold one store.
fn same_store(kv: &mut Kv) -> Result<(), String> {
    let deadline = kv.sim.now_us() + CATCH_UP_US_MAX;
    kv.sim
        .run_until(deadline, |s| {
            let a: Vec<_> = s
                .node_ids()
                .filter_map(|id| s.node(id))
                .map(|r| r.next_apply())
                .collect();
            a.windows(2).all(|w| w[0] == w[1])
        })
        .map_err(|e| format!("replicas did not converge: {e}; {}", kv.describe()))?;
    let reference: &KvMachine = kv.replica(0).state();
    for i in 1..3 {
        ensure(kv.replica(i).state() == reference, || {
            format!("replica {i} holds another store than replica 0")
        })?;
        ensure(kv.replica(i).sessions() == kv.replica(0).sessions(), || {
            format!("replica {i} holds other sessions than replica 0")
        })?;
    }
    Ok(())
}
