//! SPEC §5.3 TestForget, TestManyForget and TestForgetMem: `done`, `min` and reclaimed memory.

use crate::common::*;
use bytes::Bytes;
use paxos::{Fate, Seq};
use rpc::{NodeId, Rng};

fn min_of(sim: &PaxosSim, peer: u32) -> Seq {
    sim.node(NodeId(peer)).map_or(Seq(0), |p| p.min())
}

/// Lab 3A TestForget: 6 peers. `min()` starts at 0 and stays 0 after deciding 0 and 1; after
/// everyone calls `done(0)` and peers 1–5 `done(1)`, new starts spread the information and within
/// 12 s every peer's `min()` is 1 (peer 0 never said it was done with 1).
#[test]
fn forget() {
    sim::for_each_seed!(30, |seed| {
        let n = 6;
        let mut sim = cluster(seed, n);
        for peer in 0..n {
            ensure(min_of(&sim, peer) == Seq(0), || {
                format!("peer {peer} initial min > 0")
            })?;
        }
        start(&mut sim, 0, 0, val("00"));
        start(&mut sim, 1, 1, val("11"));
        start(&mut sim, 2, 2, val("22"));
        start(&mut sim, 0, 6, val("66"));
        start(&mut sim, 1, 7, val("77"));
        wait_n(&mut sim, Seq(0), n as usize)?;
        for peer in 0..n {
            let min = min_of(&sim, peer);
            ensure(min == Seq(0), || {
                format!("peer {peer} min() = {min:?} before any done")
            })?;
        }
        wait_n(&mut sim, Seq(1), n as usize)?;
        for peer in 0..n {
            sim.call(NodeId(peer), |p, _| p.done(Seq(0)));
        }
        for peer in 1..n {
            sim.call(NodeId(peer), |p, _| p.done(Seq(1)));
        }
        for peer in 0..n {
            start(&mut sim, peer, 8 + u64::from(peer), val("xx"));
        }
        let deadline = sim.now_us() + 12 * SECOND_US;
        sim.run_until(deadline, |s| (0..n).all(|p| min_of(s, p) == Seq(1)))
            .map_err(|e| format!("min() did not reach 1 everywhere: {e}"))?;
        ensure(ndecided(&sim, Seq(0)) == 0, || {
            "instance 0 still held after forgetting".into()
        })
    });
}

/// Lab 3A TestManyForget: 3 unreliable peers; 20 instances started in random order by random
/// peers while `done` is called on decided instances, for 5 s; then reliable for 2 s. Robustness
/// only: no panic, no disagreement (checked after every step), `status` answers for all `>= min`.
#[test]
fn many_forget() {
    sim::for_each_seed!(30, |seed| {
        let n = 3;
        let mut sim = cluster(seed, n);
        sim.set_unreliable(true);
        let mut rng = Rng::new(seed ^ 0xF0F0);
        let mut order: Vec<u64> = (0..20).collect();
        rng.shuffle(&mut order);
        for seq in order {
            let peer = rng.below(u64::from(n)) as u32;
            start(&mut sim, peer, seq, val(&format!("{}", rng.next_u64())));
        }
        let end = sim.now_us() + 5 * SECOND_US;
        while sim.now_us() < end {
            run_for(&mut sim, 10_000)?;
            let seq = Seq(rng.below(20));
            let peer = NodeId(rng.below(u64::from(n)) as u32);
            let decided = sim
                .node(peer)
                .is_some_and(|p| p.status(seq).0 == Fate::Decided);
            if decided {
                sim.call(peer, |p, _| p.done(seq));
            }
        }
        sim.set_unreliable(false);
        run_for(&mut sim, 2 * SECOND_US)?;
        for peer in 0..n {
            let min = min_of(&sim, peer);
            for seq in min.0..20 {
                let _ = sim.node(NodeId(peer)).map(|p| p.status(Seq(seq)));
            }
            ndecided(&sim, min);
        }
        Ok(())
    });
}

