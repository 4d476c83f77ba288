//! What several subcommands share: parsers for untrusted arguments and the tokio runtime.

use anyhow::Context;
use rsm::server::Storage;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// The largest key or value a client accepts on its command line: far below the frame limit,
/// far above use.
pub const ARG_BYTES_MAX: usize = 1 << 20;

/// Where a replica keeps its state, as every `serve` subcommand takes it.
#[derive(clap::Args, Debug)]
pub struct StorageArgs {
    /// Keep this replica's state in DIR, created if missing (default: dsys-SYSTEM-ID in the
    /// working directory). Restarted on the same directory, the replica keeps everything it
    /// acknowledged.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep nothing on disk: started again, the replica has lost its state, and only learns
    /// the log without serving (tests, benchmarks).
    #[arg(long, conflicts_with = "data_dir")]
    in_memory: bool,
}

impl StorageArgs {
    /// `--data-dir`, `--in-memory`, or the default directory `dsys-<system>-<id>`.
    pub fn storage(&self, system: &str, id: u32) -> Storage {
        match (&self.data_dir, self.in_memory) {
            (_, true) => Storage::InMemory,
            (Some(dir), false) => Storage::Dir(dir.clone()),
            (None, false) => Storage::Dir(PathBuf::from(format!("dsys-{system}-{id}"))),
        }
    }
}

/// A `HOST:PORT` argument, resolved to its first address.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("not a HOST:PORT address: {e}"))?
        .next()
        .ok_or_else(|| format!("{text} resolves to no address"))
}

/// A key or value argument, at most [`ARG_BYTES_MAX`] bytes.
pub fn parse_text(text: &str) -> Result<String, String> {
    if text.len() > ARG_BYTES_MAX {
        return Err(format!("longer than {ARG_BYTES_MAX} bytes"));
    }
    Ok(text.to_string())
}

/// A tokio runtime with `threads` worker threads; 1 means everything on the calling thread,
/// which avoids cross-thread wake-ups when several processes share a small machine.
pub fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// The machine's parallelism (for a runtime that should use every core).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// A random 62-bit clerk identity (SPEC §1.7 `nrand`), from the standard library's
/// per-process random hash keys and a counter: no clock, no extra dependency, and a different
/// one at every call.
pub fn clerk_id() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    RandomState::new().hash_one((std::process::id(), n)) >> 2
}

/// Checks a replica's `--peers` and `--id`: every error names the offending value. (kvpaxos's
/// `dsys kv serve` has its own copy of these checks, with `--resp` besides.)
pub fn check_peers(id: u32, peers: &[SocketAddr], replicas_max: usize) -> anyhow::Result<()> {
    let count = peers.len();
    anyhow::ensure!(
        count <= replicas_max,
        "--peers lists {count} replicas; at most {replicas_max} are supported"
    );
    anyhow::ensure!(
        (id as usize) < count,
        "--id {id} is out of range: --peers lists {count} replicas, so ids are 0..={}",
        count.saturating_sub(1)
    );
    check_distinct(peers, "--peers")?;
    for addr in peers {
        anyhow::ensure!(
            addr.port() != 0 && !addr.ip().is_unspecified(),
            "--peers entry {addr} is not an address other replicas can reach (no port 0 or 0.0.0.0)"
        );
    }
    Ok(())
}

/// Checks that `addrs` (the argument `what`) names no address twice.
pub fn check_distinct(addrs: &[SocketAddr], what: &str) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    for addr in addrs {
        anyhow::ensure!(seen.insert(addr), "{what} lists {addr} twice");
    }
    Ok(())
}

/// Waits for SIGINT (Ctrl-C) or, on Unix, SIGTERM: a server stops the same way on either.
///
/// # Errors
/// If the signal handlers cannot be installed.
pub async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("waiting for SIGTERM")?;
        tokio::select! {
            signal = tokio::signal::ctrl_c() => signal.context("waiting for Ctrl-C"),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
    }
}

/// Prints the answer of a one-command client (`dsys kv`, `dsys shardkv`): an error exits 1
/// with its text, nil prints `(nil)` on stderr, and with `prints` (GET, DEL) a value prints
/// raw on stdout, a number in decimal.
///
/// # Errors
/// The answer's error, or a failed write to stdout.
pub fn print_answer(answer: keyspace::Value, prints: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    match answer {
        keyspace::Value::Error(text) => anyhow::bail!("{text}"),
        keyspace::Value::Nil => eprintln!("(nil)"),
        keyspace::Value::Bulk(value) if prints => {
            let mut out = std::io::stdout().lock();
            out.write_all(&value)?;
            out.write_all(b"\n")?;
        }
        keyspace::Value::Int(n) if prints => println!("{n}"),
        _ => {}
    }
    Ok(())
}

/// A server's readiness line (`PREFIX listening on ADDR [resp RESP_ADDR] data DIR`, or
/// `in memory`), printed and flushed: scripts and tests wait for it.
///
/// # Errors
/// If stdout cannot be written.
pub fn announce(
    prefix: &str,
    addr: SocketAddr,
    resp: Option<SocketAddr>,
    storage: &Storage,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut line = format!("{prefix} listening on {addr}");
    if let Some(resp) = resp {
        line.push_str(&format!(" resp {resp}"));
    }
    match storage {
        Storage::Dir(dir) => line.push_str(&format!(" data {}", dir.display())),
        Storage::InMemory => line.push_str(" in memory"),
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{line}").context("writing to stdout")?;
    stdout.flush().context("writing to stdout")
}

/// Binds the RESP front door's `--resp` address, if given; it must not be one of `peers`.
///
/// # Errors
/// If it is a peer address or cannot be bound.
pub async fn bind_resp(
    resp: Option<SocketAddr>,
    peers: &[SocketAddr],
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let Some(addr) = resp else {
        return Ok(None);
    };
    anyhow::ensure!(
        !peers.contains(&addr),
        "--resp {addr} is also a peer address; give the RESP listener its own port"
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the RESP address {addr}"))?;
    Ok(Some(listener))
}
