//! SPEC §6.3 TestManyPartition ("Many clients, changing partitions").

use crate::common::*;
use rpc::NodeId;

/// How long the partitions change (as in the handout).
const CHAOS_US: u64 = 20 * SECOND_US;

/// Lab 3B TestManyPartition with 5 unreliable servers: every 0–200 ms the servers are split at
/// random into up to three groups, for 20 s; 10 clerks with shuffled server lists Append to
/// or Get their own key; after the heal every clerk finishes and reads back exactly its own
/// appends. Every history is checked for linearizability.
#[test]
fn many_partition() {
    sim::for_each_seed!(20, |seed| {
        let mut kv = Kv::new(seed, 5);
        kv.sim.set_unreliable(true);
        let clerks: Vec<_> = (0..10).map(|_| kv.shuffled_clerk()).collect();
        let mut expected = vec![String::new(); clerks.len()];
        let end = kv.sim.now_us() + CHAOS_US;
        while kv.sim.now_us() < end {
            let mut groups: [Vec<NodeId>; 3] = Default::default();
            for i in 0..5 {
                groups[kv.sim.rng().below(3) as usize].push(NodeId(i));
            }
            let refs: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
            kv.sim.partition(&refs);
            let until = (kv.sim.now_us() + kv.sim.rng().below(200 * MS_US)).min(end);
            kv.drive_for(&clerks, until, MS_US, &mut |kv, i, n| {
                Some(if kv.sim.rng().below(2) == 0 {
                    let v = format!("x {i} {n} y");
                    expected[i].push_str(&v);
                    append(&i.to_string(), &v)
                } else {
                    get(&i.to_string())
                })
            })?;
            if kv.sim.now_us() == until && until < end {
                kv.run_for(1)?;
            }
        }
        kv.sim.heal();
        kv.finish(&clerks)?;
        for (i, &c) in clerks.iter().enumerate() {
            kv.check(c, &i.to_string(), &expected[i])?;
        }
        kv.check_linearizable()
    });
}
