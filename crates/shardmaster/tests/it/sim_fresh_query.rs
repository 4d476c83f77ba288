//! SPEC §7.3 TestFreshQuery ("Query() returns latest configuration"): a replica that missed a
//! change must not answer a Query from its stale state.

use crate::common::*;
use rpc::NodeId;
use shardmaster::Gid;

/// Lab 4A TestFreshQuery on 3 replicas. The handout renames server 0's socket so that its
/// peers cannot reach it while one clerk can. The simulator has no "deaf to peers only", so
/// the scenario runs in two steps: server 0 is deaf (nobody reaches it; it can still send)
/// while Join 1001 completes through server 1, so server 0 misses it; then server 0 can be
/// reached again and at once the private clerk's Query(-1) through server 0 must contain
/// 1001. A replica answering from its own state would answer without it: the Query must go
/// through the log, and server 0 must catch up to its entry first.
#[test]
fn fresh_query() {
    sim::for_each_seed!(100, |seed| {
        let mut sm = Sm::new(seed, 3);
        let ck1 = sm.clerk(&[1]);
        let private = sm.clerk(&[0]);
        sm.join(ck1, 1, &["a"])?;
        sm.sim.deafen(NodeId(0));
        sm.join(ck1, 1001, &["x", "y"])?;
        let stale = sm.sim.node(NodeId(0)).map(|r| r.state().latest().clone());
        ensure(
            stale.is_some_and(|c| !c.groups.contains_key(&Gid(1001))),
            || "server 0 learned Join 1001 while deaf; the scenario tests nothing".into(),
        )?;
        sm.sim.undeafen(NodeId(0));
        let c = sm.query(private, -1)?;
        ensure(c.groups.contains_key(&Gid(1001)), || {
            format!("Query(-1) through server 0 missed group 1001: {c:?}")
        })?;
        check_config(&c, &[1, 1001])
    });
}
