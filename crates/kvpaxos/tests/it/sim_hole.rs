//! SPEC §6.3 TestHole ("Tolerates holes in paxos sequence"): servers cut off into a minority
//! leave half-done instances behind; the majority must still serve, and after the heal every
//! clerk finishes correctly.

use crate::common::*;
use rpc::NodeId;

/// Lab 3B TestHole with 5 servers, 5 rounds: 10 clerks hammer servers 0 and 1 with Puts and
/// Gets on their own keys for 3 s; then {2,3,4} is cut from {0,1} while those clerks are
/// mid-operation; a clerk of servers 2–4 must still Get q, Put q=qq and Get q; after the heal
/// every hammering clerk finishes. Own-key results are checked by the linearizability checker.
#[test]
fn hole() {
    sim::for_each_seed!(20, |seed| {
        let mut kv = Kv::new(seed, 5);
        let majority = kv.clerk(&[2, 3, 4]);
        for round in 0..5 {
            let clerks: Vec<_> = (0..10).map(|i| kv.clerk(&[i % 2, 1 - i % 2])).collect();
            let mut next = |kv: &mut Kv, i: usize, n: u64| {
                let key = format!("{round}-{i}");
                Some(if kv.sim.rng().below(2) == 0 {
                    put(&key, &n.to_string())
                } else {
                    get(&key)
                })
            };
            let until = kv.sim.now_us() + 3 * SECOND_US;
            kv.drive_for(&clerks, until, MS_US, &mut next)?;
            let minority = [NodeId(0), NodeId(1)];
            let rest = [NodeId(2), NodeId(3), NodeId(4)];
            kv.sim.partition(&[&minority, &rest]);
            kv.check(majority, "q", if round == 0 { "" } else { "qq" })?;
            kv.op(majority, put("q", "qq"))?;
            kv.check(majority, "q", "qq")?;
            kv.sim.heal();
            kv.finish(&clerks)?;
        }
        kv.check_linearizable()
    });
}
