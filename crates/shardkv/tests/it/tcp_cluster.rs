//! A whole cluster over loopback TCP in one process: 3 shard master replicas and two groups
//! of 3 shardkv servers, driven by the TCP clerk. Checks that the real runtime carries the
//! hand-off (messages by address between groups) and the shard master polling: keys written
//! with one group stay readable after a second group joins and takes half the shards, and
//! after the first leaves. Then the same through the Redis front doors of the replicas: any
//! key on any replica, pipelines across shards in order, commands across shards refused.

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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The deadline of one operation: generous for a loaded CI machine; a correct run takes
/// milliseconds, or a few polls of 250 ms after a reconfiguration.
const OP_DEADLINE: Duration = Duration::from_secs(20);

/// Starts the 3 servers of group `gid` on loopback, each with a RESP front door if `resp`.
async fn group(gid: Gid, shardmasters: &[SocketAddr], resp: bool) -> Vec<Server> {
    let (listeners, peers) = rpc::bind_loopback(3).await.expect("bind");
    let mut fronts = Vec::new();
    for _ in 0..3 {
        fronts.push(if resp {
            Some(TcpListener::bind("127.0.0.1:0").await.expect("bind"))
        } else {
            None
        });
    }
    listeners
        .into_iter()
        .zip(fronts)
        .enumerate()
        .map(|(i, (listener, resp))| {
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
                resp,
            };
            Server::spawn(config).expect("a server starts")
        })
        .collect()
}

/// The shard master's replicas and two groups (each server with a RESP front door if
/// `resp`), group 1 joined.
struct TwoGroups {
    _masters: Vec<shardmaster::server::ShardServer>,
    master_addrs: Vec<SocketAddr>,
    g1: Gid,
    g2: Gid,
    group1: Vec<Server>,
    group2: Vec<Server>,
    /// A clerk of the shard master.
    sm: shardmaster::server::TcpClerk,
}

async fn two_groups(resp: bool) -> TwoGroups {
    let masters = shardmaster::server::local_cluster(3).await.expect("bind");
    let master_addrs: Vec<SocketAddr> = masters.iter().map(|m| m.addr()).collect();
    let (g1, g2) = (Gid(1), Gid(2));
    let group1 = group(g1, &master_addrs, resp).await;
    let group2 = group(g2, &master_addrs, resp).await;
    let mut sm = shardmaster::server::TcpClerk::new(&master_addrs);
    let servers = group1.iter().map(|s| s.addr().to_string()).collect();
    admin(&mut sm, shardmaster::Op::Join { gid: g1, servers }).await;
    TwoGroups {
        _masters: masters,
        master_addrs,
        g1,
        g2,
        group1,
        group2,
        sm,
    }
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
    let TwoGroups {
        _masters,
        master_addrs,
        g1,
        g2,
        group1,
        group2,
        mut sm,
    } = two_groups(false).await;
    let servers = |g: &[Server]| g.iter().map(|s| s.addr().to_string()).collect::<Vec<_>>();
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

/// Sends `commands` (inline RESP, one per line) on `stream` as one pipeline and reads until
/// `done` says the replies so far are all, bounded by [`OP_DEADLINE`].
async fn send(stream: &mut TcpStream, commands: &[String], done: impl Fn(&str) -> bool) -> String {
    let mut sent = commands.join("\r\n");
    sent.push_str("\r\n");
    stream.write_all(sent.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while !done(&String::from_utf8_lossy(&got)) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(OP_DEADLINE, read)
        .await
        .expect("answered in time");
    String::from_utf8(got).expect("text replies")
}

/// [`send`], reading until `lines` reply lines arrived.
async fn pipeline(stream: &mut TcpStream, commands: &[String], lines: usize) -> String {
    send(stream, commands, |got| got.matches('\n').count() >= lines).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_key_through_any_front_door() {
    let TwoGroups {
        _masters,
        g2,
        group1,
        group2,
        mut sm,
        ..
    } = two_groups(true).await;
    let servers = |g: &[Server]| g.iter().map(|s| s.addr().to_string()).collect::<Vec<_>>();
    let front = |s: &Server| TcpStream::connect(s.resp_addr().expect("a front door"));

    // Group 2 owns nothing yet: its front door sends every key to group 1. One pipeline over
    // many shards, answered in order.
    let keys: Vec<String> = (0..20).map(|i| format!("user:{i}")).collect();
    let mut c = front(&group2[0]).await.expect("connect");
    let sets: Vec<String> = keys.iter().map(|k| format!("SET {k} v-{k}")).collect();
    assert_eq!(
        pipeline(&mut c, &sets, keys.len()).await,
        "+OK\r\n".repeat(keys.len())
    );

    admin(
        &mut sm,
        shardmaster::Op::Join {
            gid: g2,
            servers: servers(&group2),
        },
    )
    .await;
    // Appends through a replica of group 1, reads through another of group 2: both groups
    // serve half the shards now, and every key is where the front doors find it.
    let mut c = front(&group1[1]).await.expect("connect");
    let appends: Vec<String> = keys.iter().map(|k| format!("APPEND {k} +")).collect();
    let got = pipeline(&mut c, &appends, keys.len()).await;
    for (key, line) in keys.iter().zip(got.lines()) {
        assert_eq!(
            line,
            format!(":{}", format!("v-{key}+").len()),
            "APPEND {key}: {got}"
        );
    }
    let mut c = front(&group2[2]).await.expect("connect");
    for key in &keys {
        let value = format!("v-{key}+");
        let got = pipeline(&mut c, &[format!("GET {key}")], 2).await;
        assert_eq!(got, format!("${}\r\n{value}\r\n", value.len()), "GET {key}");
    }

    // What spans shards runs nowhere; what names no key cannot run on one group; a missing
    // key is nil; INFO says which group this replica is in.
    let spanning = format!("MSET {} x {} y", keys[0], keys[1]);
    let got = pipeline(&mut c, &[spanning, "DBSIZE".into(), "GET nobody".into()], 3).await;
    let lines: Vec<&str> = got.lines().collect();
    assert!(lines[0].starts_with("-CROSSSLOT "), "{got}");
    assert!(lines[1].starts_with("-ERR "), "{got}");
    assert_eq!(lines[2], "$-1", "{got}");
    let got = pipeline(&mut c, &[format!("GET {}", keys[0])], 2).await;
    assert!(
        got.contains(&format!("v-{}+", keys[0])),
        "the MSET changed nothing: {got}"
    );
    let info = send(&mut c, &["INFO replication".into()], |got| {
        got.contains("applied_slots:")
    })
    .await;
    assert!(
        info.contains("gid:2\r\n") && info.contains("role:"),
        "{info}"
    );
}
