//! SPEC §3.3 `Test1`: the handout's nine sub-tests, in order. Each sub-test depends on the state
//! the earlier ones left, so each test below replays the sub-tests before it and then checks its
//! own, over many seeds (seeds move every tick phase and message latency).

use crate::common::*;
use rpc::NodeId;
use sim::Sim;
use viewservice::{DEAD_PINGS, ViewNum};

const CK1: NodeId = NodeId(1);
const CK2: NodeId = NodeId(2);
const CK3: NodeId = NodeId(3);
const ZERO: Mode = Mode::Fixed(ViewNum(0));

/// The sub-tests, in the handout's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Sub {
    Precheck,
    FirstPrimary,
    FirstBackup,
    BackupTakesOver,
    RestartedServerBecomesBackup,
    IdleThirdServerBecomesBackup,
    RestartedPrimaryTreatedAsDead,
    DeadBackupIsRemoved,
    ViewserverWaitsForPrimaryToAck,
    UninitializedServerCantBecomePrimary,
}

const ALL: [Sub; 10] = [
    Sub::Precheck,
    Sub::FirstPrimary,
    Sub::FirstBackup,
    Sub::BackupTakesOver,
    Sub::RestartedServerBecomesBackup,
    Sub::IdleThirdServerBecomesBackup,
    Sub::RestartedPrimaryTreatedAsDead,
    Sub::DeadBackupIsRemoved,
    Sub::ViewserverWaitsForPrimaryToAck,
    Sub::UninitializedServerCantBecomePrimary,
];

/// Runs every sub-test up to and including `last` on a fresh cluster.
fn run_through(seed: u64, last: Sub) -> Result<(), String> {
    let mut sim = cluster(seed);
    for sub in ALL.into_iter().filter(|&s| s <= last) {
        step(&mut sim, sub).map_err(|e| format!("{sub:?}: {e}"))?;
    }
    Ok(())
}

fn step(sim: &mut Sim<TestNode>, sub: Sub) -> Result<(), String> {
    let polls = DEAD_PINGS * 2;
    let before = view(sim);
    let next = ViewNum(before.num.0 + 1);
    match sub {
        Sub::Precheck => {
            sim.run_for(2 * INTERVAL_US).map_err(|e| e.to_string())?;
            check(view(sim), None, None, ViewNum(0))
        }
        Sub::FirstPrimary => {
            set_mode(sim, CK1, ZERO);
            let v = wait_view(sim, polls, "first primary", |v| v.primary == Some(CK1))?;
            check(v, Some(CK1), None, ViewNum(1))
        }
        Sub::FirstBackup => {
            set_mode(sim, CK1, Mode::Current);
            set_mode(sim, CK2, ZERO);
            let v = wait_view(sim, polls, "first backup", |v| v.backup == Some(CK2))?;
            check(v, Some(CK1), Some(CK2), next)
        }
        Sub::BackupTakesOver => {
            // ck1 acknowledges the current view once, then falls silent.
            set_mode(sim, CK2, Mode::Current);
            sim.run_for(INTERVAL_US).map_err(|e| e.to_string())?;
            ping_once(sim, CK1, view(sim).num);
            set_mode(sim, CK1, Mode::Silent);
            let before = view(sim);
            let v = wait_view(sim, polls, "takeover", |v| v.primary == Some(CK2))?;
            check(v, Some(CK2), None, ViewNum(before.num.0 + 1))
        }
        Sub::RestartedServerBecomesBackup => {
            set_mode(sim, CK1, ZERO);
            let v = wait_view(sim, polls, "restarted backup", |v| v.backup == Some(CK1))?;
            check(v, Some(CK2), Some(CK1), next)
        }
        Sub::IdleThirdServerBecomesBackup => {
            // ck2 acknowledges, then dies; ck3 appears; ck1 pings the current view. The
            // promotion of ck1 and the addition of ck3 must be one view change.
            set_mode(sim, CK1, Mode::Current);
            sim.run_for(INTERVAL_US).map_err(|e| e.to_string())?;
            ping_once(sim, CK2, view(sim).num);
            set_mode(sim, CK2, Mode::Silent);
            set_mode(sim, CK3, ZERO);
            let before = view(sim);
            let v = wait_view(sim, polls, "idle third", |v| v.primary == Some(CK1))?;
            check(v, Some(CK1), Some(CK3), ViewNum(before.num.0 + 1))
        }
        Sub::RestartedPrimaryTreatedAsDead => {
            ping_once(sim, CK1, view(sim).num);
            sim.run_for(INTERVAL_US).map_err(|e| e.to_string())?;
            set_mode(sim, CK1, ZERO);
            set_mode(sim, CK3, Mode::Current);
            let v = wait_view(sim, polls, "restarted primary", |v| v.primary != Some(CK1))?;
            ensure(v.primary == Some(CK3), || {
                format!("primary of {v} is not ck3")
            })
        }
        Sub::DeadBackupIsRemoved => {
            set_mode(sim, CK1, Mode::Silent);
            set_mode(sim, CK3, Mode::Current);
            sim.run_for(DEAD_PINGS * 3 * INTERVAL_US)
                .map_err(|e| e.to_string())?;
            let v = view(sim);
            ensure(v.primary == Some(CK3) && v.backup.is_none(), || {
                format!("view {v}, expected ck3 alone")
            })
        }
        Sub::ViewserverWaitsForPrimaryToAck => waits_for_ack(sim, polls),
        Sub::UninitializedServerCantBecomePrimary => {
            set_mode(sim, CK1, Mode::Current);
            set_mode(sim, CK2, ZERO);
            set_mode(sim, CK3, Mode::Current);
            sim.run_for(polls * INTERVAL_US)
                .map_err(|e| e.to_string())?;
            set_mode(sim, CK1, Mode::Silent);
            set_mode(sim, CK3, Mode::Silent);
            sim.run_for(polls * INTERVAL_US)
                .map_err(|e| e.to_string())?;
            let v = view(sim);
            ensure(v.primary != Some(CK2), || {
                format!("uninitialised ck2 is primary in {v}")
            })
        }
    }
}

