//! What a client sees when the server is silent, absent, or dies mid-call.

use crate::common::{CALL_TIMEOUT, REPLY_TIMEOUT, Req, Resp, bounded, cluster};
use rpc::{RpcClient, RpcError};
use std::time::Duration;

/// Goal: a call the server never answers ends with `Timeout`, and the connection stays usable.
/// Method: `Ignore` is never answered by the toy core; a 100 ms call must time out, then an echo
/// on the same client succeeds without a new connection.
#[tokio::test]
async fn unanswered_call_times_out_and_the_connection_survives() {
    let (nodes, addrs) = cluster(1).await;
    let client = RpcClient::<Req, Resp>::new(addrs[0]);
    let err = bounded(client.call(Req::Ignore, Duration::from_millis(100)))
        .await
        .expect_err("never answered");
    assert!(matches!(err, RpcError::Timeout), "{err:?}");
    let resp = bounded(client.call(Req::Echo("after".into()), REPLY_TIMEOUT))
        .await
        .expect("still works");
    assert!(
        matches!(resp, Resp::Echo { ref text, .. } if text == "after"),
        "{resp:?}"
    );
    assert_eq!(
        nodes[0].stats().connections_accepted,
        1,
        "the timeout did not cost the connection"
    );
}

/// Goal: a call to an address where nothing listens fails fast with `Unreachable` (not run).
/// Method: bind a port, close it, call it.
#[tokio::test]
async fn call_to_a_closed_port_is_unreachable() {
    let (listeners, addrs) = crate::common::bind(1).await;
    drop(listeners);
    let client = RpcClient::<Req, Resp>::new(addrs[0]);
    let err = bounded(client.call(Req::Echo("x".into()), CALL_TIMEOUT))
        .await
        .expect_err("nobody listens");
    assert!(matches!(err, RpcError::Unreachable { .. }), "{err:?}");
    assert!(err.certainly_not_run());
}

/// Goal: a call in flight when the server dies fails at once with `ConnectionClosed` (outcome
/// unknown), not after its (long) timeout.
/// Method: start an `Ignore` call with a 10 s timeout, wait until the core has counted it, kill
/// the node; the call must end well inside the scenario bound.
#[tokio::test]
async fn call_in_flight_fails_when_the_server_dies() {
    let (mut nodes, addrs) = cluster(1).await;
    let node = nodes.remove(0);
    let client = RpcClient::<Req, Resp>::new(addrs[0]);
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.call(Req::Ignore, Duration::from_secs(10)).await }
    });
    bounded(async {
        while node.call(|core, _| core.ignored).await.expect("running") == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    node.kill();
    let err = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("the call ends when the connection drops")
        .expect("call task")
        .expect_err("no answer");
    assert!(matches!(err, RpcError::ConnectionClosed), "{err:?}");
    assert!(!err.certainly_not_run());
}
