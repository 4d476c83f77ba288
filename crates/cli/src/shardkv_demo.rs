//! `dsys shardkv demo`: a shard master and three replica groups as processes, shards joining,
//! moving and leaving under load, with a line per step showing where every shard lives and
//! that every value is intact.
//!
//! The demo starts `dsys shardmaster serve` three times and `dsys shardkv serve` nine times
//! (in memory, on free loopback ports), then runs a fixed script, one event per step: group 1
//! joins, group 2 joins, group 3 joins, a few shards move to group 1, group 2 leaves. Writer
//! tasks put counters into 64 keys all the while. After each step every key is read back and
//! compared with the last value its writer was told was written (or the one in flight, if
//! that put timed out): a key whose value is anything else is reported, and the demo fails.

// A demo paces itself by the wall clock and waits for child processes to be ready.
#![allow(clippy::disallowed_methods)]

use crate::args::runtime;
use anyhow::{Context, bail};
use bytes::Bytes;
use keyspace::{Batch, Cmd, Condition, SetExpiry, Value};
use kvpaxos::msg::{KvCommand, KvOutput};
use shardkv::Mapping;
use shardkv::tcp_clerk::TcpClerk;
use shardmaster::{Config, Gid, Op, Reply};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How the demo runs.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Milliseconds between two events of the script.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(200..=60_000))]
    step_ms: u64,
    /// Keys the writers keep changing.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    keys: u32,
}

/// Writer tasks, each on its own keys.
const WRITERS: u32 = 4;

/// The deadline of one put or get; a hand-off costs a few shard master polls (250 ms each).
const OP_DEADLINE: Duration = Duration::from_secs(10);

/// How long a child may take to print its readiness line.
const READY_DEADLINE: Duration = Duration::from_secs(20);

/// A child process, killed and reaped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `dsys ARGS` and waits for its readiness line, which must start with `ready`.
fn spawn(args: &[String], ready: &str) -> anyhow::Result<Proc> {
    let exe = std::env::current_exe().context("finding the dsys binary")?;
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting dsys {}", args.join(" ")))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let proc = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(READY_DEADLINE) {
        Ok(line) if line.starts_with(ready) => Ok(proc),
        Ok(line) => bail!("dsys {} printed {line:?}", args.join(" ")),
        Err(_) => bail!(
            "dsys {} was not ready in {READY_DEADLINE:?}",
            args.join(" ")
        ),
    }
}

/// `count` free loopback addresses (probed, then released for the servers to bind).
fn free_addrs(count: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let probes = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("probing for free ports")?;
    probes
        .iter()
        .map(|p| p.local_addr().context("a probe's address"))
        .collect()
}

fn list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The running cluster: its processes and addresses.
struct Cluster {
    masters: Vec<SocketAddr>,
    groups: Vec<(Gid, Vec<SocketAddr>)>,
    _procs: Vec<Proc>,
}

fn start_cluster() -> anyhow::Result<Cluster> {
    let addrs = free_addrs(12)?;
    let masters = addrs[..3].to_vec();
    let mut procs = Vec::new();
    for id in 0..3 {
        let args = ["shardmaster", "serve", "--id", &id.to_string()]
            .into_iter()
            .map(String::from)
            .chain(["--peers".into(), list(&masters), "--in-memory".into()])
            .collect::<Vec<_>>();
        procs.push(spawn(&args, "shardmaster replica")?);
    }
    let mut groups = Vec::new();
    for g in 0..3 {
        let gid = Gid(i64::from(g) + 1);
        let peers = addrs[3 + 3 * g as usize..6 + 3 * g as usize].to_vec();
        for id in 0..3 {
            let args: Vec<String> = [
                "shardkv",
                "serve",
                "--gid",
                &gid.0.to_string(),
                "--id",
                &id.to_string(),
                "--peers",
                &list(&peers),
                "--shardmaster",
                &list(&masters),
                "--in-memory",
            ]
            .into_iter()
            .map(String::from)
            .collect();
            procs.push(spawn(&args, &format!("shardkv group {gid} replica {id}"))?);
        }
        groups.push((gid, peers));
    }
    Ok(Cluster {
        masters,
        groups,
        _procs: procs,
    })
}

