//! Beyond SPEC §6 (which never restarts a replica): a replica restarted without its state
//! (there is no disk yet) must not rejoin. Its Paxos peer has lost its promises and votes, so
//! the others ignore it and tell it so; it then answers every request `Unavailable`, and its
//! clerks move on to the other replicas.

use crate::common::*;
use kvpaxos::Replica;
use rpc::NodeId;

/// Three replicas serve clerks; replica 2 crashes, the others go on, and replica 2 is
/// restarted empty (a new incarnation). It must become unavailable within a second, never
/// disturb agreement (checked after every step), and clerks that prefer it must still complete
/// through the others. The history is checked for linearizability.
#[test]
fn replica_restarted_without_state_stays_out() {
    sim::for_each_seed!(20, |seed| {
        let mut kv = Kv::new(seed, 3);
        let everywhere = kv.clerk(&[0, 1, 2]);
        let prefers_2 = kv.clerk(&[2, 0, 1]);
        for i in 0..20 {
            kv.op(everywhere, append("k", &format!("a{i} ")))?;
            kv.op(prefers_2, append("k", &format!("b{i} ")))?;
        }
        kv.sim.crash(NodeId(2));
        for i in 0..20 {
            kv.op(everywhere, append("k", &format!("c{i} ")))?;
        }
        kv.sim
            .restart(NodeId(2), |_disk| Replica::new(NodeId(2), 3, seed ^ 0x5eed));
        let deadline = kv.sim.now_us() + SECOND_US;
        kv.sim
            .run_until(deadline, |s| {
                s.node(NodeId(2)).is_some_and(Replica::is_unavailable)
            })
            .map_err(|e| format!("the restarted replica still serves: {e}"))?;
        for i in 0..10 {
            kv.op(prefers_2, append("k", &format!("d{i} ")))?;
            kv.op(everywhere, get("k"))?;
        }
        kv.run_for(100 * MS_US)?;
        let (a, b) = (
            kv.replica(0).state().get("k"),
            kv.replica(1).state().get("k"),
        );
        ensure(a == b, || {
            format!("replicas 0 and 1 disagree: {a:?} / {b:?}")
        })?;
        kv.check_linearizable()
    });
}
