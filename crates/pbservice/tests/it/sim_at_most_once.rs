//! SPEC §4.3 TestAtMostOnce: retried Appends through an unreliable primary run once.

use crate::common::*;
use rpc::NodeId;

/// Lab 2B "at-most-once Append; unreliable": one unreliable server (primary, no backup); 100
/// Appends of "0".."99" to "counter"; the final value is exactly their concatenation, and the
/// history is linearizable.
#[test]
fn at_most_once() {
    sim::for_each_seed!(20, |seed| {
        let mut pb = Pb::new(seed, 1, &[1]);
        let ck = pb.clerk();
        pb.wait_view(10, "s1 primary", |v| v.primary == Some(NodeId(1)))?;
        pb.sim.set_unreliable(true);
        let mut expected = String::new();
        for i in 0..100 {
            let v = i.to_string();
            pb.op(ck, append("counter", &v))?;
            expected.push_str(&v);
        }
        pb.check(ck, "counter", &expected)?;
        pb.check_linearizable()
    });
}
