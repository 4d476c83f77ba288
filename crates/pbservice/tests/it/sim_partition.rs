//! SPEC §4.3 TestPartition1 and TestPartition2: an old primary, cut off from the view service,
//! must not answer a Get with a stale value. The handout's slow proxy becomes a request that
//! cannot reach s1 until the test lets it (a client cut), and the partition is a two-way cut
//! between s1 and the view service; s1 still reaches s2 and clients reach s1.

use crate::common::*;
use rpc::NodeId;

const S1: NodeId = NodeId(1);

/// s1 primary, s2 backup, a=1 written; s1 cut from the view service; a Get pinned to s1 sent
/// but held back. Returns the pinned client.
fn setup(pb: &mut Pb) -> Result<(rpc::ClientId, rpc::ClientId), String> {
    pb.wait_view(10, "s1 primary", |v| v.primary == Some(S1))?;
    pb.start(2);
    pb.wait_view(10, "s2 backup", |v| v.backup == Some(NodeId(2)))?;
    let ck = pb.clerk();
    pb.op(ck, put("a", "1"))?;
    pb.run_for(2 * INTERVAL_US)?;
    pb.sim.cut(S1, VS);
    pb.sim.cut(VS, S1);
    let raw = pb.raw_client(1);
    pb.sim.cut_client(raw, S1);
    pb.sim.invoke(raw, get("a"));
    pb.wait_view(10 * 3, "s2 primary", |v| v.primary == Some(NodeId(2)))?;
    // The new primary must know it is primary before the test writes through it: otherwise
    // the write could still go through s1 (forwarded to s2 while s2 thinks it is backup), and
    // s1 would legitimately hold the new value.
    let deadline = pb.sim.now_us() + 10 * INTERVAL_US;
    pb.sim
        .run_until(deadline, |s| {
            s.node(NodeId(2))
                .and_then(|n| n.server())
                .is_some_and(|r| r.is_serving())
        })
        .map_err(|e| format!("s2 serving: {e}"))?;
    // A fresh clerk asks the view service, so its writes go to s2, never through s1.
    let fresh = pb.clerk();
    Ok((fresh, raw))
}

/// Lets the held-back Get reach s1 and checks it never returns "1" within `wait_us`.
fn release_and_check(pb: &mut Pb, raw: rpc::ClientId, wait_us: u64) -> Result<(), String> {
    let s1_view = pb.sim.node(S1).and_then(|n| n.server()).map(|r| r.view());
    ensure(s1_view.is_some_and(|v| v.primary == Some(S1)), || {
        format!("s1 should still believe it is primary: {s1_view:?}")
    })?;
    pb.sim.uncut_client(raw, S1);
    pb.run_for(wait_us)?;
    if let Some(result) = pb.sim.take_completion(raw) {
        ensure(result.output != Ok("1".to_string()), || {
            "partitioned old primary served a stale Get".to_string()
        })?;
    }
    pb.check_linearizable()
}

/// Lab 2B TestPartition1 "Old primary does not serve Gets": after s2 takes over and a=111 is
/// written through it, the Get held back at the old primary s1 must not return "1".
#[test]
fn partition1() {
    sim::for_each_seed!(20, |seed| {
        let mut pb = Pb::new(seed, 3, &[1]);
        let (ck, raw) = setup(&mut pb)?;
        pb.op(ck, put("a", "111"))?;
        release_and_check(&mut pb, raw, 5 * SECOND_US)
    });
}

/// Lab 2B TestPartition2 "Partitioned old primary does not complete Gets": s2 takes over, s3
/// joins as backup, a=2 is written, s2 is killed; the Get held back at s1 must not return "1".
#[test]
fn partition2() {
    sim::for_each_seed!(20, |seed| {
        let mut pb = Pb::new(seed, 3, &[1]);
        let (ck, raw) = setup(&mut pb)?;
        pb.start(3);
        pb.wait_view(10 * 3, "s3 backup", |v| v.backup == Some(NodeId(3)))?;
        pb.run_for(2 * SECOND_US)?;
        pb.op(ck, put("a", "2"))?;
        pb.kill(2);
        release_and_check(&mut pb, raw, 6 * SECOND_US)
    });
}
