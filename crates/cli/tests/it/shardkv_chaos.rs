//! The sharded store as real processes under load, reconfiguration and crashes (issue 13,
//! "Real processes"): 3 `dsys shardmaster serve` and 3 groups of 3 durable `dsys shardkv serve
//! --resp`, four clients speaking RESP to the replicas' front doors. While they run, groups 2
//! and 3 join, one replica of every group is SIGKILLed and restarted on its data directory,
//! two shards move and group 1 leaves. Every operation is recorded with wall-clock times and
//! the whole history must be linearizable.

#![allow(clippy::disallowed_methods)] // Real processes: the history's clock is the wall clock.

use super::kv_cluster::{Scratch, free_addrs};
use super::resp_history::client;
use super::shardkv_procs::{Proc, list, spawn, start_with_retries};
use check::{Budget, History, check_kv};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clients running at once.
const CLIENTS: u64 = 4;
/// Time between two events of the script.
const STEP: Duration = Duration::from_millis(600);
/// One command's deadline at the client: past the front door's own (5 s, then `-TIMEOUT`).
const OP_DEADLINE: Duration = Duration::from_secs(8);

/// One server: how to start it again, and the running process.
struct Server {
    args: Vec<String>,
    ready: String,
    proc: Option<Proc>,
}

impl Server {
    fn start(&mut self) -> Result<(), String> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.proc = Some(spawn(&args, &self.ready)?);
        Ok(())
    }
}

struct Cluster {
    masters: String,
    /// Each group's peer list.
    groups: Vec<String>,
    /// Group g's replica i is `servers[3 * g + i]`.
    servers: Vec<Server>,
    fronts: Vec<SocketAddr>,
    _masters: Vec<Proc>,
}

fn start(root: &Scratch) -> Result<Cluster, String> {
    let addrs = free_addrs(21);
    let masters = list(&addrs[..3]);
    let mut master_procs = Vec::new();
    for id in 0..3 {
        let id = id.to_string();
        let args = ["shardmaster", "serve", "--id", &id, "--peers", &masters];
        master_procs.push(spawn(
            &[&args[..], &["--in-memory"]].concat(),
            "shardmaster replica",
        )?);
    }
    let groups: Vec<String> = (0..3).map(|g| list(&addrs[3 + 3 * g..6 + 3 * g])).collect();
    let fronts = addrs[12..21].to_vec();
    let mut servers = Vec::new();
    for (g, peers) in groups.iter().enumerate() {
        let gid = (g + 1).to_string();
        for id in 0..3 {
            let dir = root.path().join(format!("g{gid}-{id}"));
            let args: Vec<String> = [
                "shardkv",
                "serve",
                "--gid",
                &gid,
                "--id",
                &id.to_string(),
                "--peers",
                peers,
                "--shardmaster",
                &masters,
                "--resp",
                &fronts[3 * g + id].to_string(),
                "--data-dir",
                &dir.to_string_lossy(),
            ]
            .into_iter()
            .map(String::from)
            .collect();
            let mut server = Server {
                args,
                ready: format!("shardkv group {gid} replica {id} listening"),
                proc: None,
            };
            server.start()?;
            servers.push(server);
        }
    }
    Ok(Cluster {
        masters,
        groups,
        servers,
        fronts,
        _masters: master_procs,
    })
}

/// Runs `dsys shardmaster --servers M ARGS`, which must succeed.
fn admin(masters: &str, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args(["shardmaster", "--servers", masters, "--timeout", "10"])
        .args(args)
        .output()
        .expect("run dsys");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shardkv_history_stays_linearizable_through_moves_and_kills() {
    let root = Scratch::new("shardkv-chaos");
    let mut c = start_with_retries(|| start(&root));
    let m = c.masters.clone();
    admin(&m, &["join", "1", &c.groups[0]]);

    let history = Arc::new(Mutex::new(History::new()));
    let start = Instant::now();
    let stop = start + STEP * 7;
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..CLIENTS {
        tasks.spawn(client(
            id,
            c.fronts.clone(),
            history.clone(),
            start,
            stop,
            OP_DEADLINE,
        ));
    }
    let step = async |n: u32| tokio::time::sleep_until((start + STEP * n).into()).await;
    step(1).await;
    let g2 = c.groups[1].clone();
    tokio::task::block_in_place(|| admin(&m, &["join", "2", &g2]));
    step(2).await;
    let g3 = c.groups[2].clone();
    tokio::task::block_in_place(|| admin(&m, &["join", "3", &g3]));
    step(3).await;
    // SIGKILL replica 2 of every group, then start each again on its directory.
    for g in 0..3 {
        c.servers[3 * g + 2].proc = None;
    }
    let killed_at = history.lock().expect("lock").len();
    step(4).await;
    tokio::task::block_in_place(|| {
        for g in 0..3 {
            c.servers[3 * g + 2]
                .start()
                .expect("a restart on its directory");
        }
        admin(&m, &["move", "0", "3"]);
        admin(&m, &["move", "1", "2"]);
    });
    step(5).await;
    tokio::task::block_in_place(|| admin(&m, &["leave", "1"]));

    let (completed, history) = super::kv_cluster::join_clients(tasks, history).await;
    let after_kill = history.len() - killed_at;
    assert!(completed >= 50, "only {completed} commands completed");
    assert!(
        after_kill >= 20,
        "only {after_kill} commands started after the kills"
    );
    check_kv(&history, Budget::default()).assert_linearizable();
}
