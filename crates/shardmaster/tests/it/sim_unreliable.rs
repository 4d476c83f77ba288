//! SPEC §7.3 TestUnreliable ("Concurrent leave/join, failure"): concurrent joins and leaves
//! while one replica goes deaf.

use crate::common::*;
use shardmaster::{Gid, Op};

/// Lab 4A TestUnreliable on 3 replicas (reliable, as in the handout: the shard master need
/// not detect duplicate requests there, though `rsm` does): 20 workers, each doing Join
/// gid+1000, Join gid, Leave gid+1000 (gid 1..20), every operation through server 1 or 2
/// drawn from the run's generator; as each worker finishes, server 0 goes deaf (SPEC §1.4: it
/// can send, nobody can reach it). Then the latest configuration, queried through servers
/// 1 and 2, has exactly groups 1..20, balanced.
#[test]
fn unreliable() {
    sim::for_each_seed!(100, |seed| {
        let mut sm = Sm::new(seed, 3);
        let via = [sm.clerk(&[1]), sm.clerk(&[2])];
        let works: Vec<Work> = (1..=20i64)
            .map(|gid| {
                // One clerk per worker and server: a clerk runs one operation at a time.
                let mine = [sm.clerk(&[1]), sm.clerk(&[2])];
                let mut pick = || mine[sm.sim.rng().below(2) as usize];
                vec![
                    (pick(), join(gid + 1000, &[&format!("s{gid}a")])),
                    (pick(), join(gid, &[&format!("s{gid}b")])),
                    (
                        pick(),
                        Op::Leave {
                            gid: Gid(gid + 1000),
                        },
                    ),
                ]
            })
            .collect();
        sm.run_concurrently(
            works,
            |_| false,
            |sm| {
                sm.sim.deafen(rpc::NodeId(0));
            },
        )?;
        let ck = sm.clerk(&[1, 2]);
        sm.check(ck, &(1..=20).collect::<Vec<_>>())?;
        sm.check(via[0], &(1..=20).collect::<Vec<_>>())?;
        sm.check(via[1], &(1..=20).collect::<Vec<_>>())?;
        Ok(())
    });
}
