//! The sharded store as real processes (issue 13, "Real processes"): three `dsys shardmaster
//! serve`, two groups of three `dsys shardkv serve` (the first durable), and the `dsys
//! shardkv` client. Keys written with one group read back after a second group joins, after
//! one of its servers is SIGKILLed, and after the first group leaves; `del` and nil work.
//!
//! Every wait polls with a deadline; every process is killed and reaped when the test ends.

#![allow(clippy::disallowed_methods)] // Real processes: waits are bounded by wall-clock time.

use super::kv_cluster::{Scratch, free_addrs};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};

/// The client's own deadline for one command, in seconds: a reconfiguration costs a few polls
/// of the shard master (250 ms each) and a hand-off.
const OP_TIMEOUT_SECS: &str = "20";
/// Attempts to start the processes: a freed probe port can be taken before a server binds it.
const START_ATTEMPTS: usize = 3;

/// A server process, SIGKILLed and reaped when dropped.
pub struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `dsys ARGS` and waits for its first line, which must start with `ready`.
pub fn spawn(args: &[&str], ready: &str) -> Result<Proc, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    let proc = Proc(child);
    if read.is_err() || !line.starts_with(ready) {
        return Err(format!("{args:?} printed {line:?}, not {ready}…"));
    }
    Ok(proc)
}

pub fn list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The processes of the cluster: the shard master, then groups 1 and 2.
struct Cluster {
    masters: String,
    groups: [String; 2],
    procs: Vec<Proc>,
}

fn start(root: &Scratch) -> Result<Cluster, String> {
    let addrs = free_addrs(9);
    let masters = list(&addrs[..3]);
    let groups = [list(&addrs[3..6]), list(&addrs[6..])];
    let mut procs = Vec::new();
    for id in 0..3 {
        let id = id.to_string();
        let args = [
            "shardmaster",
            "serve",
            "--id",
            &id,
            "--peers",
            &masters,
            "--in-memory",
        ];
        procs.push(spawn(&args, "shardmaster replica")?);
    }
    for (g, peers) in groups.iter().enumerate() {
        let gid = (g + 1).to_string();
        for id in 0..3 {
            let dir = root.path().join(format!("g{gid}-{id}"));
            let dir = dir.to_string_lossy().into_owned();
            let id = id.to_string();
            let mut args = vec!["shardkv", "serve", "--gid", &gid, "--id", &id];
            args.extend(["--peers", peers, "--shardmaster", &masters]);
            if g == 0 {
                args.extend(["--data-dir", &dir]);
            } else {
                args.push("--in-memory");
            }
            procs.push(spawn(
                &args,
                &format!("shardkv group {gid} replica {id} listening"),
            )?);
        }
    }
    Ok(Cluster {
        masters,
        groups,
        procs,
    })
}

/// Runs `start` until it succeeds, at most [`START_ATTEMPTS`] times: a freed probe port can
/// be taken before a server binds it, and then the cluster starts again on new ports.
///
/// # Panics
/// If every attempt fails (with each attempt's reason).
pub fn start_with_retries<C>(mut start: impl FnMut() -> Result<C, String>) -> C {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        match start() {
            Ok(cluster) => return cluster,
            Err(why) => failures.push(why),
        }
    }
    panic!("could not start the cluster: {failures:#?}")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args(args)
        .output()
        .expect("run dsys")
}

impl Cluster {
    /// Runs `dsys shardmaster ARGS`, which must succeed.
    fn admin(&self, args: &[&str]) {
        let mut all = vec!["shardmaster", "--servers", &self.masters, "--timeout", "10"];
        all.extend(args);
        let out = run(&all);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `dsys shardkv ARGS`, which must succeed; returns (stdout, stderr).
    fn kv(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["shardkv", "--shardmaster", &self.masters];
        all.extend(["--timeout", OP_TIMEOUT_SECS]);
        all.extend(args);
        let out = run(&all);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "{args:?}: {stderr}");
        (stdout, stderr)
    }
}

#[test]
fn keys_survive_joins_a_kill_and_a_leave() {
    let root = Scratch::new("shardkv-procs");
    let mut c = start_with_retries(|| start(&root));
    let keys: Vec<String> = (0..8).map(|i| format!("user:{i}")).collect();
    c.admin(&["join", "1", &c.groups[0].clone()]);
    for k in &keys {
        c.kv(&["put", k, &format!("v-{k}")]);
    }
    c.admin(&["join", "2", &c.groups[1].clone()]);
    for k in &keys {
        c.kv(&["append", k, "+"]);
    }
    // SIGKILL one server of group 2 (the last process): a majority of it is left.
    drop(c.procs.pop());
    c.admin(&["leave", "1"]);
    for k in &keys {
        let (stdout, _) = c.kv(&["get", k]);
        assert_eq!(
            stdout.trim_end(),
            format!("v-{k}+"),
            "{k} after group 1 left"
        );
    }
    assert_eq!(c.kv(&["del", &keys[0]]).0.trim_end(), "1");
    let (stdout, stderr) = c.kv(&["get", &keys[0]]);
    assert_eq!((stdout.as_str(), stderr.trim_end()), ("", "(nil)"));
}

/// `dsys shardkv demo`, quickly: 12 processes, shards joining, moving and leaving under load,
/// every key checked after every step; it exits 0 only if every value is intact.
#[test]
fn the_demo_keeps_every_value() {
    let out = run(&["shardkv", "demo", "--step-ms", "300", "--keys", "16"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("group 3 joins: config 3"), "{stdout}");
    assert!(stdout.contains("move to group 1"), "{stdout}");
    assert!(stdout.contains("done: 16/16 keys intact"), "{stdout}");
}

/// With no shard master running, the client says so at once (every replica refused the
/// connection), instead of waiting out its timeout.
#[test]
fn no_shard_master_is_a_clear_error() {
    let addrs = super::kv_cluster::free_addrs(3);
    let started = std::time::Instant::now();
    let out = run(&["shardkv", "--shardmaster", &list(&addrs), "get", "k"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the shard master cannot be reached"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}, the whole --timeout",
        started.elapsed()
    );
}