/// ck3 is primary and never acknowledges the view that adds ck1 as backup; then ck3 dies. The
/// view service must not move on: ck1 is not promoted.
fn waits_for_ack(sim: &mut Sim<TestNode>, polls: u64) -> Result<(), String> {
    let vx = view(sim);
    set_mode(sim, CK3, Mode::Fixed(vx.num));
    set_mode(sim, CK1, ZERO);
    let v = wait_view(sim, polls, "ck1 joins", |v| v.num > vx.num)?;
    check(v, Some(CK3), Some(CK1), ViewNum(vx.num.0 + 1))?;
    set_mode(sim, CK3, Mode::Silent);
    set_mode(sim, CK1, Mode::Current);
    sim.run_for(DEAD_PINGS * 3 * INTERVAL_US)
        .map_err(|e| e.to_string())?;
    check(view(sim), Some(CK3), Some(CK1), v.num)
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

/// Lab 2A Test1 precheck: before any ping there is no primary.
#[test]
fn precheck() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::Precheck));
}

/// Lab 2A "First primary": ck1 pings 0 repeatedly and becomes primary of view 1.
#[test]
fn first_primary() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::FirstPrimary));
}

/// Lab 2A "First backup": once ck1 acknowledges view 1, ck2 becomes backup in view 2.
#[test]
fn first_backup() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::FirstBackup));
}

/// Lab 2A "Backup takes over if primary fails": ck1 acks once and falls silent; after
/// DeadPings intervals ck2 is primary with no backup, one view later.
#[test]
fn backup_takes_over_if_primary_fails() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::BackupTakesOver));
}

/// Lab 2A "Restarted server becomes backup": ck1 comes back pinging 0 and joins as backup.
#[test]
fn restarted_server_becomes_backup() {
    sim::for_each_seed!(20, |seed| run_through(
        seed,
        Sub::RestartedServerBecomesBackup
    ));
}

/// Lab 2A "Idle third server becomes backup if primary fails": ck2 dies; ck1 is promoted and
/// idle ck3 added in exactly one view change.
#[test]
fn idle_third_server_becomes_backup_if_primary_fails() {
    sim::for_each_seed!(20, |seed| run_through(
        seed,
        Sub::IdleThirdServerBecomesBackup
    ));
}

/// Lab 2A "Restarted primary treated as dead": ck1 acks, then pings 0; ck3 takes over.
#[test]
fn restarted_primary_treated_as_dead() {
    sim::for_each_seed!(20, |seed| run_through(
        seed,
        Sub::RestartedPrimaryTreatedAsDead
    ));
}

/// Lab 2A "Dead backup is removed from view": only ck3 pings for 15 intervals; it ends alone.
#[test]
fn dead_backup_is_removed_from_view() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::DeadBackupIsRemoved));
}

/// Lab 2A "Viewserver waits for primary to ack view": ck3 never acks the view adding ck1, then
/// dies; for 15 intervals the view stays exactly as it was (ck1 is not promoted).
#[test]
fn viewserver_waits_for_primary_to_ack_view() {
    sim::for_each_seed!(20, |seed| run_through(
        seed,
        Sub::ViewserverWaitsForPrimaryToAck
    ));
}

/// Lab 2A "Uninitialized server can't become primary": everyone pings, then only ck2 (pinging
/// 0) for 10 intervals: ck2 must not be primary.
#[test]
fn uninitialized_server_cant_become_primary() {
    sim::for_each_seed!(20, |seed| run_through(
        seed,
        Sub::UninitializedServerCantBecomePrimary
    ));
}
