//! Effects reach the right place: `Send`/`Respond` to peers, `Reply` to the calling client,
//! ticks to the core, and `NodeHandle::call` into the core.

use crate::common::{
    CALL_TIMEOUT, Msg, REPLY_TIMEOUT, Req, Resp, SCENARIO_BOUND, bounded, cluster, until_ok,
};
use rpc::{NodeId, RpcClient};

/// Goal: a client request that needs peers is answered through the whole path.
/// Method: 3 toy nodes; `Quorum` at node 0 sends `Ping` to nodes 1 and 2 (Send), they answer
/// `Pong` (Respond), and node 0 replies once a majority voted (Reply to the client connection).
#[tokio::test]
async fn quorum_request_routes_send_respond_and_reply() {
    let (nodes, addrs) = cluster(3).await;
    let client = RpcClient::<Req, Resp>::new(addrs[0]);
    let resp = bounded(until_ok(|| client.call(Req::Quorum, CALL_TIMEOUT))).await;
    assert!(
        matches!(resp, Resp::Quorum { votes } if votes >= 2),
        "{resp:?}"
    );
    let stats = nodes[0].stats();
    assert!(
        stats.peer_connects >= 2,
        "node 0 dialled both peers: {stats:?}"
    );
    assert!(
        stats.frames_in >= 2,
        "node 0 read the request and a pong: {stats:?}"
    );
}

/// Goal: many calls in flight on one connection each get their own answer (correlation ids).
/// Method: 100 concurrent echoes through one `RpcClient` to a one-node cluster; every answer is
/// checked by its text, and the node saw exactly one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_multiplex_over_one_connection() {
    let (nodes, addrs) = cluster(1).await;
    let client = RpcClient::<Req, Resp>::new(addrs[0]);
    let calls = (0..100).map(|k| {
        let client = client.clone();
        async move {
            (
                k,
                client.call(Req::Echo(format!("m{k}")), REPLY_TIMEOUT).await,
            )
        }
    });
    for (k, answer) in bounded(futures::future::join_all(calls)).await {
        let expected = Resp::Echo {
            from: NodeId(0),
            text: format!("m{k}"),
        };
        assert_eq!(answer.expect("echo answered"), expected);
    }
    assert_eq!(
        nodes[0].stats().connections_accepted,
        1,
        "all calls shared one connection"
    );
}

/// Goal: the runtime ticks the core at the configured interval.
/// Method: `WaitFor { ticks: 5 }` is answered by the core only from its fifth tick on.
#[tokio::test]
async fn ticks_reach_the_core() {
    let (_nodes, addrs) = cluster(1).await;
    let client = RpcClient::<Req, Resp>::new(addrs[0]);
    let resp = bounded(client.call(
        Req::WaitFor {
            ticks: 5,
            pings: 0,
            pongs: 0,
        },
        SCENARIO_BOUND,
    ))
    .await
    .expect("answered after five ticks");
    assert!(
        matches!(resp, Resp::Counts { ticks, .. } if ticks >= 5),
        "{resp:?}"
    );
}

/// Goal: `NodeHandle::call` runs a closure on the core and carries out the effects it queued.
/// Method: the closure on node 0 sends a `Ping` to node 2 and returns the node's id; node 2 then
/// counts the ping, and node 0 the `Pong` that node 2 responds with.
#[tokio::test]
async fn call_runs_on_the_core_and_executes_its_effects() {
    let (nodes, addrs) = cluster(3).await;
    let me = nodes[0]
        .call(|core, out| {
            out.send(NodeId(2), Msg::Ping { seq: 999 });
            core.me
        })
        .await
        .expect("node 0 is running");
    assert_eq!(me, NodeId(0));
    let wait = |pings, pongs| Req::WaitFor {
        ticks: 0,
        pings,
        pongs,
    };
    let at_2 = RpcClient::<Req, Resp>::new(addrs[2]);
    let at_0 = RpcClient::<Req, Resp>::new(addrs[0]);
    bounded(async {
        at_2.call(wait(1, 0), SCENARIO_BOUND)
            .await
            .expect("node 2 got the ping");
        at_0.call(wait(0, 1), SCENARIO_BOUND)
            .await
            .expect("node 0 got the pong");
    })
    .await;
    let pings_at_2 = nodes[2].call(|core, _| core.pings).await.expect("running");
    assert_eq!(pings_at_2, 1);
}

/// Goal: a message a node sends to itself is delivered to it (loopback), not dropped.
/// Method: a one-node cluster pings itself through `call`, then waits for its own pong.
#[tokio::test]
async fn message_to_self_is_delivered_locally() {
    let (nodes, _addrs) = cluster(1).await;
    nodes[0]
        .call(|_, out| out.send(NodeId(0), Msg::Ping { seq: 1 }))
        .await
        .expect("running");
    let counts = nodes[0]
        .call(|core, _| (core.pings, core.pongs))
        .await
        .expect("running");
    assert_eq!(
        counts,
        (1, 1),
        "ping and pong both handled before the next input"
    );
}

/// Goal: graceful shutdown stops every task and later calls fail with `Shutdown`.
/// Method: shut node 0 down; a client call to it must then fail (nothing listens), bounded.
#[tokio::test]
async fn graceful_shutdown_stops_every_task() {
    let (mut nodes, addrs) = cluster(2).await;
    let client = RpcClient::<Req, Resp>::new(addrs[0]);
    bounded(until_ok(|| client.call(Req::Quorum, CALL_TIMEOUT))).await;
    let node = nodes.remove(0);
    bounded(node.shutdown()).await;
    let after = RpcClient::<Req, Resp>::new(addrs[0]);
    let err = bounded(after.call(Req::Echo("x".into()), CALL_TIMEOUT))
        .await
        .expect_err("node is gone");
    assert!(matches!(err, rpc::RpcError::Unreachable { .. }), "{err:?}");
}

/// Goal: `NodeHandle::request` takes a client request from inside the process down the same
/// path as one over TCP, and the core's `Reply` comes back to it; one that needs peers too.
/// Method: 3 toy nodes; an `Echo` and a `Quorum` handed to node 0 through its handle.
#[tokio::test]
async fn in_process_request_gets_the_core_reply() {
    let (nodes, _addrs) = cluster(3).await;
    let echo = bounded(nodes[0].request(Req::Echo("inside".into())))
        .await
        .expect("answered");
    assert_eq!(
        echo,
        Resp::Echo {
            from: NodeId(0),
            text: "inside".into()
        }
    );
    // The first Pings may go out before the peers' connections are up: ask again, bounded.
    let quorum = bounded(until_ok(|| async {
        tokio::time::timeout(CALL_TIMEOUT, nodes[0].request(Req::Quorum))
            .await
            .map_err(|_| rpc::RpcError::Timeout)?
    }))
    .await;
    assert!(
        matches!(quorum, Resp::Quorum { votes } if votes >= 2),
        "{quorum:?}"
    );
}
