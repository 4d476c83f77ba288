//! `dsys kv`: a kvpaxos replica process and a client (SPEC §6, issues 5 and 10).
//!
//! ```text
//! dsys kv serve --id 0 --peers 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 --resp 127.0.0.1:6380
//! dsys kv put --servers 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 greeting hello
//! dsys kv get --servers 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 greeting
//! dsys kv del --servers 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 greeting
//! ```
//!
//! A replica listens on its own entry of `--peers` (peers and clerks connect there) and, with
//! `--resp`, speaks RESP2 and RESP3 to redis-cli, redis-benchmark and client libraries such as
//! redis-py. It keeps its state in `--data-dir` (default `dsys-kv-ID` in the working directory,
//! as etcd does), so `kill -9` and a restart on
//! the same directory keep every acknowledged write; `--in-memory` keeps nothing. Once
//! listening it prints `kv replica ID listening on PEER_ADDR [resp RESP_ADDR] data DIR` (or
//! `in memory` for DIR) and runs until killed, or until a write or fsync of its directory
//! fails: then it exits 1 saying so (the cause is logged just before). The client exits 0 once a replica answered, 1 with a
//! message if none did within `--timeout`, 2 on a usage error.

use crate::args::{
    StorageArgs, announce, bind_resp, check_distinct, check_peers, clerk_id, cores, parse_addr,
    parse_text, runtime, stop_signal,
};
use anyhow::Context;
use bytes::Bytes;
use keyspace::{Batch, Cmd, Condition, SetExpiry};
use kvpaxos::msg::KvCommand as LogCommand;
use kvpaxos::server::{KvServer, KvServerConfig, REPLICAS_MAX, Storage, TcpClerk};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// `dsys kv`: a replica (`serve`) or one client operation.
#[derive(clap::Subcommand, Debug)]
pub enum KvCommand {
    /// Run one replica of a kvpaxos cluster.
    Serve(ServeArgs),
    /// Print the value of KEY (nothing, and "(nil)" on stderr, if absent).
    Get {
        #[command(flatten)]
        client: ClientArgs,
        /// The key.
        #[arg(value_parser = parse_text)]
        key: String,
    },
    /// Set KEY to VALUE.
    Put {
        #[command(flatten)]
        client: ClientArgs,
        /// The key.
        #[arg(value_parser = parse_text)]
        key: String,
        /// The value.
        #[arg(value_parser = parse_text)]
        value: String,
    },
    /// Append VALUE to KEY's value.
    Append {
        #[command(flatten)]
        client: ClientArgs,
        /// The key.
        #[arg(value_parser = parse_text)]
        key: String,
        /// The suffix.
        #[arg(value_parser = parse_text)]
        value: String,
    },
    /// Delete KEYs; prints how many existed.
    Del {
        #[command(flatten)]
        client: ClientArgs,
        /// The keys.
        #[arg(required = true, value_parser = parse_text)]
        keys: Vec<String>,
    },
}

/// Arguments of `dsys kv serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// This replica's id: its index in --peers, from 0.
    #[arg(long)]
    id: u32,
    /// Every replica's peer address (HOST:PORT), in id order, comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_addr)]
    peers: Vec<SocketAddr>,
    /// Also serve the Redis protocol (RESP2, RESP3 on HELLO 3) on this address (port 0 picks a free one).
    #[arg(long, value_parser = parse_addr)]
    resp: Option<SocketAddr>,
    /// Threads for network I/O. The replica core is one task whatever this is; with several
    /// replicas and their clients sharing a machine, one thread each avoids cross-thread
    /// wake-ups (about 20 % more throughput measured on 2 cores).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    #[command(flatten)]
    storage: StorageArgs,
}

/// Arguments of the client operations.
#[derive(clap::Args, Debug)]
pub struct ClientArgs {
    /// The replicas' peer addresses (HOST:PORT), comma-separated; tried in turn.
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_addr)]
    servers: Vec<SocketAddr>,
    /// Give up if no replica answered within this many seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
}

/// Runs `dsys kv`.
///
/// # Errors
/// If the arguments are inconsistent, a socket cannot be bound, or no replica answered the
/// client within `--timeout`.
pub fn run(command: KvCommand) -> anyhow::Result<()> {
    let bytes = |s: String| Bytes::from(s.into_bytes());
    let (client, cmd) = match command {
        KvCommand::Serve(args) => return serve(args),
        KvCommand::Get { client, key } => (client, Cmd::Get { key: bytes(key) }),
        KvCommand::Put { client, key, value } => (
            client,
            Cmd::Set {
                key: bytes(key),
                value: bytes(value),
                condition: Condition::Always,
                get: false,
                expiry: SetExpiry::Clear,
            },
        ),
        KvCommand::Append { client, key, value } => (
            client,
            Cmd::Append {
                key: bytes(key),
                value: bytes(value),
            },
        ),
        KvCommand::Del { client, keys } => (
            client,
            Cmd::Del {
                keys: keys.into_iter().map(bytes).collect(),
            },
        ),
    };
    check_distinct(&client.servers, "--servers")?;
    let prints = matches!(cmd, Cmd::Get { .. } | Cmd::Del { .. });
    let timeout = Duration::from_secs(client.timeout);
    // No time stamp needed: none of these commands reads or sets an expiry.
    let batch = Batch {
        now_ms: 0,
        cmds: vec![cmd],
    };
    let output = runtime(cores())?.block_on(async {
        let mut clerk = TcpClerk::new(&client.servers).fail_fast();
        clerk.run(LogCommand::Redis(batch), timeout).await
    })?;
    let answer = match output {
        kvpaxos::msg::KvOutput::Redis(mut answers) if answers.len() == 1 => answers.remove(0),
        other => anyhow::bail!("the replica answered {other:?}"),
    };
    crate::args::print_answer(answer, prints)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    check_peers(args.id, &args.peers, REPLICAS_MAX)?;
    let me = args.peers[args.id as usize];
    let storage = args.storage.storage("kv", args.id);
    let runtime = runtime(usize::from(args.threads))?;
    runtime.block_on(async {
        let listener = TcpListener::bind(me)
            .await
            .with_context(|| format!("binding the peer address {me}"))?;
        let resp = bind_resp(args.resp, &args.peers).await?;
        let config = KvServerConfig {
            id: rpc::NodeId(args.id),
            peers: args.peers.clone(),
            listener,
            resp,
            seed: clerk_id(),
            storage: storage.clone(),
        };
        let server = KvServer::spawn(config).context("starting the replica")?;
        let prefix = format!("kv replica {}", args.id);
        announce(&prefix, me, server.resp_addr(), &storage)?;
        tokio::select! {
            signal = stop_signal() => signal,
            () = server.stopped() => Err(stopped_error(args.id, &storage)),
        }
    })
}

/// What to tell the user when the replica stopped on its own.
fn stopped_error(id: u32, storage: &Storage) -> anyhow::Error {
    match storage {
        Storage::Dir(dir) => anyhow::anyhow!(
            "kv replica {id} stopped on its own: a write or fsync in its data directory {} failed, \
             or the replica crashed (the cause is logged above); it acknowledged nothing that is \
             not on disk. Fix the cause, then start it again on the same directory",
            dir.display()
        ),
        Storage::InMemory => {
            anyhow::anyhow!("kv replica {id} stopped on its own (the cause is logged above)")
        }
    }
}
