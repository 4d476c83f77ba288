//! SPEC §6.3 TestBasic: appends, puts through different servers, and concurrent clerks on one
//! key, after which every server returns the same value.

use crate::common::*;

/// Lab 3B TestBasic: Append x,y gives "xy"; a Put through server 1 is visible through servers
/// 2 and 1 and a clerk of all servers; then, as in the handout, 20 rounds of 15 concurrent
/// single-server clerks doing Put or Get on "b", after each of which all 3 servers agree.
/// Every history is checked for linearizability.
#[test]
fn basic() {
    sim::for_each_seed!(20, |seed| {
        let mut kv = Kv::new(seed, 3);
        let ck = kv.clerk(&[0, 1, 2]);
        let cka = kv.pinned_clerks();
        kv.op(ck, append("app", "x"))?;
        kv.op(ck, append("app", "y"))?;
        kv.check(ck, "app", "xy")?;
        kv.op(ck, put("a", "aa"))?;
        kv.check(cka[1], "a", "aa")?;
        kv.op(cka[1], put("a", "aaa"))?;
        kv.check(cka[2], "a", "aaa")?;
        kv.check(cka[1], "a", "aaa")?;
        kv.check(ck, "a", "aaa")?;
        concurrent_rounds_on_b(&mut kv, |kv, i| kv.clerk(&[i % 3]))?;
        kv.check_linearizable()
    });
}
