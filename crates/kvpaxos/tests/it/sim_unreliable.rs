//! SPEC §6.3 TestUnreliable: every server in unreliable mode (SPEC §1.2: 10 % of requests lost,
//! 18 % executed with the reply lost, Paxos messages included).

use crate::common::*;

/// Lab 3B TestUnreliable, at the handout's counts: a basic Put/Get;
/// "Sequence of puts" with 6 rounds × 5 clerks with shuffled server lists, each on its own key
/// (Get, Append 0,1,2, then two Gets that must equal the expected value); 20 rounds of 15
/// concurrent clerks on "b", after each of which all servers agree; "Concurrent Append to same
/// key": 5 clerks × 5 Appends to "k", checked with `checkAppends` and agreed on by all servers.
/// Every history is checked for linearizability (the appends' retries overlap for 100 ms each;
/// the checker prunes orders of appends that the final reads rule out).
#[test]
fn unreliable() {
    sim::for_each_seed!(20, |seed| {
        let mut kv = Kv::new(seed, 3);
        kv.sim.set_unreliable(true);
        let ck = kv.shuffled_clerk();
        kv.op(ck, put("a", "aa"))?;
        kv.check(ck, "a", "aa")?;

        for round in 0..6 {
            let clerks: Vec<_> = (0..5).map(|_| kv.shuffled_clerk()).collect();
            kv.drive(&clerks, u64::MAX, MS_US, |_, i, n| {
                let key = format!("{round}-{i}");
                match n {
                    0 => Some(get(&key)),
                    1..=3 => Some(append(&key, &(n - 1).to_string())),
                    _ => None,
                }
            })?;
            kv.run_for(100 * MS_US)?;
            for (i, &c) in clerks.iter().enumerate() {
                let key = format!("{round}-{i}");
                kv.check(c, &key, "012")?;
                kv.check(c, &key, "012")?;
            }
        }

        concurrent_rounds_on_b(&mut kv, |kv, _| kv.shuffled_clerk())?;

        let clerks: Vec<_> = (0..5).map(|_| kv.shuffled_clerk()).collect();
        kv.drive(&clerks, u64::MAX, MS_US, |_, i, n| {
            (n < 5).then(|| append("k", &format!("x {i} {n} y")))
        })?;
        let value = kv.all_agree("k")?;
        check_appends(&value, &[5; 5])?;
        kv.check_linearizable()
    });
}