/// What a key should hold: the last value acknowledged, and a value whose put got no answer
/// (it may or may not have happened).
#[derive(Default)]
struct Expect {
    acked: Option<String>,
    in_doubt: Option<String>,
}

type Keys = Arc<Vec<(String, tokio::sync::Mutex<Expect>)>>;

fn set(key: &str, value: &str) -> KvCommand {
    KvCommand::Redis(Batch {
        now_ms: 0,
        cmds: vec![Cmd::Set {
            key: Bytes::from(key.to_string()),
            value: Bytes::from(value.to_string()),
            condition: Condition::Always,
            get: false,
            expiry: SetExpiry::Clear,
        }],
    })
}

fn get(key: &str) -> KvCommand {
    KvCommand::Redis(Batch {
        now_ms: 0,
        cmds: vec![Cmd::Get {
            key: Bytes::from(key.to_string()),
        }],
    })
}

/// Writer `w`: puts increasing counters into its keys until `stop`. A key's lock is held for
/// the whole put, so a check never reads a key while its put is in flight.
async fn writer(
    w: u32,
    masters: Vec<SocketAddr>,
    keys: Keys,
    stop: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
) {
    let mut clerk = TcpClerk::new(&masters, Mapping::Hash);
    let mine: Vec<usize> = (0..keys.len())
        .filter(|i| *i as u32 % WRITERS == w)
        .collect();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for &i in &mine {
            n += 1;
            let (key, expect) = &keys[i];
            let value = format!("{w}-{n}");
            let mut expect = expect.lock().await;
            match clerk.run(set(key, &value), OP_DEADLINE).await {
                Ok(_) => {
                    expect.acked = Some(value);
                    expect.in_doubt = None;
                    ops.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => expect.in_doubt = Some(value),
            }
        }
    }
}

