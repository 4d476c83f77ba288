//! SPEC §8.3 TestConcurrent and TestConcurrentUnreliable: clerks append to their own keys and
//! read them back while shards move between the three groups at random.

use crate::common::*;

/// 11 clerks, each on its own key, 3 rounds of Append then Get, while random shards move to
/// random groups (one move per round a clerk starts, as each handout clerk moves a shard
/// after each of its rounds); every value ends as the clerk's appends in order, once each.
fn concurrent(seed: u64, unreliable: bool) -> Result<(), String> {
    let mut c = Cluster::new(seed, 3, 3);
    for g in 0..3 {
        c.join(g)?;
    }
    if unreliable {
        for g in 0..3 {
            for id in c.group(g) {
                c.kv.sim.set_unreliable_at(id, true);
            }
        }
    }
    let clerks: Vec<_> = (0..11).map(|_| c.clerk()).collect();
    let rounds = 3;
    let key = |i: usize| format!("{i}-key");
    let handed = std::cell::RefCell::new(vec![0; clerks.len()]);
    let mut next = |_: &mut Sk, i: usize, n: u64| {
        (n < 2 * rounds).then(|| {
            handed.borrow_mut()[i] = n + 1;
            if n.is_multiple_of(2) {
                append(&key(i), &format!("x {i} {} y", n / 2))
            } else {
                get(&key(i))
            }
        })
    };
    let mut moves = 0;
    loop {
        let until = c.kv.sim.now_us() + (1 + c.kv.sim.rng().below(30)) * MS_US;
        c.kv.drive_for(&clerks, until, MS_US, &mut next)?;
        let all_handed = handed.borrow().iter().all(|&n| n == 2 * rounds);
        if all_handed && clerks.iter().all(|&k| c.kv.sim.is_idle(k)) {
            break;
        }
        let rounds_started: u64 = handed.borrow().iter().map(|n| n.div_ceil(2)).sum();
        while moves < rounds_started {
            moves += 1;
            let shard = c.kv.sim.rng().below(10) as u32;
            let g = c.kv.sim.rng().below(3) as usize;
            c.move_shard(shard, g)?;
        }
    }
    c.kv.finish(&clerks)?;
    let ck = c.clerk();
    for i in 0..clerks.len() {
        let value = c.kv.op(ck, get(&key(i)))?;
        let mut counts = vec![0; clerks.len()];
        counts[i] = rounds;
        check_appends(&value, &counts).map_err(|e| {
            format!(
                "{e}; value {value:?}; linearizable: {:?}",
                c.kv.check_linearizable()
            )
        })?;
    }
    c.settle(20 * SECOND_US)?;
    c.kv.check_linearizable()
}

#[test]
fn concurrent_reliable() {
    sim::for_each_seed!(6, |seed| concurrent(seed, false));
}

#[test]
fn concurrent_unreliable() {
    sim::for_each_seed!(6, |seed| concurrent(seed, true));
}
