//! SPEC §4.3 TestConcurrentSame, TestConcurrentSameAppend, TestConcurrentSameUnreliable:
//! several clerks on the same keys, then the primary dies and the backup must hold exactly the
//! same values. Every history is checked for linearizability.

use crate::common::*;
use rpc::NodeId;

/// Two servers, s1 primary and s2 backup (started in that order), and `clerks` clerks.
fn setup(seed: u64, clerks: usize) -> Result<(Pb, Vec<rpc::ClientId>), String> {
    let mut pb = Pb::new(seed, 2, &[1]);
    pb.wait_view(10, "s1 primary", |v| v.primary == Some(NodeId(1)))?;
    pb.start(2);
    pb.wait_view(10, "s2 backup", |v| v.backup == Some(NodeId(2)))?;
    let ids = (0..clerks).map(|_| pb.clerk()).collect();
    Ok((pb, ids))
}

/// Reads `keys` through a clerk, kills the primary s1, waits for s2 to take over, and checks
/// s2 returns exactly the same values.
fn same_after_failover(pb: &mut Pb, keys: &[&str]) -> Result<Vec<String>, String> {
    let ck = pb.clerk();
    let mut before = Vec::new();
    for key in keys {
        before.push(pb.op(ck, get(key))?);
    }
    pb.kill(1);
    pb.wait_view(10 * 3, "s2 primary", |v| v.primary == Some(NodeId(2)))?;
    for (key, value) in keys.iter().zip(&before) {
        pb.check(ck, key, value)?;
    }
    Ok(before)
}

fn concurrent_puts(seed: u64, unreliable: bool) -> Result<(), String> {
    let (mut pb, clerks) = setup(seed, 3)?;
    if unreliable {
        let ck = pb.clerk();
        pb.op(ck, put("0", "x"))?;
        pb.op(ck, put("1", "x"))?;
        pb.sim.set_unreliable(true);
    }
    let until = pb.sim.now_us() + 5 * SECOND_US;
    pb.drive(&clerks, until, 10_000, |pb, _, _| {
        let key = pb.sim.rng().below(2).to_string();
        let value = pb.sim.rng().next_u64().to_string();
        Some(put(&key, &value))
    })?;
    pb.sim.set_unreliable(false);
    same_after_failover(&mut pb, &["0", "1"])?;
    pb.check_linearizable()
}

/// Lab 2B TestConcurrentSame: 3 clerks Put random values to keys "0" and "1" for 5 s; the
/// values read from the primary are exactly those the backup serves after the primary dies.
#[test]
fn concurrent_same() {
    sim::for_each_seed!(20, |seed| concurrent_puts(seed, false));
}

/// Lab 2B TestConcurrentSameUnreliable: the same with unreliable servers (keys pre-set to
/// "x"); every clerk must finish.
#[test]
fn concurrent_same_unreliable() {
    sim::for_each_seed!(20, |seed| concurrent_puts(seed, true));
}

/// Lab 2B TestConcurrentSameAppend: 3 clerks × 50 Appends of "x <clerk> <n> y" to "k"; the
/// primary's value has every element once in each clerk's order; primary and backup hold
/// byte-identical values; after the primary dies the backup serves the same value.
#[test]
fn concurrent_same_append() {
    sim::for_each_seed!(20, |seed| {
        // A fourth clerk reads "k" while the others append: the original only appended, but
        // reads pin down the order, which keeps the linearizability search small.
        let (mut pb, clerks) = setup(seed, 4)?;
        let per_clerk = 50;
        let until = pb.sim.now_us() + 60 * SECOND_US;
        let mut appended = [0u64; 3];
        pb.drive(&clerks, until, 1_000, |_, i, n| {
            if i == 3 {
                return (appended.iter().sum::<u64>() < 3 * per_clerk).then(|| get("k"));
            }
            appended[i] = n.min(per_clerk);
            (n < per_clerk).then(|| append("k", &format!("x {i} {n} y")))
        })?;
        pb.run_for(SECOND_US)?;
        let value = |pb: &Pb, i: u32| {
            pb.sim
                .node(NodeId(i))
                .and_then(|n| n.server())
                .map(|r| r.state().get("k").to_string())
        };
        let (primary, backup) = (value(&pb, 1), value(&pb, 2));
        ensure(primary == backup, || {
            "primary and backup differ on k".into()
        })?;
        let values = same_after_failover(&mut pb, &["k"])?;
        check_appends(&values[0], &[per_clerk; 3])?;
        pb.check_linearizable()
    });
}
