//! Peer connections survive a peer's crash and restart.

use crate::common::{
    CALL_TIMEOUT, REPLY_TIMEOUT, Req, Resp, Toy, bounded, cluster, config, until_ok,
};
use rpc::{NodeId, RpcClient, RpcError, spawn_node};
use tokio::net::TcpListener;

/// Goal: after a peer is killed and a new process takes its address, messages flow again.
/// Method: 2 nodes, so a `Quorum` at node 0 needs node 1's pong. Kill node 1 (abruptly) and wait
/// until its port is free; a quorum now times out. Start a fresh node 1 on the same address and
/// retry the quorum until node 0's peer task has redialled (bounded).
#[tokio::test]
async fn peer_messages_flow_again_after_the_peer_restarts() {
    let (mut nodes, addrs) = cluster(2).await;
    let client = RpcClient::<Req, Resp>::new(addrs[0]);
    bounded(until_ok(|| client.call(Req::Quorum, CALL_TIMEOUT))).await;

    let old = nodes.remove(1);
    old.kill();
    bounded(old.join()).await;
    let err = client
        .call(Req::Quorum, CALL_TIMEOUT)
        .await
        .expect_err("no peer to vote");
    assert!(matches!(err, RpcError::Timeout), "{err:?}");

    let listener = TcpListener::bind(addrs[1])
        .await
        .expect("the killed node's port is free");
    let _new = spawn_node(Toy::new(NodeId(1), 2), config(1, listener, &addrs, None));
    let resp = bounded(until_ok(|| client.call(Req::Quorum, CALL_TIMEOUT))).await;
    assert_eq!(resp, Resp::Quorum { votes: 2 });
    let stats = nodes[0].stats();
    assert!(
        stats.peer_connects >= 2,
        "node 0 redialled node 1: {stats:?}"
    );
}

/// Goal: a node whose peers are down keeps serving clients, and its peer queue drops (and counts)
/// what it cannot hold instead of growing or blocking.
/// Method: node 0 of a 2-node cluster whose node 1 never started; queue far more pings than the
/// peer queue holds through `call`, then check that an echo is still answered and drops counted.
#[tokio::test]
async fn dead_peer_costs_a_bounded_queue_not_liveness() {
    crate::common::init_tracing();
    let (mut listeners, addrs) = crate::common::bind(2).await;
    drop(listeners.pop()); // node 1 never runs
    let listener = listeners.pop().expect("node 0's listener");
    let node = spawn_node(Toy::new(NodeId(0), 2), config(0, listener, &addrs, None));
    let burst = rpc::runtime::PEER_QUEUE_CAPACITY as u64 * 2;
    node.call(move |_, out| {
        for seq in 0..burst {
            out.send(NodeId(1), crate::common::Msg::Ping { seq });
        }
    })
    .await
    .expect("running");
    let client = RpcClient::<Req, Resp>::new(addrs[0]);
    let resp = bounded(client.call(Req::Echo("still here".into()), REPLY_TIMEOUT))
        .await
        .expect("answered");
    assert!(matches!(resp, Resp::Echo { .. }));
    let dropped = node.stats().dropped;
    assert!(
        dropped >= burst - rpc::runtime::PEER_QUEUE_CAPACITY as u64,
        "dropped {dropped} of {burst}"
    );
}
