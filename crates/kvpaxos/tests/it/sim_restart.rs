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
        restart_2_empty(&mut kv, seed)?;
        for i in 0..10 {
            kv.op(prefers_2, append("k", &format!("d{i} ")))?;
            kv.op(everywhere, get("k"))?;
        }
        kv.run_for(100 * MS_US)?;
        let (a, b) = (
            kv.replica(0).state().get_text("k"),
            kv.replica(1).state().get_text("k"),
        );
        ensure(a == b, || {
            format!("replicas 0 and 1 disagree: {a:?} / {b:?}")
        })?;
        kv.check_linearizable()
    });
}

/// Clerks of [`restarted_replica_still_learns_the_log`] that prefer replica 0 or 1.
const LEARNER_CLERKS: usize = 4;
/// How long the load goes on once the restarted replica is unavailable.
const LEARNER_LOAD_US: u64 = 2 * SECOND_US;

/// After the restarted replica became unavailable, the load goes on for 2 s more (four clerks
/// on two keys through replicas 0 and 1, and one that tries replica 2 first). The others
/// ignore its Paxos messages, so it cannot ask for the slots it missed; it must still learn
/// the log as a non-voting learner, pulling a snapshot (`snapshots_installed >= 1`) and
/// applying what the others broadcast. Once the clerks are done it must reach the others'
/// next slot within 5 s and hold the same store and sessions, while still unavailable: it
/// answers a registration and a command `Unavailable`. The history is linearizable. 10 seeds;
/// soak: `SIM_SEEDS=200 cargo test --release -p kvpaxos --test it -- sim_restart`.
#[test]
fn restarted_replica_still_learns_the_log() {
    sim::for_each_seed!(10, |seed| {
        let mut kv = Kv::new(seed, 3);
        let mut clerks: Vec<rpc::ClientId> = (0..LEARNER_CLERKS)
            .map(|i| kv.clerk(if i % 2 == 0 { &[0, 1, 2] } else { &[1, 0, 2] }))
            .collect();
        clerks.push(kv.clerk(&[2, 0, 1]));
        for (i, &c) in clerks.iter().enumerate() {
            kv.op(c, append("k0", &format!("x {i} warm y")))?;
        }
        kv.sim.crash(NodeId(2));
        kv.op(clerks[0], append("k1", "while down "))?;
        restart_2_empty(&mut kv, seed)?;
        let until = kv.sim.now_us() + LEARNER_LOAD_US;
        kv.drive(&clerks, until, MS_US, |kv, i, n| {
            let key = format!("k{}", i % 2);
            Some(if kv.sim.rng().below(3) == 0 {
                get(&key)
            } else {
                append(&key, &format!("x {i} {n} y"))
            })
        })?;
        let target = kv.replica(0).next_apply();
        let deadline = kv.sim.now_us() + 5 * SECOND_US;
        kv.sim
            .run_until(deadline, |s| {
                s.node(NodeId(2)).is_some_and(|r| r.next_apply() >= target)
            })
            .map_err(|e| {
                format!(
                    "the restarted replica did not learn the log: {e}; {}",
                    kv.describe()
                )
            })?;
        let (learner, reference) = (kv.replica(2), kv.replica(0));
        ensure(learner.next_apply() == reference.next_apply(), || {
            format!(
                "replica 2 applied to {}, replica 0 to {}: the log moved on while idle",
                learner.next_apply(),
                reference.next_apply()
            )
        })?;
        ensure(learner.state() == reference.state(), || {
            "replica 2 learned another store than replica 0".to_string()
        })?;
        ensure(learner.sessions() == reference.sessions(), || {
            "replica 2 learned other sessions than replica 0".to_string()
        })?;
        ensure(learner.stats().snapshots_installed >= 1, || {
            format!(
                "replica 2 caught up without a snapshot: {:?}",
                learner.stats()
            )
        })?;
        ensure(learner.is_unavailable(), || {
            "replica 2 serves again".to_string()
        })?;
        let session = kv.sim.client(clerks[0]).session().expect("registered");
        for req in [
            kvpaxos::Request::Register,
            kvpaxos::Request::Command {
                session,
                seq: 1_000,
                cmd: get("k0").into(),
            },
        ] {
            let refused = kv.sim.call(NodeId(2), |r, out| {
                rpc::Node::on_request(r, rpc::ReqId(u64::MAX), req.clone(), out);
                out.effects().iter().any(|e| {
                    matches!(
                        e,
                        rpc::Effect::Reply {
                            resp: kvpaxos::Response::Refused {
                                error: kvpaxos::KvError::Unavailable,
                                ..
                            },
                            ..
                        }
                    )
                })
            });
            ensure(refused, || {
                format!("replica 2 did not refuse {req:?} as unavailable")
            })?;
        }
        kv.check_linearizable()
    });
}

/// Restarts the crashed replica 2 without its state (a new incarnation) and waits, at most a
/// second, until it has found out and refuses to serve.
fn restart_2_empty(kv: &mut Kv, seed: u64) -> Result<(), String> {
    kv.sim
        .restart(NodeId(2), |_disk| Replica::new(NodeId(2), 3, seed ^ 0x5eed));
    let deadline = kv.sim.now_us() + SECOND_US;
    kv.sim
        .run_until(deadline, |s| {
            s.node(NodeId(2)).is_some_and(Replica::is_unavailable)
        })
        .map_err(|e| format!("the restarted replica still serves: {e}"))
}
