//! The view service over real TCP: servers ping as clients and are known by their addresses.

use rpc::RpcClient;
use std::time::Duration;
use viewservice::{ViewNum, ViewReply, ViewServer, VsRequest};

const CALL: Duration = Duration::from_secs(5);

/// Two servers register by address: the first becomes primary, the second backup once the
/// primary acknowledges; the view carries both addresses and a `Get` does not count as a ping.
#[tokio::test]
async fn tcp_servers_register_by_address() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let service = ViewServer::spawn(listener).expect("spawn");
    let client: RpcClient<VsRequest, ViewReply> = RpcClient::new(addr);
    let ping = |viewnum, who: &str| VsRequest::Ping {
        viewnum: ViewNum(viewnum),
        addr: who.to_string(),
    };
    let r = client.call(ping(0, "s1:1"), CALL).await.expect("ping");
    assert_eq!(r.view.num, ViewNum(1));
    assert_eq!(r.view.primary, r.you);
    assert_eq!(r.primary_addr, "s1:1");
    let r2 = client.call(ping(0, "s2:2"), CALL).await.expect("ping");
    assert_ne!(r2.you, r.you);
    client.call(ping(1, "s1:1"), CALL).await.expect("ping");
    let got = client.call(VsRequest::Get, CALL).await.expect("get");
    assert_eq!(got.view.num, ViewNum(2));
    assert_eq!(got.you, None);
    assert_eq!(
        (got.primary_addr.as_str(), got.backup_addr.as_str()),
        ("s1:1", "s2:2")
    );
    assert_eq!(service.rpc_count().await.expect("count"), 4);
    // Garbage addresses are refused, not stored.
    let r = client
        .call(ping(0, &"x".repeat(10_000)), CALL)
        .await
        .expect("ping");
    assert_eq!(r.you, None);
    service.kill();
}
