//! SPEC §6.3 TestPartition: a minority cannot complete operations, the majority continues, and
//! the minority's operations complete once it rejoins a majority. Clerks are pinned to one
//! server each (the handout's single-server clerks); partitions cut only server↔server
//! traffic (SPEC §1.3).

use crate::common::*;
use rpc::NodeId;

fn part(kv: &mut Kv, groups: &[&[u32]]) {
    let groups: Vec<Vec<NodeId>> = groups
        .iter()
        .map(|g| g.iter().map(|&i| NodeId(i)).collect())
        .collect();
    let refs: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
    kv.sim.partition(&refs);
}

/// Lab 3B TestPartition with 5 servers: "No partition" (Put via 0 and 2, Get via 3);
/// "Progress in a majority" {2,3,4}; "No progress in a minority" {0},{1}: a Put via 0 and a
/// Get via 1 do not finish within 1 s while the majority writes 16; "Completion after heal"
/// {0,2,3,4},{1}: server 0's Put completes within 3 s, server 1's Get is still blocked, the
/// others read 15; then {0,1,2},{3,4}: server 1's Get completes within 10 s.
#[test]
fn partition() {
    sim::for_each_seed!(20, |seed| {
        let mut kv = Kv::new(seed, 5);
        let ck = kv.pinned_clerks();
        kv.op(ck[0], put("1", "12"))?;
        kv.op(ck[2], put("1", "13"))?;
        kv.check(ck[3], "1", "13")?;

        part(&mut kv, &[&[0, 1], &[2, 3, 4]]);
        kv.op(ck[2], put("1", "14"))?;
        kv.check(ck[4], "1", "14")?;

        part(&mut kv, &[&[0], &[1], &[2, 3, 4]]);
        kv.invoke(ck[0], put("1", "15"));
        kv.invoke(ck[1], get("1"));
        kv.run_for(SECOND_US)?;
        ensure(!kv.sim.is_idle(ck[0]), || "minority Put completed".into())?;
        ensure(!kv.sim.is_idle(ck[1]), || "minority Get completed".into())?;
        kv.op(ck[4], put("1", "16"))?;
        kv.check(ck[3], "1", "16")?;

        part(&mut kv, &[&[0, 2, 3, 4], &[1]]);
        kv.wait(ck[0], 3 * SECOND_US, "server 0's Put after heal")?;
        ensure(!kv.sim.is_idle(ck[1]), || {
            "server 1's Get completed alone".into()
        })?;
        kv.check(ck[2], "1", "15")?;
        kv.check(ck[3], "1", "15")?;
        kv.check(ck[4], "1", "15")?;

        part(&mut kv, &[&[0, 1, 2], &[3, 4]]);
        let got = kv.wait(ck[1], 10 * SECOND_US, "server 1's Get after heal")?;
        ensure(got == "15", || {
            format!("server 1's Get = {got:?}, expected \"15\"")
        })?;
        kv.sim.heal();
        kv.check_linearizable()
    });
}
