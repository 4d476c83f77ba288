//! A live node fed garbage closes only the offending connection and keeps serving.

use crate::common::{CALL_TIMEOUT, Msg, REPLY_TIMEOUT, Req, Resp, bounded, cluster, until_ok};
use bytes::BytesMut;
use rpc::codec::encode_frame;
use rpc::{Frame, NodeId, Rng, RpcClient};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type NodeFrame = Frame<Msg, Req, Resp>;

/// One complete frame's bytes.
fn frame_bytes(frame: &NodeFrame) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_frame(frame, &mut buf).expect("test frames encode");
    buf.to_vec()
}

/// Every malformed input, named, with whether to half-close our side after sending it (needed
/// when the bytes alone leave the server waiting for the rest of a frame).
fn garbage(cluster: &[SocketAddr]) -> Vec<(&'static str, Vec<u8>, bool)> {
    let hello = |from| Frame::Hello {
        from: NodeId(from),
        cluster: cluster.to_vec(),
    };
    let mut reordered = cluster.to_vec();
    reordered.reverse();
    let mut rng = Rng::new(0x6a72_6261_6765);
    let random: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    let mut hello_then_request = frame_bytes(&hello(1));
    hello_then_request.extend(frame_bytes(&Frame::Request {
        id: 1,
        body: Req::Echo("sneaky".into()),
    }));
    let mut request_then_peer = frame_bytes(&Frame::Request {
        id: 1,
        body: Req::Echo("fine".into()),
    });
    request_then_peer.extend(frame_bytes(&Frame::Peer(Msg::Ping { seq: 1 })));
    vec![
        ("random bytes", random, true),
        (
            "truncated frame",
            vec![0, 0, 0, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            true,
        ),
        (
            "oversized length prefix",
            vec![0xFF, 0xFF, 0xFF, 0xFF],
            false,
        ),
        (
            "undecodable body",
            vec![0, 0, 0, 3, 0x09, 0x01, 0x02],
            false,
        ),
        ("empty frame", vec![0, 0, 0, 0], false),
        (
            "response as first frame",
            frame_bytes(&Frame::Response {
                id: 7,
                body: Resp::Stored,
            }),
            false,
        ),
        (
            "hello from outside the cluster",
            frame_bytes(&hello(7)),
            false,
        ),
        ("hello from the node itself", frame_bytes(&hello(0)), false),
        (
            "hello listing the cluster in another order",
            frame_bytes(&Frame::Hello {
                from: NodeId(1),
                cluster: reordered,
            }),
            false,
        ),
        ("request on a peer connection", hello_then_request, false),
        (
            "peer message on a client connection",
            request_then_peer,
            false,
        ),
    ]
}

/// Sends `bytes` on a fresh connection and waits until the server closes it.
async fn send_and_expect_close(addr: SocketAddr, bytes: &[u8], half_close: bool) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may close before reading everything: a failed write is part of the outcome.
    let _ = stream.write_all(bytes).await;
    if half_close {
        let _ = stream.shutdown().await;
    }
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => continue, // an answer to a valid request before the bad frame
        }
    }
}

/// Goal: malformed input closes only its own connection, with the node still serving: random
/// bytes, a truncated frame, an oversized length prefix (0xFFFFFFFF, refused before allocating),
/// an undecodable or empty body, and well-formed frames of the wrong kind.
/// Method: a 2-node cluster; an `RpcClient` connected before the garbage; each garbage input on
/// its own raw connection must be closed by the server (bounded). Afterwards the old connection
/// and a brand-new one both answer, and the node counted one refused connection per input.
#[tokio::test]
async fn garbage_closes_only_its_connection() {
    let (nodes, addrs) = cluster(2).await;
    // A quorum at node 1 needs its connection to node 0: after it, node 0 accepts no more peers.
    let at_1 = RpcClient::<Req, Resp>::new(addrs[1]);
    bounded(until_ok(|| at_1.call(Req::Quorum, CALL_TIMEOUT))).await;
    let before = RpcClient::<Req, Resp>::new(addrs[0]);
    let echo = |text: &str| Req::Echo(text.to_string());
    bounded(before.call(echo("before"), REPLY_TIMEOUT))
        .await
        .expect("healthy node");
    let accepted_before = nodes[0].stats().connections_accepted;

    let inputs = garbage(&addrs);
    for (name, bytes, half_close) in &inputs {
        let sent = send_and_expect_close(addrs[0], bytes, *half_close);
        tokio::time::timeout(crate::common::SCENARIO_BOUND, sent)
            .await
            .unwrap_or_else(|_| panic!("server did not close the connection after {name}"));
    }

    let again = bounded(before.call(echo("again"), REPLY_TIMEOUT))
        .await
        .expect("old connection works");
    assert_eq!(
        again,
        Resp::Echo {
            from: NodeId(0),
            text: "again".into()
        }
    );
    let fresh = RpcClient::<Req, Resp>::new(addrs[0]);
    bounded(fresh.call(echo("fresh"), REPLY_TIMEOUT))
        .await
        .expect("new connection works");

    let stats = nodes[0].stats();
    assert_eq!(
        stats.connections_refused,
        inputs.len() as u64,
        "one refusal per input: {stats:?}"
    );
    let garbage_and_fresh = inputs.len() as u64 + 1;
    assert_eq!(
        stats.connections_accepted,
        accepted_before + garbage_and_fresh,
        "the old client never redialled"
    );
}

/// Goal: a connection that never sends its first frame is closed after
/// [`rpc::runtime::FIRST_FRAME_TIMEOUT`], so idle connections cannot use up the listener's
/// slots. Method: a 1-node cluster under paused tokio time (the clock jumps when every task
/// waits, so no real 10 s pass); a raw connection sends nothing and must see the server close
/// it, and a client connection made afterwards still works.
#[tokio::test(start_paused = true)]
async fn silent_connection_is_closed_after_the_first_frame_timeout() {
    let (_nodes, addrs) = cluster(1).await;
    let started = tokio::time::Instant::now();
    let mut silent = TcpStream::connect(addrs[0]).await.expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(rpc::runtime::FIRST_FRAME_TIMEOUT * 2, silent.read(&mut buf))
        .await
        .expect("the server closes a silent connection");
    assert!(matches!(read, Ok(0) | Err(_)), "nothing is sent to it");
    assert!(
        started.elapsed() >= rpc::runtime::FIRST_FRAME_TIMEOUT,
        "closed after the timeout, not before"
    );
    let fresh = RpcClient::<Req, Resp>::new(addrs[0]);
    let answer = fresh
        .call(Req::Echo("after".into()), REPLY_TIMEOUT)
        .await
        .expect("the node still serves");
    assert_eq!(
        answer,
        Resp::Echo {
            from: NodeId(0),
            text: "after".into()
        }
    );
}
