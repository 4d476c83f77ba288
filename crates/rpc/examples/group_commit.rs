//! How many fsyncs a syncing input costs under concurrent requesters: a one-node log whose every
//! request appends a 100-byte record and syncs before replying (a Paxos acceptor's shape), driven
//! by `CLIENTS` requesters in a closed loop for `SECONDS`. Prints requests per second, the mean
//! latency, and the node's disk counters: with group commit, fsyncs per request fall well below
//! one once requesters queue up behind an fsync.
//!
//! Usage: `cargo run --release -p rpc --example group_commit -- [CLIENTS] [SECONDS] [DIR]`
//! (defaults 64, 3, and the system temp dir). The log goes to a fresh directory inside `DIR`,
//! removed afterwards. Put `DIR` on the disk you want to measure: on tmpfs an fsync is free.
#![allow(clippy::disallowed_methods)] // A load generator: latencies are wall-clock time.

use rpc::{Node, NodeConfig, NodeId, NodeOutbox, ReqId, bind_loopback, spawn_node};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Appends each request's record to `log`, syncs, and answers with the record count.
struct Log {
    records: u64,
}

impl Node for Log {
    type Msg = ();
    type Req = Vec<u8>;
    type Resp = u64;

    fn on_message(&mut self, _from: NodeId, (): (), _out: &mut NodeOutbox<Self>) {}

    fn on_request(&mut self, req: ReqId, record: Vec<u8>, out: &mut NodeOutbox<Self>) {
        out.append("log", rpc::encode_record(&record));
        out.sync();
        self.records += 1;
        out.reply(req, self.records);
    }

    fn on_tick(&mut self, _out: &mut NodeOutbox<Self>) {}
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let clients: usize = args.get(1).map_or(64, |s| s.parse().expect("CLIENTS"));
    let seconds: u64 = args.get(2).map_or(3, |s| s.parse().expect("SECONDS"));
    let base = args
        .get(3)
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let dir = base.join(format!("dsys-group-commit-{}", std::process::id()));
    let (mut listeners, peers) = bind_loopback(1).await.expect("bind");
    let config = NodeConfig {
        id: NodeId(0),
        listener: listeners.remove(0),
        peers,
        tick: Duration::from_millis(100),
        data_dir: Some(dir.clone()),
    };
    let node = Arc::new(spawn_node(Log { records: 0 }, config));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let requesters: Vec<_> = (0..clients)
        .map(|_| {
            let node = node.clone();
            tokio::spawn(async move {
                let (mut done, mut waited) = (0u64, Duration::ZERO);
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    node.request(vec![0xAB; 100]).await.expect("node running");
                    waited += sent.elapsed();
                    done += 1;
                }
                (done, waited)
            })
        })
        .collect();
    let (mut requests, mut waited) = (0u64, Duration::ZERO);
    for requester in requesters {
        let (done, time) = requester.await.expect("requester");
        requests += done;
        waited += time;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = node.stats();
    let per = |n: u64, d: u64| n as f64 / d.max(1) as f64;
    println!(
        "clients {clients}: {requests} requests in {elapsed:.1} s = {:.0}/s, mean latency {:.0} µs",
        requests as f64 / elapsed,
        waited.as_secs_f64() * 1e6 / requests.max(1) as f64,
    );
    println!(
        "syncs {}, fsyncs {} ({:.3} per request), group commits {} ({:.1} inputs each)",
        stats.disk_syncs,
        stats.disk_fsyncs,
        per(stats.disk_fsyncs, requests),
        stats.group_commits,
        per(stats.group_commit_inputs, stats.group_commits),
    );
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
