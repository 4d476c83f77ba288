//! Beyond SPEC §6: client sessions. A session id comes from the log, so no two clerks ever
//! get the same one, however many register at once through however many replicas; and a
//! clerk whose session was evicted (the table is bounded) registers again and goes on, without
//! any of its operations running twice.

use crate::common::*;
use rpc::{ClientId, NodeId};
use rsm::Config;
use sim::FaultConfig;
use std::collections::BTreeSet;

/// Replicas in the cluster.
const SERVERS: u32 = 5;
/// Clerks registering at once.
const CLERKS: usize = 50;
/// Keys the clerks work on (five clerks per key).
const KEYS: usize = 10;

/// Fifty clerks, each trying the five replicas in its own shuffled order, all start at once
/// (so their registrations arrive through every replica together), under SPEC §1.2 unreliable
/// delivery plus 2 % loss, 5 % duplication and 2 % of messages held back up to 100 ms, with
/// the replicas split at random every 100–300 ms while they run (3 s at most). Each clerk
/// runs four operations (Appends of unique values and Gets on its key): it registers once,
/// retrying its registration through other replicas when one is cut off or an answer lost. Afterwards all 50
/// `Clerk::session()` values are set and distinct, and the history is linearizable. 30 seeds;
/// soak: `SIM_SEEDS=200 cargo test --release -p kvpaxos --test it -- sim_sessions`.
#[test]
fn session_ids_never_collide() {
    sim::for_each_seed!(30, |seed| {
        let mut kv = Kv::new(seed, SERVERS);
        kv.sim.set_faults(FaultConfig {
            loss: 0.02,
            duplicate: 0.05,
            delay: 0.02,
            delay_us_max: 100 * MS_US,
            unreliable: true,
        });
        let clerks: Vec<ClientId> = (0..CLERKS).map(|_| kv.shuffled_clerk()).collect();
        let mut next = |_: &mut Kv, i: usize, n: u64| {
            let key = (i % KEYS).to_string();
            match n {
                0 | 2 => Some(append(&key, &format!("x {i} {n} y"))),
                1 | 3 => Some(get(&key)),
                _ => None,
            }
        };
        let chaos_end = kv.sim.now_us() + 3 * SECOND_US;
        while kv.sim.now_us() < chaos_end {
            redraw(&mut kv);
            let phase = 100 * MS_US + kv.sim.rng().below(200 * MS_US);
            let until = (kv.sim.now_us() + phase).min(chaos_end);
            kv.drive_for(&clerks, until, MS_US, &mut next)?;
            if kv.sim.now_us() < until {
                break; // Every clerk is done: drive_for ends early.
            }
        }
        kv.sim.heal();
        let until = kv.sim.now_us() + 10 * SECOND_US;
        kv.drive(&clerks, until, MS_US, &mut next)?;
        let sessions: Vec<Option<u64>> =
            clerks.iter().map(|&c| kv.sim.client(c).session()).collect();
        let distinct: BTreeSet<u64> = sessions.iter().flatten().copied().collect();
        ensure(distinct.len() == CLERKS, || {
            format!(
                "{CLERKS} clerks hold {} distinct sessions: {sessions:?}",
                distinct.len()
            )
        })?;
        kv.check_linearizable()
    });
}

/// The most open sessions in [`evicted_clerks_register_again_and_stay_linearizable`].
const SESSIONS_MAX: usize = 4;
/// Clerks in that test: twice as many as sessions, so sessions keep being evicted.
const EVICTING_CLERKS: usize = 8;
/// Operations each of them runs.
const OPS_PER_CLERK: u64 = 16;

/// Three replicas with a session table of only 4 sessions and 8 clerks, under SPEC §1.2
/// unreliable delivery (so answers are lost and clerks retry). Each clerk runs 16 operations
/// on one of 4 keys, Appends of unique values and Gets, so sessions keep being evicted by the
/// registrations of others: an evicted clerk's command is refused SessionExpired, and it
/// registers again and goes on. Every clerk finishes; evictions happened (more sessions were
/// handed out than there are clerks); at most 4 sessions are open on any replica; every
/// appended value appears once in its key if its Append completed, at most once if not; and the
/// history is linearizable. 10 seeds.
///
/// (The clerk used to run such a command again in a new session; with seed 0 "x 4 1 y"
/// appeared twice. It now reports it as maybe-run, pending in the history, and registers anew
/// for its next command.)
#[test]
fn evicted_clerks_register_again_and_stay_linearizable() {
    sim::for_each_seed!(10, |seed| {
        let config = Config {
            sessions_max: SESSIONS_MAX,
            ..Config::default()
        };
        let mut kv = Kv::with_config(seed, 3, &config);
        kv.sim.set_faults(FaultConfig::unreliable());
        let clerks: Vec<ClientId> = (0..EVICTING_CLERKS).map(|_| kv.shuffled_clerk()).collect();
        let key_of = |i: usize| (i % 4).to_string();
        let until = kv.sim.now_us() + 30 * SECOND_US;
        kv.drive(&clerks, until, MS_US, |kv, i, n| {
            let key = key_of(i);
            (n < OPS_PER_CLERK).then(|| {
                if kv.sim.rng().below(3) == 0 {
                    get(&key)
                } else {
                    append(&key, &format!("x {i} {n} y"))
                }
            })
        })?;
        kv.sim.set_faults(FaultConfig::none());
        for &c in &clerks {
            let done = kv
                .history
                .iter()
                .filter(|(_, op)| op.client() == c.0)
                .count();
            ensure(done as u64 == OPS_PER_CLERK, || {
                format!("clerk {c} ran {done} of {OPS_PER_CLERK} operations in 30 s")
            })?;
        }
        let issued = clerks
            .iter()
            .filter_map(|&c| kv.sim.client(c).session())
            .max()
            .unwrap_or(0);
        ensure(issued > EVICTING_CLERKS as u64, || {
            format!("only {issued} sessions were handed out: no eviction was tested")
        })?;
        for i in 0..3 {
            let open = kv.replica(i).sessions().len();
            ensure(open <= SESSIONS_MAX, || {
                format!("replica {i} holds {open} sessions, over {SESSIONS_MAX}")
            })?;
        }
        let reader = kv.clerk(&[0, 1, 2]);
        for k in 0..4 {
            let key = k.to_string();
            let value = kv.op(reader, get(&key))?;
            each_append_once(&kv, &key, &value)?;
        }
        kv.check_linearizable()
    });
}

/// Every Append on `key` in the history appears in `value` exactly once if it completed, at
/// most once if it failed (a clerk that reports a failure leaves it pending in the history:
/// it may or may not have run, but never twice).
fn each_append_once(kv: &Kv, key: &str, value: &str) -> Result<(), String> {
    for (_, op) in kv.history.iter() {
        let check::KvInput::Append { key: k, value: v } = op.input() else {
            continue;
        };
        if k != key {
            continue;
        }
        let count = value.matches(v.as_str()).count();
        let expected = if op.is_pending() {
            count <= 1
        } else {
            count == 1
        };
        ensure(expected, || {
            format!("{v:?} appears {count} times in key {key:?}: {value:?}")
        })?;
    }
    Ok(())
}

/// One time in four heals the network; otherwise splits the replicas at random into up to
/// three groups.
fn redraw(kv: &mut Kv) {
    if kv.sim.rng().below(4) == 0 {
        kv.sim.heal();
        return;
    }
    let mut groups: [Vec<NodeId>; 3] = Default::default();
    for i in 0..kv.servers() {
        groups[kv.sim.rng().below(3) as usize].push(NodeId(i));
    }
    let refs: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
    kv.sim.partition(&refs);
}