/// Lab 3A TestForgetMem: 3 peers decide 10 instances of 1 MB random values. After every peer calls
/// `done(10)` and each proposes one of instances 11..=13 to spread the news, `min()` is 11 everywhere and each peer's
/// retained bytes (measured by the peer itself, SPEC §12) are at most half of what they were.
/// Forgotten instances stay forgotten: a new `start` does not resurrect them.
#[test]
fn forget_mem() {
    sim::for_each_seed!(20, |seed| {
        let n = 3;
        let mut sim = cluster(seed, n);
        let mut rng = Rng::new(seed);
        start(&mut sim, 0, 0, val("x"));
        wait_n(&mut sim, Seq(0), n as usize)?;
        for seq in 1..=10 {
            let big: Vec<u8> = (0..1 << 20).map(|_| b'a' + rng.below(26) as u8).collect();
            start(&mut sim, 0, seq, Bytes::from(big));
            wait_n(&mut sim, Seq(seq), n as usize)?;
        }
        let before: Vec<usize> = (0..n)
            .map(|p| sim.node(NodeId(p)).map_or(0, |peer| peer.retained_bytes()))
            .collect();
        for peer in 0..n {
            sim.call(NodeId(peer), |p, _| p.done(Seq(10)));
        }
        // Each peer proposes a new instance, so every peer hears every other's `done`.
        for peer in 0..n {
            start(&mut sim, peer, 11 + u64::from(peer), val("small"));
        }
        run_for(&mut sim, 3 * SECOND_US)?;
        for peer in 0..n {
            let min = min_of(&sim, peer);
            ensure(min == Seq(11), || {
                format!("peer {peer} min() = {min:?}, expected 11")
            })?;
            let after = sim.node(NodeId(peer)).map_or(0, |p| p.retained_bytes());
            let limit = before[peer as usize] / 2;
            ensure(after <= limit, || {
                format!("peer {peer} retains {after} B, limit {limit} B")
            })?;
        }
        for seq in 0..3 {
            for peer in 0..n {
                start(&mut sim, peer, seq, val("resurrected"));
            }
        }
        run_for(&mut sim, SECOND_US)?;
        for peer in 0..n {
            for seq in 0..3 {
                let status = sim.node(NodeId(peer)).map(|p| p.status(Seq(seq)));
                ensure(status == Some((Fate::Forgotten, None)), || {
                    format!("peer {peer} instance {seq} is {status:?} after forgetting")
                })?;
            }
        }
        Ok(())
    });
}

/// Beyond the original suite: with one proposer, followers never message each other, so each
/// hears the other's `done` only second-hand. Peers piggy-back their `min()` for this reason:
/// after 200 instances and `done(199)` everywhere, one more instance brings every follower's
/// `min()` to 200 and its memory back to a handful of instances (before the fix, followers held
/// every instance forever and a proposer's tick grew with them).
#[test]
fn followers_forget_without_talking_to_each_other() {
    sim::for_each_seed!(20, |seed| {
        let n = 3;
        let mut sim = cluster(seed, n);
        for seq in 0..200 {
            start(&mut sim, 0, seq, val("v"));
        }
        for seq in 0..200 {
            wait_n(&mut sim, Seq(seq), n as usize)?;
        }
        for peer in 0..n {
            sim.call(NodeId(peer), |p, _| p.done(Seq(199)));
        }
        // Two rounds of traffic from the proposer: followers tell it their `done` on the first,
        // and it tells them the resulting `min()` on the second.
        start(&mut sim, 0, 200, val("w"));
        wait_n(&mut sim, Seq(200), n as usize)?;
        start(&mut sim, 0, 201, val("w"));
        wait_n(&mut sim, Seq(201), n as usize)?;
        for peer in 0..n {
            let min = min_of(&sim, peer);
            ensure(min == Seq(200), || {
                format!("peer {peer} min() = {min:?}, expected 200")
            })?;
            let held = sim.node(NodeId(peer)).map_or(0, |p| p.instance_count());
            ensure(held <= 2, || {
                format!("peer {peer} still holds {held} instances")
            })?;
        }
        Ok(())
    });
}
