//! The sharded store as real processes under load, reconfiguration and crashes (issue 13,
//! "Real processes"): 3 `dsys shardmaster serve` and 3 groups of 3 durable `dsys shardkv serve
//! --resp`, four clients speaking RESP to the replicas' front doors. While they run, groups 2
//! and 3 join, one replica of every group is SIGKILLed and restarted on its data directory,
//! two shards move and group 1 leaves. Every operation is recorded with wall-clock times and
//! the whole history must be linearizable.

#![allow(clippy::disallowed_methods)] // Real processes: the history's clock is the wall clock.

use super::kv_cluster::{Scratch, free_addrs, kv_op};
use super::shardkv_procs::{Proc, list, spawn, start_with_retries};
use check::{Budget, History, KvInput, KvOutput, check_kv};
use kvpaxos::Op;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

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

/// A RESP command as an array of bulk strings.
fn encode(words: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        out.extend(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
    }
    out
}

/// What a reply says about the command.
enum Answer {
    /// It ran; a GET's value ("" for nil, as the lab's Get answers).
    Ran(String),
    /// It did not run, or may have (an error, a timeout, a broken connection).
    Unknown,
}

/// Sends one command on `stream` and reads its reply.
async fn call(stream: &mut BufReader<TcpStream>, words: &[&str]) -> std::io::Result<Answer> {
    stream.get_mut().write_all(&encode(words)).await?;
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let line = line.trim_end();
    Ok(match line.as_bytes().first() {
        Some(b'+' | b':') => Answer::Ran(String::new()),
        Some(b'$') if line == "$-1" => Answer::Ran(String::new()),
        Some(b'$') => {
            let len: usize = line[1..].parse().map_err(std::io::Error::other)?;
            let mut value = vec![0; len + 2];
            stream.read_exact(&mut value).await?;
            value.truncate(len);
            Answer::Ran(String::from_utf8_lossy(&value).into_owned())
        }
        _ => Answer::Unknown,
    })
}

/// Runs commands through the front doors until `stop` (moving to the next front door when
/// one breaks or fails), recording each into `history`; returns how many completed.
async fn client(
    id: u64,
    fronts: Vec<SocketAddr>,
    history: Arc<Mutex<History>>,
    start: Instant,
    stop: Instant,
) -> u64 {
    let mut rng = rpc::Rng::new(id + 1);
    let mut front = id as usize;
    let mut stream: Option<BufReader<TcpStream>> = None;
    let (mut done, mut n) = (0, 0u64);
    while Instant::now() < stop {
        if stream.is_none() {
            front = (front + 1) % fronts.len();
            match TcpStream::connect(fronts[front]).await {
                Ok(s) => stream = Some(BufReader::new(s)),
                Err(_) => continue,
            }
        }
        n += 1;
        let key = format!("k{}", rng.below(3));
        let value = format!("c{id}.{n} ");
        let (op, input): (Op, KvInput) = kv_op(rng.below(3), key, value);
        let words: Vec<&str> = match &op {
            Op::Get { key } => vec!["GET", key],
            Op::Put { key, value } => vec!["SET", key, value],
            Op::Append { key, value } => vec!["APPEND", key, value],
        };
        let is_get = matches!(op, Op::Get { .. });
        let op_id = {
            let call = start.elapsed().as_nanos() as u64;
            history.lock().expect("lock").invoke(id, input, call)
        };
        let conn = stream.as_mut().expect("connected above");
        // A command without a clear answer stays pending in the history: it may have run.
        match tokio::time::timeout(OP_DEADLINE, call(conn, &words)).await {
            Ok(Ok(Answer::Ran(value))) => {
                let output = if is_get {
                    KvOutput::value(value)
                } else {
                    KvOutput::Ok
                };
                let ret = start.elapsed().as_nanos() as u64;
                history.lock().expect("lock").complete(op_id, output, ret);
                done += 1;
            }
            // An error reply leaves the connection usable, but try another front door: this
            // one's replica may be down or behind.
            Ok(Ok(Answer::Unknown)) | Ok(Err(_)) | Err(_) => stream = None,
        }
    }
    done
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
        tasks.spawn(client(id, c.fronts.clone(), history.clone(), start, stop));
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
