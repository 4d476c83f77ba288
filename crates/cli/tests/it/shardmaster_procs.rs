//! The shard master as real processes (issue 12, "Real processes"): three `dsys shardmaster
//! serve` with data directories; joins, leaves and a move through the `dsys shardmaster`
//! client; one replica SIGKILLed (`kill -9`) while changes go on without it, then restarted on
//! its directory. Every replica, asked alone (`--servers` naming only it), must answer the same
//! configurations as JSON, the historical ones included, and the table of the latest; a refused
//! operation exits 1 naming why and changes nothing; SIGINT stops a replica cleanly (exit 0).
//!
//! Every wait polls with a deadline; every process is killed and reaped when the test ends.

#![allow(clippy::disallowed_methods)] // Real processes: waits are bounded by wall-clock time.

use super::kv_cluster::{Scratch, free_addrs};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Every wait (a restarted replica catching up, a stop) is bounded by this.
const WAIT_MAX: Duration = Duration::from_secs(20);
/// The client's own deadline for one operation, in seconds: a leader's death costs an
/// election and a retry or two.
const OP_TIMEOUT_SECS: &str = "10";
/// Attempts to start the cluster: a freed probe port can be taken before a replica binds it.
const START_ATTEMPTS: usize = 3;

/// One `dsys shardmaster serve` process with a data directory. Killed (SIGKILL) and reaped
/// when dropped.
struct Replica {
    child: Child,
    id: usize,
    addr: SocketAddr,
    peers: String,
    dir: PathBuf,
}

