//! `dsys bench`: one load generator for the key/value services, with a Redis baseline.
//!
//! Each client is a task with its own connection (a clerk, for our services) doing one
//! operation at a time: 50 % Get, 50 % Put, keys of 16 bytes drawn uniformly from a preloaded
//! key space, values of 100 bytes. Latencies go into an HDR histogram (microseconds, 3
//! significant digits). The service runs as separate `dsys` processes started by the bench
//! (the view service and two servers for `pb`; three in-memory replicas for `kv`, loaded through
//! kvpaxos clerks, each starting at a different replica); a `redis-server` started the same way on the
//! same machine is measured with the same load in the same run: one unreplicated process, the
//! ceiling any replicated service here can hope to approach.

#![allow(clippy::disallowed_methods)] // A load generator: latencies are wall-clock time.

use crate::args::clerk_id;
use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use kvpaxos::server::TcpClerk as KvClerk;
use pbservice::{Op, TcpClerk};
use rpc::RpcClient;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;
use viewservice::{ViewReply, VsRequest};

/// Key length in bytes (the workload).
const KEY_BYTES: usize = 16;
/// Value length in bytes.
const VALUE_BYTES: usize = 100;
/// How long one operation may take before it counts as an error.
const OP_DEADLINE: Duration = Duration::from_secs(10);
/// How long the bench waits for a service it started to come up.
const STARTUP_MAX: Duration = Duration::from_secs(20);

/// Arguments of `dsys bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The service to load: `pb` (primary/backup, SPEC §4) or `kv` (kvpaxos, SPEC §6: three
    /// replica processes).
    #[arg(long, default_value = "pb", value_parser = ["pb", "kv"])]
    system: String,
    /// Client counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    clients: Vec<u32>,
    /// Seconds of load per client count and service.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
    /// Distinct keys, all written before measuring.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    keys: u32,
    /// The Redis server binary for the baseline.
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
    /// Skip the Redis baseline.
    #[arg(long)]
    no_redis: bool,
}

/// One measured load level.
struct Level {
    system: &'static str,
    clients: u32,
    ops: u64,
    errors: u64,
    elapsed: Duration,
    latency_us: Histogram<u64>,
}

impl Level {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs the bench and prints a Markdown table.
///
/// # Errors
/// If a service cannot be started, or the load cannot connect to it.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = crate::args::runtime(crate::args::cores())?;
    runtime.block_on(bench(args))
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let mut levels = Vec::new();
    {
        // Kept alive (the processes run) until the service's levels are measured.
        let (target, system, _cluster): (Target, &'static str, Box<dyn std::any::Any>) =
            if args.system == "kv" {
                let cluster = KvCluster::start().await?;
                (Target::Kv(cluster.addrs.clone()), "kv", Box::new(cluster))
            } else {
                let cluster = PbCluster::start().await?;
                (Target::Pb(cluster.vs), "pb", Box::new(cluster))
            };
        preload(target.clone(), args.keys).await?;
        for &clients in &args.clients {
            let level = measure(target.clone(), system, clients, &args).await?;
            report(&level);
            levels.push(level);
        }
    }
    if !args.no_redis {
        let redis = Redis::start(&args.redis_server).await?;
        preload(Target::Redis(redis.addr), args.keys).await?;
        for &clients in &args.clients {
            let level = measure(Target::Redis(redis.addr), "redis", clients, &args).await?;
            report(&level);
            levels.push(level);
        }
    }
    print_table(&levels, &args);
    Ok(())
}

fn report(level: &Level) {
    eprintln!(
        "{} clients={} ops/s={:.0} p50={}us p99={}us errors={}",
        level.system,
        level.clients,
        level.ops_per_sec(),
        level.latency_us.value_at_quantile(0.5),
        level.latency_us.value_at_quantile(0.99),
        level.errors
    );
}

fn print_table(levels: &[Level], args: &BenchArgs) {
    println!(
        "| system | clients | ops/s | p50 µs | p99 µs | errors | {} / redis (ops/s) |\n|---|---|---|---|---|---|---|",
        args.system
    );
    for level in levels {
        let redis = levels
            .iter()
            .find(|l| l.system == "redis" && l.clients == level.clients);
        let ratio = match (level.system, redis) {
            ("pb" | "kv", Some(r)) => format!("{:.2}", level.ops_per_sec() / r.ops_per_sec()),
            _ => "".to_string(),
        };
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {} |",
            level.system,
            level.clients,
            level.ops_per_sec(),
            level.latency_us.value_at_quantile(0.5),
            level.latency_us.value_at_quantile(0.99),
            level.errors,
            ratio
        );
    }
    println!(
        "\n{} s per level, {} keys of {KEY_BYTES} bytes, values of {VALUE_BYTES} bytes, 50/50 Get/Put.",
        args.seconds, args.keys
    );
}

