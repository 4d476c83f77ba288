//! SPEC §4.3 TestPartition1 and TestPartition2 over real TCP, with the handout's own tool
//! (SPEC §1.5): s1 reaches the view service through a proxy that the test cuts, and everybody
//! reaches s1 through a second proxy that holds each new connection for a while (the slow
//! proxy). The Get sent to s1 through the slow proxy arrives after s2 took over and newer
//! values were written (and, in TestPartition2, after s2 died too): it must not return "1".

#![allow(clippy::disallowed_methods)] // Real TCP: the scenario is timed by the wall clock.

use pbservice::{Op, OpRequest, PbRequest, PbResponse, PbServer, TcpClerk};
use rpc::{Proxy, RpcClient};
use std::time::Duration;
use tokio::net::TcpListener;
use viewservice::ViewServer;

const OP_DEADLINE: Duration = Duration::from_secs(10);

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind")
}

/// Polls `cond` every 20 ms for at most 10 s.
async fn wait_until(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !cond().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within 10 s"));
}

/// The shared start of TestPartition1 and 2 over TCP: s1 primary and s2 backup with a=1; then
/// s1 is cut from the view service and a Get for "a" is sent to s1 through the slow proxy
/// (held `hold`); returns once s2 has taken over.
struct Partitioned {
    vs: std::net::SocketAddr,
    _view_service: ViewServer,
    _proxies: (Proxy, Proxy),
    _s1: PbServer,
    s2: PbServer,
    /// The Get held back on its way to s1.
    delayed: tokio::task::JoinHandle<Result<PbResponse, rpc::RpcError>>,
    /// When it was sent, and how long the proxy holds it.
    sent: std::time::Instant,
    hold: Duration,
}

async fn partition_s1(hold: Duration) -> Partitioned {
    let vs_listener = bind().await;
    let vs_addr = vs_listener.local_addr().expect("addr");
    let view_service = ViewServer::spawn(vs_listener).expect("view service");
    // s1 pings through `to_vs`; everybody reaches s1 through `to_s1` (its advertised address).
    let to_vs = Proxy::spawn(bind().await, vs_addr).expect("proxy");
    let s1_listener = bind().await;
    let s1_addr = s1_listener.local_addr().expect("addr");
    let to_s1 = Proxy::spawn(bind().await, s1_addr).expect("proxy");
    let s1 = PbServer::spawn(s1_listener, to_vs.addr(), to_s1.addr().to_string());
    wait_until("s1 primary", async || {
        s1.is_serving().await.unwrap_or(false)
    })
    .await;
    let s2_listener = bind().await;
    let s2_addr = s2_listener.local_addr().expect("addr").to_string();
    let s2 = PbServer::spawn(s2_listener, vs_addr, s2_addr);
    let mut clerk = TcpClerk::new(11, vs_addr);
    wait_until("s2 backup", async || {
        s1.view().await.is_ok_and(|v| v.backup.is_some())
    })
    .await;
    clerk.run(put("1"), OP_DEADLINE).await.expect("put a=1");

    to_vs.set_cut(true);
    to_s1.set_delay(hold);
    let stale: RpcClient<PbRequest, PbResponse> = RpcClient::new(to_s1.addr());
    let get = PbRequest::Op(OpRequest {
        client: 12,
        seq: 1,
        op: Op::Get { key: "a".into() },
    });
    let answer_within = hold + Duration::from_millis(1_500);
    let sent = std::time::Instant::now();
    let delayed = tokio::spawn(async move { stale.call(get, answer_within).await });
    wait_until("s2 primary", async || {
        s2.is_serving().await.unwrap_or(false)
    })
    .await;
    Partitioned {
        vs: vs_addr,
        _view_service: view_service,
        _proxies: (to_vs, to_s1),
        _s1: s1,
        s2,
        delayed,
        sent,
        hold,
    }
}

fn put(value: &str) -> Op {
    Op::Put {
        key: "a".into(),
        value: value.into(),
    }
}

/// The held Get, once it reached s1: it may fail, but must not return the stale "1".
async fn assert_not_stale(delayed: tokio::task::JoinHandle<Result<PbResponse, rpc::RpcError>>) {
    let answer = delayed.await.expect("task");
    if let Ok(PbResponse::Op { result, .. }) = &answer {
        assert_ne!(
            result.as_deref(),
            Ok("1"),
            "the old primary served a stale Get"
        );
    }
}

/// Lab 2B TestPartition1 ("Old primary does not serve Gets") over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_partition1_old_primary_does_not_serve_gets() {
    let p = partition_s1(Duration::from_secs(3)).await;
    let mut fresh = TcpClerk::new(13, p.vs);
    fresh.run(put("111"), OP_DEADLINE).await.expect("put a=111");
    assert_not_stale(p.delayed).await;
    let got = fresh
        .run(Op::Get { key: "a".into() }, OP_DEADLINE)
        .await
        .expect("get");
    assert_eq!(got, "111");
}

/// Lab 2B TestPartition2 ("Partitioned old primary does not complete Gets") over TCP: after s2
/// takes over, s3 joins as its backup, a=2 is written and s2 is killed; the Get held back on
/// its way to s1 must still not return "1".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_partition2_old_primary_does_not_complete_gets() {
    let p = partition_s1(Duration::from_secs(4)).await;
    let s3_listener = bind().await;
    let s3_addr = s3_listener.local_addr().expect("addr").to_string();
    let _s3 = PbServer::spawn(s3_listener, p.vs, s3_addr);
    wait_until("s3 backup", async || {
        p.s2.view().await.is_ok_and(|v| v.backup.is_some())
    })
    .await;
    let mut fresh = TcpClerk::new(13, p.vs);
    fresh.run(put("2"), OP_DEADLINE).await.expect("put a=2");
    p.s2.kill();
    assert!(
        p.sent.elapsed() < p.hold,
        "the scenario took longer than the Get was held: it reached s1 too early to test"
    );
    assert_not_stale(p.delayed).await;
}
