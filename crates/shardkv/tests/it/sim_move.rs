//! SPEC §8.3 TestMove ("Shards really move"): after a join, the new group serves its shards
//! on its own, without the old group.

use crate::common::*;

/// One key per shard ("0".."9" under the lab's first-byte mapping); group 1 joins and takes
/// half the shards; then group 0 is cut off entirely, and 10 parallel Gets run for 10 s:
/// exactly the Gets of group 1's shards (4 or 5 in the handout's window, 5 with this
/// rebalance) succeed.
#[test]
fn shards_really_move() {
    sim::for_each_seed!(8, |seed| {
        let mut c = Cluster::new(seed, 2, 3);
        c.join(0)?;
        let ck = c.clerk();
        for s in 0..10 {
            c.kv.op(ck, put(&s.to_string(), &format!("v{s}")))?;
        }
        c.join(1)?;
        c.kv.run_for(5 * SECOND_US)?;
        for s in 0..10 {
            c.kv.check(ck, &s.to_string(), &format!("v{s}"))?;
        }
        c.settle(10 * SECOND_US)?;
        for id in c.group(0) {
            c.kv.sim.kill(id);
        }
        let clerks: Vec<_> = (0..10).map(|_| c.clerk()).collect();
        for (s, &k) in clerks.iter().enumerate() {
            c.kv.invoke(k, get(&s.to_string()));
        }
        c.kv.run_for(10 * SECOND_US)?;
        let mut succeeded = 0;
        for (s, &k) in clerks.iter().enumerate() {
            if c.kv.sim.is_idle(k) {
                let value =
                    c.kv.take(k)
                        .map(|a| kvstore::ClerkOutput::answer(&a).map(str::to_string));
                ensure(value == Some(Ok(format!("v{s}"))), || {
                    format!("Get({s}) answered {value:?}")
                })?;
                succeeded += 1;
            }
        }
        ensure(succeeded > 3 && succeeded < 6, || {
            format!("{succeeded} Gets succeeded without group 0, expected 4 or 5")
        })?;
        c.kv.check_linearizable()
    });
}