/// Where the load goes.
#[derive(Clone)]
enum Target {
    Pb(SocketAddr),
    /// The replicas' addresses; client `i` starts at replica `i % n`.
    Kv(Vec<SocketAddr>),
    Redis(SocketAddr),
}

/// One client's connection.
enum Conn {
    Pb(Box<TcpClerk>),
    Kv(Box<KvClerk>),
    Redis(BufStream<TcpStream>),
}

impl Target {
    async fn connect(&self, client: u32) -> anyhow::Result<Conn> {
        Ok(match self {
            Target::Pb(vs) => Conn::Pb(Box::new(TcpClerk::new(clerk_id(), *vs))),
            Target::Kv(replicas) => {
                let mut order = replicas.clone();
                order.rotate_left(client as usize % replicas.len().max(1));
                Conn::Kv(Box::new(KvClerk::new(&order)))
            }
            Target::Redis(addr) => Conn::Redis(BufStream::new(
                TcpStream::connect(*addr)
                    .await
                    .with_context(|| format!("connecting to redis at {addr}"))?,
            )),
        })
    }
}

impl Conn {
    async fn get(&mut self, key: &str) -> anyhow::Result<()> {
        match self {
            Conn::Pb(clerk) => {
                clerk.run(Op::Get { key: key.into() }, OP_DEADLINE).await?;
            }
            Conn::Kv(clerk) => {
                clerk.run(Op::Get { key: key.into() }, OP_DEADLINE).await?;
            }
            Conn::Redis(stream) => redis_command(stream, &["GET", key]).await?,
        }
        Ok(())
    }

    async fn put(&mut self, key: &str, value: &str) -> anyhow::Result<()> {
        match self {
            Conn::Pb(clerk) => {
                let op = Op::Put {
                    key: key.into(),
                    value: value.into(),
                };
                clerk.run(op, OP_DEADLINE).await?;
            }
            Conn::Kv(clerk) => {
                let op = Op::Put {
                    key: key.into(),
                    value: value.into(),
                };
                clerk.run(op, OP_DEADLINE).await?;
            }
            Conn::Redis(stream) => redis_command(stream, &["SET", key, value]).await?,
        }
        Ok(())
    }
}

/// Sends one RESP command and reads (and discards) its reply: a simple string, an error, or
/// a bulk string.
async fn redis_command(stream: &mut BufStream<TcpStream>, args: &[&str]) -> anyhow::Result<()> {
    let mut frame = format!("*{}\r\n", args.len());
    for arg in args {
        frame.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(frame.as_bytes()).await?;
    stream.flush().await?;
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    match line.as_bytes().first() {
        Some(b'+') => Ok(()),
        Some(b'$') => {
            let len: i64 = line[1..].trim().parse().context("redis bulk length")?;
            if len >= 0 {
                let len = usize::try_from(len).context("redis bulk length")?;
                anyhow::ensure!(len <= 1 << 20, "redis reply of {len} bytes");
                let mut body = vec![0; len + 2];
                stream.read_exact(&mut body).await?;
            }
            Ok(())
        }
        _ => bail!("unexpected redis reply {line:?}"),
    }
}

fn key(i: u64) -> String {
    format!("key-{i:012}")
}

fn value(seed: u64) -> String {
    format!("{seed:0>width$}", width = VALUE_BYTES)
}

/// Writes every key once, so that Gets read real values.
async fn preload(target: Target, keys: u32) -> anyhow::Result<()> {
    let mut conn = target.connect(0).await?;
    for i in 0..u64::from(keys) {
        conn.put(&key(i), &value(i)).await.context("preloading")?;
    }
    Ok(())
}

/// Runs `clients` clients for `args.seconds` and merges what they saw.
async fn measure(
    target: Target,
    system: &'static str,
    clients: u32,
    args: &BenchArgs,
) -> anyhow::Result<Level> {
    let duration = Duration::from_secs(args.seconds);
    let keys = u64::from(args.keys);
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let mut conn = target.connect(client).await?;
        tasks.spawn(async move {
            let mut histogram =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
            let (mut ops, mut errors) = (0u64, 0u64);
            let mut rng = rpc::Rng::new(u64::from(client) + 1);
            let stop = Instant::now() + duration;
            while Instant::now() < stop {
                let k = key(rng.below(keys));
                let start = Instant::now();
                let result = if rng.below(2) == 0 {
                    conn.get(&k).await
                } else {
                    conn.put(&k, &value(rng.next_u64())).await
                };
                let micros = start.elapsed().as_micros().min(60_000_000) as u64;
                match result {
                    Ok(()) => {
                        ops += 1;
                        histogram.saturating_record(micros.max(1));
                    }
                    Err(_) => errors += 1,
                }
            }
            (ops, errors, histogram)
        });
    }
    let started = Instant::now();
    let mut level = Level {
        system,
        clients,
        ops: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram")?,
    };
    while let Some(done) = tasks.join_next().await {
        let (ops, errors, histogram) = done.context("client task")?;
        level.ops += ops;
        level.errors += errors;
        level
            .latency_us
            .add(histogram)
            .context("merging histograms")?;
    }
    level.elapsed = started.elapsed();
    Ok(level)
}

