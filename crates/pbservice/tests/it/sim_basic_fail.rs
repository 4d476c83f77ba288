//! SPEC §4.3 TestBasicFail and its sub-tests, in order: each test replays the sub-tests
//! before it (they build on each other's state), then checks its own, over many seeds.

use crate::common::*;
use rpc::{ClientId, NodeId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Sub {
    Basic,
    AddBackup,
    CountRpcs,
    PrimaryFailure,
    KillLastServer,
}

const ALL: [Sub; 5] = [
    Sub::Basic,
    Sub::AddBackup,
    Sub::CountRpcs,
    Sub::PrimaryFailure,
    Sub::KillLastServer,
];

fn run_through(seed: u64, last: Sub) -> Result<(), String> {
    // s1..s3 = nodes 1..3; only s1 runs at first.
    let mut pb = Pb::new(seed, 3, &[1]);
    let ck = pb.clerk();
    for sub in ALL.into_iter().filter(|&s| s <= last) {
        step(&mut pb, ck, sub).map_err(|e| format!("{sub:?}: {e}"))?;
    }
    pb.check_linearizable()
}

fn step(pb: &mut Pb, ck: ClientId, sub: Sub) -> Result<(), String> {
    match sub {
        Sub::Basic => {
            pb.run_for(SECOND_US)?;
            let view = pb.view();
            ensure(view.primary == Some(NodeId(1)), || {
                format!("s1 not primary: {view}")
            })?;
            pb.op(ck, put("111", "v1"))?;
            pb.check(ck, "111", "v1")?;
            pb.op(ck, put("2", "v2"))?;
            pb.check(ck, "2", "v2")?;
            pb.op(ck, put("1", "v1a"))?;
            pb.check(ck, "1", "v1a")?;
            pb.op(ck, append("ak", "hello"))?;
            pb.check(ck, "ak", "hello")?;
            pb.op(ck, put("ak", "xx"))?;
            pb.op(ck, append("ak", "yy"))?;
            pb.check(ck, "ak", "xxyy")
        }
        Sub::AddBackup => {
            pb.start(2);
            pb.wait_view(10, "s2 backup", |v| v.backup == Some(NodeId(2)))?;
            pb.op(ck, put("3", "33"))?;
            pb.check(ck, "3", "33")?;
            pb.run_for(300_000)?;
            pb.op(ck, put("4", "44"))?;
            pb.check(ck, "4", "44")
        }
        Sub::CountRpcs => {
            let (t0, rpcs0) = (pb.sim.now_us(), pb.vs_rpc_count());
            for i in 0..100 {
                pb.op(ck, put(&format!("xk{i}"), &format!("xv{i}")))?;
            }
            let dt_intervals = (pb.sim.now_us() - t0) / INTERVAL_US;
            let rpcs = pb.vs_rpc_count() - rpcs0;
            let allowed = 2 * dt_intervals + 20;
            ensure(rpcs <= allowed, || {
                format!("{rpcs} view-service RPCs during 100 Puts, allowed {allowed}")
            })
        }
        Sub::PrimaryFailure => {
            pb.kill(1);
            pb.wait_view(10, "s2 primary", |v| v.primary == Some(NodeId(2)))?;
            pb.check(ck, "1", "v1a")?;
            pb.check(ck, "3", "33")?;
            pb.check(ck, "4", "44")
        }
        Sub::KillLastServer => {
            pb.kill(2);
            pb.start(3);
            pb.run_for(SECOND_US)?;
            pb.invoke(ck, get("1"));
            pb.run_for(2 * SECOND_US)?;
            ensure(!pb.sim.is_idle(ck), || {
                "a Get completed with only an empty server up".to_string()
            })
        }
    }
}

/// Lab 2B TestBasicFail: with only s1, it becomes primary within 1 s and serves Put, Get and
/// Append (Append to a missing key appends to "").
#[test]
fn basic_fail() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::Basic));
}

/// Lab 2B "Add a backup": s2 starts and is backup within 10 intervals; Puts keep working.
#[test]
fn add_a_backup() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::AddBackup));
}

/// Lab 2B "Count RPCs to viewserver": clerks and servers cache the view; during 100 Puts the
/// view service sees at most 2·(elapsed / 100 ms) + 20 RPCs.
#[test]
fn count_rpcs_to_viewserver() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::CountRpcs));
}

/// Lab 2B "Primary failure": s1 is killed; s2 is primary within 10 intervals with every key.
#[test]
fn primary_failure() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::PrimaryFailure));
}

/// Lab 2B "Kill last server, new one should not be active": with s2 killed and an empty s3
/// started, a Get must not complete within 2 s.
#[test]
fn kill_last_server_new_one_should_not_be_active() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::KillLastServer));
}
