//! SPEC §4.3 TestPartition1 over real TCP, with the handout's own tool (SPEC §1.5): s1 reaches
//! the view service through a proxy that the test cuts, and everybody reaches s1 through a
//! second proxy that holds each new connection for a while (the slow proxy). The Get sent to s1
//! through the slow proxy arrives after s2 took over and a=111 was written: it must not
//! return "1".

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

/// Lab 2B TestPartition1 ("Old primary does not serve Gets") over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_partition1_old_primary_does_not_serve_gets() {
    let vs_listener = bind().await;
    let vs_addr = vs_listener.local_addr().expect("addr");
    let _vs = ViewServer::spawn(vs_listener).expect("view service");
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
    let put = |v: &str| Op::Put {
        key: "a".into(),
        value: v.into(),
    };
    clerk.run(put("1"), OP_DEADLINE).await.expect("put a=1");

    to_vs.set_cut(true);
    to_s1.set_delay(Duration::from_secs(3));
    let stale: RpcClient<PbRequest, PbResponse> = RpcClient::new(to_s1.addr());
    let get = PbRequest::Op(OpRequest {
        client: 12,
        seq: 1,
        op: Op::Get { key: "a".into() },
    });
    let delayed = tokio::spawn(async move { stale.call(get, Duration::from_millis(4_500)).await });
    wait_until("s2 primary", async || {
        s2.is_serving().await.unwrap_or(false)
    })
    .await;
    let mut fresh = TcpClerk::new(13, vs_addr);
    fresh.run(put("111"), OP_DEADLINE).await.expect("put a=111");

    let answer = delayed.await.expect("task");
    if let Ok(PbResponse::Op { result, .. }) = &answer {
        assert_ne!(
            result.as_deref(),
            Ok("1"),
            "the old primary served a stale Get"
        );
    }
    let got = fresh
        .run(Op::Get { key: "a".into() }, OP_DEADLINE)
        .await
        .expect("get");
    assert_eq!(got, "111");
}
