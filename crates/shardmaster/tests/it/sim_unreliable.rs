//! SPEC §7.3 TestUnreliable ("Concurrent leave/join, failure"): concurrent joins and leaves
//! while one replica goes deaf; and the same load in SPEC §1.2's unreliable mode, which the
//! handout left out because its shard master need not detect duplicates (ours does: `rsm`).

use crate::common::*;
use rpc::NodeId;
use shardmaster::{Gid, Op};

/// Each worker's operations for group `gid`: Join gid+1000, Join gid, Leave gid+1000, then a
/// Query(-1), each on a clerk that `pick` chooses.
fn worker(gid: i64, mut pick: impl FnMut() -> rpc::ClientId) -> Work {
    vec![
        (pick(), join(gid + 1000, &[&format!("s{gid}a")])),
        (pick(), join(gid, &[&format!("s{gid}b")])),
        (
            pick(),
            Op::Leave {
                gid: Gid(gid + 1000),
            },
        ),
        (pick(), Op::Query { num: -1 }),
    ]
}

/// Lab 4A TestUnreliable on 3 replicas (reliable, as in the handout): 20 workers, each doing
/// Join gid+1000, Join gid, Leave gid+1000 (gid 1..20), every operation through server 1 or 2
/// drawn from the run's generator, then a Query(-1); once a worker finishes, server 0 goes
/// deaf (SPEC §1.4: it can send, nobody can reach it). Then the latest configuration, queried
/// through servers 1 and 2, has exactly groups 1..20, balanced; and every Query answered an
/// immutable, fresh configuration.
#[test]
fn unreliable() {
    sim::for_each_seed!(100, |seed| {
        let mut sm = Sm::new(seed, 3);
        let works: Vec<Work> = (1..=20i64)
            .map(|gid| {
                // One clerk per worker and server: a clerk runs one operation at a time.
                let mine = [sm.clerk(&[1]), sm.clerk(&[2])];
                let draws: Vec<usize> = (0..4).map(|_| sm.sim.rng().below(2) as usize).collect();
                let mut draws = draws.into_iter();
                worker(gid, || mine[draws.next().expect("four draws")])
            })
            .collect();
        let mut deaf = false;
        let records = sm.run_concurrently(
            works,
            |_| false,
            |sm, finished| {
                if finished > 0 && !deaf {
                    sm.sim.deafen(NodeId(0));
                    deaf = true;
                }
            },
        )?;
        let gids: Vec<i64> = (1..=20).collect();
        for servers in [&[1, 2][..], &[1], &[2]] {
            let ck = sm.clerk(servers);
            sm.check(ck, &gids)?;
        }
        check_queries(&records, &sm.longest_history())
    });
}

/// The same load with every replica in SPEC §1.2 unreliable mode (10 % of requests lost, 18 %
/// run with the reply lost, Paxos messages included) and clerks that know every server in a
/// shuffled order: every operation completes, the final groups are exactly 1..20, the
/// replicas converge on one history, and every Query was fresh. (At most once is `rsm`'s and
/// tested there; here a late duplicate of a Join applied after its Leave would be refused by
/// the rule that a gid that left never joins again, so it could not show anyway.)
#[test]
fn unreliable_requests() {
    sim::for_each_seed!(100, |seed| {
        let mut sm = Sm::new(seed, 3);
        sm.sim.set_unreliable(true);
        let works: Vec<Work> = (1..=20i64)
            .map(|gid| {
                let mut order = vec![0, 1, 2];
                for i in (1..order.len()).rev() {
                    let j = sm.sim.rng().below(i as u64 + 1) as usize;
                    order.swap(i, j);
                }
                let ck = sm.clerk(&order);
                worker(gid, || ck)
            })
            .collect();
        let records = sm.run_concurrently(works, |_| false, |_, _| {})?;
        let ck = sm.clerk(&[0, 1, 2]);
        sm.check(ck, &(1..=20).collect::<Vec<_>>())?;
        sm.converge()?;
        check_queries(&records, &sm.longest_history())
    });
}
