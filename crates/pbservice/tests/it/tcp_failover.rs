//! The service over real TCP on 127.0.0.1, in one process: view service, servers registered by
//! address, a clerk; the primary is killed and the backup takes over with every value.

use pbservice::{Op, PbServer, TcpClerk};
use std::time::Duration;
use tokio::net::TcpListener;
use viewservice::ViewServer;

const OP_DEADLINE: Duration = Duration::from_secs(10);

async fn server(vs: std::net::SocketAddr) -> PbServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    PbServer::spawn(listener, vs, addr)
}

/// Waits (by polling the server's own state, bounded) until `server` serves as primary.
async fn wait_serving(server: &PbServer) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !server.is_serving().await.expect("server up") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("server became primary within 10 s");
}

/// Lab 2B over TCP: s1 primary, s2 backup; Puts and an Append; kill s1; s2 takes over and
/// serves every value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_primary_failover() {
    let vs_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let vs_addr = vs_listener.local_addr().expect("addr");
    let _vs = ViewServer::spawn(vs_listener).expect("view service");
    let s1 = server(vs_addr).await;
    wait_serving(&s1).await;
    let s2 = server(vs_addr).await;
    let mut clerk = TcpClerk::new(7, vs_addr);
    let put = |k: &str, v: &str| Op::Put {
        key: k.into(),
        value: v.into(),
    };
    let get = |k: &str| Op::Get { key: k.into() };
    clerk.run(put("a", "1"), OP_DEADLINE).await.expect("put");
    // Wait until s2 is backup in s1's view and synced: a Put then goes through both.
    tokio::time::timeout(Duration::from_secs(10), async {
        while s1.view().await.expect("up").backup.is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("s2 became backup");
    clerk.run(put("b", "2"), OP_DEADLINE).await.expect("put");
    let append = Op::Append {
        key: "b".into(),
        value: "x".into(),
    };
    clerk.run(append, OP_DEADLINE).await.expect("append");
    s1.kill();
    wait_serving(&s2).await;
    assert_eq!(clerk.run(get("a"), OP_DEADLINE).await.expect("get"), "1");
    assert_eq!(clerk.run(get("b"), OP_DEADLINE).await.expect("get"), "2x");
    assert_eq!(clerk.run(get("zz"), OP_DEADLINE).await.expect("get"), "");
}
