//! A dead replica no longer holds everyone's memory hostage: Paxos `min()` cannot pass the
//! last slot it was done with, yet the survivors compact their logs below their snapshots, so
//! what they retain stays bounded however long the load runs.

use crate::common::*;
use rpc::{ClientId, NodeId};
use rsm::{Config, StateMachine};

/// Slots between snapshots: small, so that the log a survivor may hold (two intervals) is
/// small against what the load would leave without compaction.
const SNAPSHOT_EVERY_SLOTS: u64 = 250;
/// Slots the survivors apply after the kill: forty-eight snapshot intervals.
const LOAD_SLOTS: u64 = 12_000;
/// Clerks, on the two survivors.
const CLERKS: usize = 12;
/// Virtual time between two measurements of the survivors' memory.
const SAMPLE_US: u64 = 200 * MS_US;

/// Paxos's own estimate of one instance's bookkeeping besides its values (`paxos::peer`'s
/// `INSTANCE_OVERHEAD_BYTES`), which `Peer::retained_bytes` adds per instance held.
const PAXOS_INSTANCE_OVERHEAD_BYTES: usize = 160;
/// The largest log entry this load can make. A clerk has one command outstanding, and its
/// replica forwards the proposal again only after `forward_retry_ticks` (3 ticks) unapplied,
/// so a batch holds at most two copies of one proposal per clerk; a counter proposal encodes
/// to under 16 bytes (an enum tag, session and seq varints, the command's tag and varint);
/// plus 16 bytes for the entry's tag and length.
const ENTRY_BYTES_MAX: usize = 16 + 2 * 16 * CLERKS;
/// The most bytes a decided instance retains: the overhead, the acceptor's accepted value and
/// the decided value (its proposer is dropped once it is decided).
const DECIDED_BYTES_MAX: usize = PAXOS_INSTANCE_OVERHEAD_BYTES + 2 * ENTRY_BYTES_MAX;
/// The most bytes an undecided instance retains: the overhead, the accepted value, and on the
/// leader the proposer's value and the value of its round in flight.
const PROPOSING_BYTES_MAX: usize = PAXOS_INSTANCE_OVERHEAD_BYTES + 3 * ENTRY_BYTES_MAX;
/// The leader's window (`Config::window`, default 8): entries in flight at once.
const WINDOW: usize = 8;
/// Slack for slots a follower heard of above the one it applies next (accepted, or learned
/// decided out of order): far more than a window's worth.
const AHEAD_SLOTS: usize = 64;
/// The most instances a survivor may hold: a snapshot compacts the log below the previous one,
/// so up to two intervals stay (the one behind the latest snapshot, and the one since), plus
/// [`WINDOW`] in flight and [`AHEAD_SLOTS`].
const INSTANCES_MAX: usize = 2 * SNAPSHOT_EVERY_SLOTS as usize + WINDOW + AHEAD_SLOTS;
/// The fixed allowance over live data and the snapshot (about 0.55 MB): the decided log held
/// (two intervals and the slack, [`DECIDED_BYTES_MAX`] each), the window
/// ([`PROPOSING_BYTES_MAX`] each), and the requests a replica holds (waiting, queued and in
/// flight: three copies of at most one proposal per clerk, at most 64 bytes each, with its
/// in-memory size). Without compaction a survivor would hold every one of the 12,000 slots,
/// about 2 MB (measured: 167 bytes per instance); with it, measured, at most 0.09 MB
/// (about 500 instances).
const ALLOWANCE_BYTES: usize =
    (INSTANCES_MAX - WINDOW) * DECIDED_BYTES_MAX + WINDOW * PROPOSING_BYTES_MAX + 3 * CLERKS * 64;

/// Three replicas, snapshots every 250 slots; replica 2 is killed for good after the clerks
/// registered, and twelve clerks then run Adds and Reads through the survivors until they
/// applied 12,000 more slots (about 12,400 operations, some 6 s of virtual time). Every 200 ms
/// of virtual time (31 times) each survivor's own `retained_bytes()` must be at most its
/// live data (the counter and the session table) plus the size of a snapshot of its state now
/// (what it holds is an older, no larger one) plus [`ALLOWANCE_BYTES`]; it must hold at most
/// [`INSTANCES_MAX`] Paxos instances (572; 12,000 without compaction); and Paxos `min()` must
/// not have passed the slot replica 2 died at, so the bound comes from compaction, not from
/// `done`. The history is linearizable and the survivors agree. 5 seeds (each checks some
/// 12,400 operations on one counter); soak:
/// `SIM_SEEDS=50 cargo test --release -p rsm --test it -- sim_dead_replica`.
#[test]
fn survivors_memory_stays_bounded_with_a_dead_replica() {
    sim::for_each_seed!(5, |seed| {
        let config = Config {
            snapshot_every_slots: SNAPSHOT_EVERY_SLOTS,
            ..Config::default()
        };
        let mut cluster = Cluster::new(seed, 3, &config);
        let clerks: Vec<ClientId> = (0..CLERKS)
            .map(|i| cluster.clerk(if i % 2 == 0 { &[0, 1] } else { &[1, 0] }))
            .collect();
        for &c in &clerks {
            cluster.op(c, CounterCmd::Add(1))?;
        }
        cluster.converge(SECOND_US)?;
        let killed_at = cluster.replica(2).next_apply();
        cluster.sim.kill(NodeId(2));
        let target = killed_at.0 + LOAD_SLOTS;
        let mut next = |c: &mut Cluster, _: usize| Some(random_cmd(c));
        let mut samples = 0;
        while cluster.replica(0).next_apply().0 < target {
            let until = cluster.sim.now_us() + SAMPLE_US;
            cluster.drive_for(&clerks, until, MS_US, &mut next)?;
            for i in 0..2 {
                survivor_is_bounded(&cluster, i, killed_at)?;
            }
            samples += 1;
            ensure(cluster.sim.now_us() < 90 * SECOND_US, || {
                format!("{LOAD_SLOTS} slots took over 90 s; {}", cluster.describe())
            })?;
        }
        ensure(samples >= 20, || format!("only {samples} measurements"))?;
        cluster.finish(&clerks)?;
        cluster.converge(SECOND_US)?;
        cluster.check_linearizable()
    });
}

/// Survivor `i` retains at most its live data, a snapshot and [`ALLOWANCE_BYTES`], holds at most
/// [`INSTANCES_MAX`] instances, and its `min()` is stuck at or below `killed_at`.
fn survivor_is_bounded(cluster: &Cluster, i: u32, killed_at: paxos::Seq) -> Result<(), String> {
    let r = cluster.replica(i);
    let live = r.state().retained_bytes() + r.sessions().retained_bytes(Counter::output_bytes);
    let snapshot = rsm::snapshot::encode(r.next_apply(), r.sessions(), &r.state().snapshot()).len();
    let retained = r.retained_bytes();
    let held = r.peer().instance_count();
    let at = r.next_apply();
    ensure(retained <= live + snapshot + ALLOWANCE_BYTES, || {
        format!(
            "replica {i} at {at} retains {retained} bytes: over {live} live + {snapshot} \
             snapshot + {ALLOWANCE_BYTES} allowed ({held} instances held)"
        )
    })?;
    ensure(held <= INSTANCES_MAX, || {
        format!("replica {i} at {at} holds {held} Paxos instances, over {INSTANCES_MAX}")
    })?;
    let min = r.peer().min();
    ensure(min <= killed_at, || {
        format!("replica {i}: min() {min} passed {killed_at}, where replica 2 died")
    })
}
