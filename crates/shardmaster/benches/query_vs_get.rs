//! A shard master Query through the log against a kvpaxos GET, in the same run (issue 12,
//! "Performance": within 20 %). Both are `rsm` on the same server shell, so the difference
//! is what each machine does per operation: a Query answers a whole configuration (64 shards
//! and every group's servers) where a GET answers one 100-byte value.
//!
//! Each system runs as three in-memory replicas in this process, over loopback TCP
//! (`local_cluster`), loaded by `clients` TCP clerks, each doing one operation at a time and
//! starting at a different replica, for [`SECONDS`] per level; latencies go into an HDR
//! histogram. The shard master holds 3 groups of 3 servers when measured; kvpaxos holds
//! [`KEYS`] preloaded keys of 16 bytes with 100-byte values, read uniformly.
//!
//! Run with `cargo bench -p shardmaster --bench query_vs_get` (`BENCH_SECONDS=N` to change
//! the length of a level). With `--test` (what `cargo bench -- --test` passes) it runs one
//! short level, to prove it still works.
#![allow(clippy::disallowed_methods)] // A load generator: latencies are wall-clock time.
#![allow(missing_docs, reason = "a bench binary")]

use hdrhistogram::Histogram;
use kvpaxos::server::{KvServer, TcpClerk as KvClerk};
use shardmaster::server::TcpClerk as SmClerk;
use shardmaster::{Gid, Op, Reply};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Seconds of load per level and system, unless `BENCH_SECONDS` says otherwise.
const SECONDS: u64 = 5;
/// Client counts measured.
const CLIENTS: [usize; 2] = [1, 64];
/// kvpaxos keys, all written before measuring.
const KEYS: u64 = 1000;
/// One operation's deadline; a slower one counts as an error.
const OP_DEADLINE: Duration = Duration::from_secs(10);
/// Latencies above this (µs) are recorded as this.
const LATENCY_US_MAX: u64 = 60_000_000;

/// What one level measured.
struct Level {
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

/// One clerk of either system: runs its operation once.
enum Clerk {
    Kv(KvClerk, u64),
    Sm(SmClerk),
}

impl Clerk {
    async fn once(&mut self) -> bool {
        match self {
            Clerk::Kv(clerk, i) => {
                // A linear congruential step: it wraps (the test profile checks overflow).
                *i = i
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407)
                    % KEYS;
                let op = kvpaxos::Op::Get { key: key(*i) };
                matches!(clerk.run_lab(op, OP_DEADLINE).await, Ok(v) if v.len() == 100)
            }
            Clerk::Sm(clerk) => matches!(
                clerk.run(Op::Query { num: -1 }, OP_DEADLINE).await,
                Ok(Ok(Reply::Config(_)))
            ),
        }
    }
}

fn key(i: u64) -> String {
    format!("key:{i:012}")
}

/// The replicas in order, rotated so that client `c` tries replica `c % n` first.
fn rotated(addrs: &[SocketAddr], c: usize) -> Vec<SocketAddr> {
    let mut servers = addrs.to_vec();
    servers.rotate_left(c % addrs.len());
    servers
}

/// Runs `clerks` for `duration`, each one operation at a time, and merges what they saw.
async fn measure(clerks: Vec<Clerk>, duration: Duration) -> Level {
    let mut tasks = tokio::task::JoinSet::new();
    for mut clerk in clerks {
        tasks.spawn(async move {
            let mut histogram =
                Histogram::<u64>::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid bounds");
            let (mut ops, mut errors) = (0u64, 0u64);
            let stop = Instant::now() + duration;
            while Instant::now() < stop {
                let start = Instant::now();
                let ok = clerk.once().await;
                let micros = start.elapsed().as_micros().min(u128::from(LATENCY_US_MAX));
                match ok {
                    true => {
                        ops += 1;
                        histogram.saturating_record((micros as u64).max(1));
                    }
                    false => errors += 1,
                }
            }
            (ops, errors, histogram)
        });
    }
    let started = Instant::now();
    let mut level = Level {
        ops: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid bounds"),
    };
    while let Some(done) = tasks.join_next().await {
        let (ops, errors, histogram) = done.expect("a client task");
        level.ops += ops;
        level.errors += errors;
        level.latency_us.add(histogram).expect("same bounds");
    }
    level.elapsed = started.elapsed();
    level
}

/// kvpaxos GETs at `clients`, on a fresh in-memory cluster with [`KEYS`] keys.
async fn kv_level(clients: usize, duration: Duration) -> Level {
    let servers = KvServer::local_cluster(3, false)
        .await
        .expect("a kv cluster");
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr()).collect();
    let mut loader = KvClerk::new(&addrs);
    for i in 0..KEYS {
        let op = kvpaxos::Op::Put {
            key: key(i),
            value: format!("{i:0100}"),
        };
        loader.run(op, OP_DEADLINE).await.expect("preload");
    }
    let clerks = (0..clients)
        .map(|c| Clerk::Kv(KvClerk::new(&rotated(&addrs, c)), c as u64))
        .collect();
    measure(clerks, duration).await
}

/// Shard master Queries at `clients`, on a fresh in-memory cluster holding 3 groups.
async fn sm_level(clients: usize, duration: Duration) -> Level {
    let servers = shardmaster::server::local_cluster(3)
        .await
        .expect("a shard master cluster");
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr()).collect();
    let mut admin = SmClerk::new(&addrs);
    for gid in 1..=3 {
        let servers = (0..3).map(|s| format!("group-{gid}-{s}:7000")).collect();
        let op = Op::Join {
            gid: Gid(gid),
            servers,
        };
        let reply = admin.run(op, OP_DEADLINE).await.expect("a join");
        assert!(matches!(reply, Ok(Reply::Changed(_))), "{reply:?}");
    }
    let clerks = (0..clients)
        .map(|c| Clerk::Sm(SmClerk::new(&rotated(&addrs, c))))
        .collect();
    measure(clerks, duration).await
}

fn row(system: &str, clients: usize, level: &Level) {
    println!(
        "| {system} | {clients} | {:.0} | {} | {} | {} |",
        level.ops_per_sec(),
        level.latency_us.value_at_quantile(0.5),
        level.latency_us.value_at_quantile(0.99),
        level.errors
    );
}

fn main() {
    let test = std::env::args().any(|a| a == "--test");
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SECONDS);
    let (duration, levels) = match test {
        true => (Duration::from_millis(200), &CLIENTS[..1]),
        false => (Duration::from_secs(seconds), &CLIENTS[..]),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!("| system | clients | ops/s | p50 µs | p99 µs | errors |");
    println!("|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for &clients in levels {
        let kv = runtime.block_on(kv_level(clients, duration));
        row("kvpaxos GET", clients, &kv);
        let sm = runtime.block_on(sm_level(clients, duration));
        row("shardmaster Query", clients, &sm);
        ratios.push((clients, sm.ops_per_sec() / kv.ops_per_sec()));
    }
    for (clients, ratio) in ratios {
        println!("Query/GET throughput at {clients} clients: {ratio:.2}");
    }
}