impl Replica {
    /// Starts replica `id` of `peers` on `dir` and waits for its listening line.
    fn spawn(id: usize, addr: SocketAddr, peers: &str, dir: PathBuf) -> Result<Replica, String> {
        Ok(Replica {
            child: spawn_child(id, addr, peers, &dir)?,
            id,
            addr,
            peers: peers.to_string(),
            dir,
        })
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on its directory, after [`Replica::kill`].
    fn restart(&mut self) {
        self.child = spawn_child(self.id, self.addr, &self.peers, &self.dir)
            .unwrap_or_else(|why| panic!("restart replica {}: {why}", self.id));
    }
}

/// Spawns `dsys shardmaster serve` for replica `id` on `dir` (its stderr appended to
/// `dir.log`) and waits for its listening line.
fn spawn_child(id: usize, addr: SocketAddr, peers: &str, dir: &Path) -> Result<Child, String> {
    let mut log = dir.as_os_str().to_owned();
    log.push(".log");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| e.to_string())?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args(["shardmaster", "serve", "--id", &id.to_string()])
        .args(["--peers", peers, "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let read = BufReader::new(stdout).read_line(&mut line);
    let expected = format!(
        "shardmaster replica {id} listening on {addr} data {}",
        dir.display()
    );
    if read.is_err() || line.trim_end() != expected {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("replica {id} printed {line:?}, not {expected:?}"));
    }
    Ok(child)
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three durable replicas under `root`, started afresh on new ports if one could not bind.
fn start(root: &Scratch) -> Vec<Replica> {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        let addrs = free_addrs(3);
        let peers = join_addrs(&addrs);
        let mut replicas = Vec::new();
        for (id, addr) in addrs.iter().enumerate() {
            let dir = root.path().join(format!("sm-{id}"));
            let _ = std::fs::remove_dir_all(&dir); // A failed attempt recorded other ports.
            match Replica::spawn(id, *addr, &peers, dir) {
                Ok(replica) => replicas.push(replica),
                Err(why) => {
                    failures.push(why);
                    break;
                }
            }
        }
        if replicas.len() == 3 {
            return replicas;
        }
    }
    panic!("could not start 3 shard master replicas: {failures:#?}");
}

fn join_addrs(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `dsys shardmaster --servers SERVERS ARGS` to completion (bounded by its --timeout).
fn client(servers: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args([
            "shardmaster",
            "--servers",
            servers,
            "--timeout",
            OP_TIMEOUT_SECS,
        ])
        .args(args)
        .output()
        .expect("run dsys shardmaster")
}

/// Runs a client operation that must succeed, and returns its stdout.
fn ok(servers: &str, args: &[&str]) -> String {
    let out = client(servers, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Configuration `num` (or the latest) as JSON, asked of `servers`.
fn query_json(servers: &str, num: Option<u64>) -> serde_json::Value {
    let num = num.map(|n| n.to_string());
    let mut args = vec!["query", "--json"];
    args.extend(num.as_deref());
    serde_json::from_str(&ok(servers, &args)).expect("query --json prints JSON")
}

/// Asks every replica alone for configurations 0 through the latest and the latest table;
/// they must all agree, the latest being `latest`. Returns the configurations.
fn agree(replicas: &[Replica], latest: u64) -> Vec<serde_json::Value> {
    let first = replicas[0].addr.to_string();
    let configs: Vec<_> = (0..=latest).map(|n| query_json(&first, Some(n))).collect();
    assert_eq!(query_json(&first, None), configs[latest as usize]);
    let table = ok(&first, &["query"]);
    for r in &replicas[1..] {
        let alone = r.addr.to_string();
        for (n, config) in configs.iter().enumerate() {
            assert_eq!(
                &query_json(&alone, Some(n as u64)),
                config,
                "replica {} disagrees on configuration {n}",
                r.id
            );
        }
        assert_eq!(ok(&alone, &["query"]), table, "replica {}'s table", r.id);
    }
    assert_eq!(configs[latest as usize]["num"], latest);
    configs
}

/// Shard counts per group differ by at most one, and every shard is at a joined group.
fn assert_balanced(config: &serde_json::Value) {
    let counts: Vec<u64> = config["shards_per_group"]
        .as_object()
        .expect("shards_per_group")
        .values()
        .map(|c| c.as_u64().expect("a count"))
        .collect();
    let (min, max) = (counts.iter().min(), counts.iter().max());
    assert!(
        matches!((min, max), (Some(a), Some(b)) if b - a <= 1),
        "{config}"
    );
    assert_eq!(counts.iter().sum::<u64>(), 64, "{config}");
}

/// Waits until replica `r`, asked alone, answers a query (it has caught up far enough to
/// apply one through the log), within [`WAIT_MAX`].
fn wait_serving(r: &Replica) {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let out = client(&r.addr.to_string(), &["query", "--json"]);
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica {} does not serve after its restart: {}",
            r.id,
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Joins, leaves and a move through the CLI on three durable replicas, one of them killed and
/// restarted on its directory; every replica answers every configuration alike.
#[test]
fn shardmaster_replicas_agree_through_a_kill_and_restart() {
    let root = Scratch::new("shardmaster-procs");
    let mut replicas = start(&root);
    let all = replicas[0].peers.clone();

    assert_eq!(ok(&all, &["join", "1", "g1-a:7000"]), "configuration 1\n");
    assert_eq!(
        ok(&all, &["join", "2", "g2-a:7000,g2-b:7000"]),
        "configuration 2\n"
    );
    assert_eq!(ok(&all, &["join", "3", "g3-a:7000"]), "configuration 3\n");
    assert_eq!(
        ok(&all, &["join", "3", "g3-a:7000"]),
        "unchanged: configuration 3 is the latest\n"
    );
    let configs = agree(&replicas, 3);
    assert_balanced(&configs[3]);
    assert_eq!(
        configs[2]["groups"]["2"],
        serde_json::json!(["g2-a:7000", "g2-b:7000"])
    );

    // Replica 1 dies; the other two go on changing the configuration.
    replicas[1].kill();
    assert_eq!(ok(&all, &["leave", "2"]), "configuration 4\n");
    assert_eq!(ok(&all, &["join", "4", "g4-a:7000"]), "configuration 5\n");
    let shard0 = query_json(&all, None)["shards"][0].clone();
    let to = if shard0 == 4 { "1" } else { "4" };
    assert_eq!(ok(&all, &["move", "0", to]), "configuration 6\n");

    // Refused: a gid that left joins again; a move to a group that is not joined.
    for (args, why) in [
        (
            &["join", "2", "g2-a:7000"][..],
            "group 2 left and cannot join again",
        ),
        (&["move", "1", "9"][..], "group 9 is not joined"),
    ] {
        let out = client(&all, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }

    // Back on its directory, it catches up and answers as the others do.
    replicas[1].restart();
    wait_serving(&replicas[1]);
    let after = agree(&replicas, 6);
    assert_eq!(after[..4], configs[..], "history changed across the kill");
    assert_balanced(&after[5]);
    assert!(after[4]["groups"].get("2").is_none());
    assert_eq!(after[6]["shards"][0].to_string(), to);

    // SIGINT stops a replica cleanly: exit 0, within the deadline.
    let pid = replicas[2].child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -INT {pid}");
    let deadline = Instant::now() + WAIT_MAX;
    let status = loop {
        if let Some(status) = replicas[2].child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "replica 2 ignored SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "replica 2 exited {status} on SIGINT");
}