/// A child process, killed when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `dsys ARGS` and returns it with the address it printed.
fn spawn_dsys(args: &[&str]) -> anyhow::Result<(ChildGuard, SocketAddr)> {
    let exe = std::env::current_exe().context("locating the dsys binary")?;
    let mut child = ChildGuard(
        Command::new(exe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting a dsys process")?,
    );
    let stdout = child.0.stdout.take().context("piped stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading the listening line")?;
    // "... listening on ADDR", maybe followed by more (a kv replica's data directory).
    let addr = line
        .split_once(" listening on ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("dsys {args:?} printed {line:?}"))?;
    Ok((child, addr))
}

/// The view service and two servers, as processes.
struct PbCluster {
    vs: SocketAddr,
    _procs: Vec<ChildGuard>,
}

impl PbCluster {
    async fn start() -> anyhow::Result<PbCluster> {
        let (vs_proc, vs) = spawn_dsys(&["viewservice", "--listen", "127.0.0.1:0"])?;
        let vs_text = vs.to_string();
        let mut procs = vec![vs_proc];
        for _ in 0..2 {
            let args = [
                "pb",
                "serve",
                "--viewservice",
                &vs_text,
                "--listen",
                "127.0.0.1:0",
            ];
            procs.push(spawn_dsys(&args)?.0);
        }
        let client: RpcClient<VsRequest, ViewReply> = RpcClient::new(vs);
        let deadline = Instant::now() + STARTUP_MAX;
        loop {
            let reply = client.call(VsRequest::Get, Duration::from_secs(1)).await;
            if reply.is_ok_and(|r| r.view.backup.is_some() && r.acked) {
                break;
            }
            if Instant::now() > deadline {
                bail!("the pb cluster did not form a view with a backup in {STARTUP_MAX:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(PbCluster { vs, _procs: procs })
    }
}

/// Three kvpaxos replicas, as processes, on free loopback ports.
struct KvCluster {
    addrs: Vec<SocketAddr>,
    _procs: Vec<ChildGuard>,
}

impl KvCluster {
    async fn start() -> anyhow::Result<KvCluster> {
        let probes = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()
            .context("finding free ports")?;
        let addrs = probes
            .iter()
            .map(std::net::TcpListener::local_addr)
            .collect::<Result<Vec<_>, _>>()
            .context("probe addresses")?;
        drop(probes);
        let peers = addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut procs = Vec::new();
        for id in 0..addrs.len() {
            let id = id.to_string();
            // In memory, as the redis-server beside it runs without persistence, and so that
            // nothing is left in the working directory.
            let args = ["kv", "serve", "--id", &id, "--peers", &peers, "--in-memory"];
            procs.push(spawn_dsys(&args)?.0);
        }
        // Ready once one operation goes through the log.
        let mut clerk = KvClerk::new(&addrs);
        clerk
            .run(Op::Get { key: key(0) }, STARTUP_MAX)
            .await
            .context("the kv cluster did not answer")?;
        Ok(KvCluster {
            addrs,
            _procs: procs,
        })
    }
}

/// A redis-server process without persistence, on a free loopback port.
struct Redis {
    addr: SocketAddr,
    _proc: ChildGuard,
}

impl Redis {
    async fn start(binary: &str) -> anyhow::Result<Redis> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").context("finding a port")?;
            probe.local_addr().context("probe address")?.port()
        };
        let proc = ChildGuard(
            Command::new(binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| {
                    format!("starting {binary} (install redis-server, or pass --no-redis)")
                })?,
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + STARTUP_MAX;
        while TcpStream::connect(addr).await.is_err() {
            if Instant::now() > deadline {
                bail!("redis-server did not listen on {addr} within {STARTUP_MAX:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Redis { addr, _proc: proc })
    }
}