/// Reads every key and compares it with what its writer knows; answers how many are intact.
async fn check(clerk: &mut TcpClerk, keys: &Keys) -> anyhow::Result<usize> {
    let mut intact = 0;
    for (key, expect) in keys.iter() {
        let expect = expect.lock().await;
        let got = match clerk.run(get(key), OP_DEADLINE).await {
            Ok(KvOutput::Redis(mut values)) if values.len() == 1 => match values.remove(0) {
                Value::Bulk(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                Value::Nil => None,
                other => bail!("GET {key} answered {other:?}"),
            },
            Ok(other) => bail!("GET {key} answered {other:?}"),
            Err(e) => bail!("GET {key}: {e}"),
        };
        let fits = got == expect.acked || (got.is_some() && got == expect.in_doubt);
        if !fits {
            bail!(
                "{key} holds {got:?}; its writer last wrote {:?} (in doubt: {:?})",
                expect.acked,
                expect.in_doubt
            );
        }
        intact += 1;
    }
    Ok(intact)
}

/// Where each group's shards are, as ranges: `g1: 0-20 g2: 21-41 g3: 42-63`.
fn placement(config: &Config) -> String {
    let mut by_group: BTreeMap<Gid, Vec<(u32, u32)>> = BTreeMap::new();
    for (shard, &gid) in config.shards.iter().enumerate() {
        let shard = shard as u32;
        let ranges = by_group.entry(gid).or_default();
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == shard => *end = shard,
            _ => ranges.push((shard, shard)),
        }
    }
    by_group
        .iter()
        .map(|(gid, ranges)| {
            let ranges: Vec<String> = ranges
                .iter()
                .map(|&(a, b)| {
                    if a == b {
                        format!("{a}")
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect();
            let name = if gid.is_valid() {
                format!("g{gid}")
            } else {
                "none".into()
            };
            format!("{name}: {}", ranges.join(","))
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// Runs `dsys shardkv demo`.
///
/// # Errors
/// If the cluster cannot start, a step fails, or a value is not what was written.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    println!("starting 3 shard master replicas and 3 groups of 3 shardkv servers (processes)...");
    let cluster = start_cluster()?;
    println!("shard master at {}", list(&cluster.masters));
    for (gid, peers) in &cluster.groups {
        println!("group {gid} at {}", list(peers));
    }
    let step = Duration::from_millis(args.step_ms);
    runtime(2)?.block_on(async {
        let mut admin = shardmaster::server::TcpClerk::new(&cluster.masters);
        let mut admin_op = async |op: Op| -> anyhow::Result<Config> {
            admin
                .run(op.clone(), OP_DEADLINE)
                .await
                .map_err(|e| anyhow::anyhow!("{op:?}: {e}"))?
                .map_err(|e| anyhow::anyhow!("{op:?}: {e}"))?;
            match admin.run(Op::Query { num: -1 }, OP_DEADLINE).await {
                Ok(Ok(Reply::Config(config))) => Ok((*config).clone()),
                other => bail!("query: {other:?}"),
            }
        };
        let servers = |g: usize| -> Vec<String> {
            cluster.groups[g]
                .1
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        let gid = |g: usize| cluster.groups[g].0;
        admin_op(Op::Join {
            gid: gid(0),
            servers: servers(0),
        })
        .await?;

        let keys: Keys = Arc::new(
            (0..args.keys)
                .map(|i| {
                    (
                        format!("key:{i}"),
                        tokio::sync::Mutex::new(Expect::default()),
                    )
                })
                .collect(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let task = writer(
                    w,
                    cluster.masters.clone(),
                    keys.clone(),
                    stop.clone(),
                    ops.clone(),
                );
                tokio::spawn(task)
            })
            .collect();
        let mut checker = TcpClerk::new(&cluster.masters, Mapping::Hash);
        // The script: what changes after each step.
        enum Event {
            Admin(String, Op),
            /// Four shards that another group holds move to the first group.
            MoveFour,
        }
        let script = [
            Event::Admin(
                format!("group {} joins", gid(1)),
                Op::Join {
                    gid: gid(1),
                    servers: servers(1),
                },
            ),
            Event::Admin(
                format!("group {} joins", gid(2)),
                Op::Join {
                    gid: gid(2),
                    servers: servers(2),
                },
            ),
            Event::MoveFour,
            Event::Admin(
                format!("group {} leaves", gid(1)),
                Op::Leave { gid: gid(1) },
            ),
        ];
        let started = tokio::time::Instant::now();
        let mut config = admin_op(Op::Query { num: -1 }).await?;
        let elapsed = || started.elapsed().as_secs_f64();
        println!(
            "{:>4.1}s  group {} joins: config {}  {}",
            elapsed(),
            gid(0),
            config.num,
            placement(&config)
        );
        for event in script {
            let before = ops.load(Ordering::Relaxed);
            let t0 = tokio::time::Instant::now();
            tokio::time::sleep(step).await;
            let intact = check(&mut checker, &keys).await?;
            let rate = (ops.load(Ordering::Relaxed) - before) as f64 / t0.elapsed().as_secs_f64();
            println!(
                "{:>4.1}s  {intact}/{} keys intact, {rate:.0} puts/s",
                elapsed(),
                keys.len()
            );
            let what = match event {
                Event::Admin(what, op) => {
                    config = admin_op(op).await?;
                    what
                }
                Event::MoveFour => {
                    let moving: Vec<u32> = (0..config.shard_count())
                        .filter(|&s| config.shards[s as usize] != gid(0))
                        .take(4)
                        .collect();
                    for &shard in &moving {
                        config = admin_op(Op::Move { shard, gid: gid(0) }).await?;
                    }
                    let names: Vec<String> = moving.iter().map(ToString::to_string).collect();
                    format!("shards {} move to group {}", names.join(","), gid(0))
                }
            };
            println!(
                "{:>4.1}s  {what}: config {}  {}",
                elapsed(),
                config.num,
                placement(&config)
            );
        }
        tokio::time::sleep(step).await;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let _ = w.await;
        }
        let intact = check(&mut checker, &keys).await?;
        println!(
            "{:>4.1}s  done: {intact}/{} keys intact after {} configurations, {} puts acknowledged",
            started.elapsed().as_secs_f64(),
            keys.len(),
            config.num,
            ops.load(Ordering::Relaxed)
        );
        Ok(())
    })
}
