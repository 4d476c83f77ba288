//! A whole cluster over loopback TCP in one process: 3 shard master replicas and two groups
//! of 3 shardkv servers, driven by the TCP clerk. Checks that the real runtime carries the
//! hand-off (messages by address between groups) and the shard master polling: keys written
//! with one group stay readable after a second group joins and takes half the shards, and
//! after the first leaves.

use kvpaxos::msg::{KvCommand, KvOutput};
use kvstore::Op;
use rpc::NodeId;
use rsm::server::Storage;
use shardkv::Mapping;
use shardkv::server::{DIR_NAMES, Server, ServerConfig};
use shardkv::tcp_clerk::TcpClerk;
use shardmaster::{Gid, Reply};
use std::net::SocketAddr;
use std::time::Duration;

/// The deadline of one operation: generous for a loaded CI machine; a correct run takes
/// milliseconds, or a few polls of 250 ms after a reconfiguration.
const OP_DEADLINE: Duration = Duration::from_secs(20);

/// Starts the 3 servers of group `gid` on loopback.
async fn group(gid: Gid, shardmasters: &[SocketAddr]) -> Vec<Server> {
    let (listeners, peers) = rpc::bind_loopback(3).await.expect("bind");
    listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let rsm = rsm::server::ServerConfig {
                id: NodeId(i as u32),
                peers: peers.clone(),
                listener,
                seed: gid.0 as u64 * 10 + i as u64,
                storage: Storage::InMemory,
                names: DIR_NAMES,
                config: rsm::Config::default(),
            };
            let config = ServerConfig {
                rsm,
                gid,
                mapping: Mapping::Hash,
                shardmasters: shardmasters.to_vec(),
            };
            Server::spawn(config).expect("a server starts")
        })
        .collect()
}

async fn admin(clerk: &mut shardmaster::server::TcpClerk, op: shardmaster::Op) -> Reply {
    clerk
        .run(op, OP_DEADLINE)
        .await
        .expect("the shard master answers")
        .expect("the change is valid")
}

async fn run(clerk: &mut TcpClerk, op: Op) -> String {
    match clerk
        .run(KvCommand::Lab(op), OP_DEADLINE)
        .await
        .expect("answered")
    {
        KvOutput::Lab(text) => text,
        other => panic!("a lab answer, not {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_survive_joins_and_leaves_over_tcp() {
    let masters = shardmaster::server::local_cluster(3).await.expect("bind");
    let master_addrs: Vec<SocketAddr> = masters.iter().map(|m| m.addr()).collect();
    let (g1, g2) = (Gid(1), Gid(2));
    let group1 = group(g1, &master_addrs).await;
    let group2 = group(g2, &master_addrs).await;
    let servers = |g: &[Server]| g.iter().map(|s| s.addr().to_string()).collect::<Vec<_>>();
    let mut sm = shardmaster::server::TcpClerk::new(&master_addrs);
    admin(
        &mut sm,
        shardmaster::Op::Join {
            gid: g1,
            servers: servers(&group1),
        },
    )
    .await;
    let mut kv = TcpClerk::new(&master_addrs, Mapping::Hash);
    let keys: Vec<String> = (0..20).map(|i| format!("user:{i}")).collect();
    for key in &keys {
        let put = Op::Put {
            key: key.clone(),
            value: format!("v-{key}"),
        };
        run(&mut kv, put).await;
    }
    admin(
        &mut sm,
        shardmaster::Op::Join {
            gid: g2,
            servers: servers(&group2),
        },
    )
    .await;
    for key in &keys {
        let append = Op::Append {
            key: key.clone(),
            value: "+".into(),
        };
        run(&mut kv, append).await;
    }
    admin(&mut sm, shardmaster::Op::Leave { gid: g1 }).await;
    for key in &keys {
        let got = run(&mut kv, Op::Get { key: key.clone() }).await;
        assert_eq!(got, format!("v-{key}+"), "{key} after group 1 left");
    }
    // Group 2 holds every shard now, and group 1 none (deleted once handed off).
    let latest = match admin(&mut sm, shardmaster::Op::Query { num: -1 }).await {
        Reply::Config(c) => c,
        other => panic!("{other:?}"),
    };
    // Every replica of group 2 reaches the latest configuration, and group 1 deletes each
    // shard once group 2 confirms it has it: poll, with a deadline.
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    let deadline = tokio::time::Instant::now() + OP_DEADLINE;
    loop {
        let mut held = 0;
        for server in &group1 {
            held += server
                .inspect(|n| n.state().shards().count())
                .await
                .expect("running");
        }
        let mut behind = 0;
        for server in &group2 {
            let num = server
                .inspect(|n| n.state().config_num())
                .await
                .expect("running");
            behind += usize::from(num != latest.num);
        }
        if held == 0 && behind == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "group 1 still holds {held} shards; {behind} replicas of group 2 are behind"
        );
        poll.tick().await;
    }
}
