//! `dsys shardkv`: a sharded key/value server process and a client (SPEC §8, issue 13).
//!
//! ```text
//! M=127.0.0.1:7301,127.0.0.1:7302,127.0.0.1:7303        # a running shard master
//! G=127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403
//! dsys shardkv serve --gid 100 --id 0 --peers $G --shardmaster $M --resp 127.0.0.1:6400
//! # ... and --id 1, --id 2
//! dsys shardmaster --servers $M join 100 $G
//! dsys shardkv --shardmaster $M put greeting hello
//! dsys shardkv --shardmaster $M get greeting
//! redis-cli -p 6400 get greeting
//! ```
//!
//! A server is its group's `rsm` replica inside the shardkv node: it listens on its own entry
//! of `--peers` (its group's peers, other groups and clerks connect there), keeps its state in
//! `--data-dir` (default `dsys-shardkv-GID-ID`) unless `--in-memory`, asks the shard master for
//! each next configuration, and hands shards to and from other groups. The group joins with
//! exactly the addresses of `--peers` (the shard master lists them; other groups dial them).
//! With `--resp` it also speaks the Redis protocol, routing every key to the group that owns
//! it (`shardkv::front`: a command whose keys span shards answers `-CROSSSLOT`).
//! Once listening it prints `shardkv group GID replica ID listening on ADDR [resp RESP_ADDR]
//! data DIR` and runs
//! until SIGINT or SIGTERM (exit 0), or until it stops on its own (exit 1).
//!
//! The client runs one command on the group that owns the key's shard: `get` prints the value
//! (or `(nil)` on stderr), `del` the number of keys removed; no answer within `--timeout`
//! exits 1.

use crate::args::{
    StorageArgs, bind_resp, check_distinct, check_peers, parse_addr, parse_text, runtime,
    stop_signal,
};
use anyhow::Context;
use bytes::Bytes;
use keyspace::{Batch, Cmd, Condition, SetExpiry};
use kvpaxos::msg::{KvCommand, KvOutput};
use rsm::server::REPLICAS_MAX;
use shardkv::Mapping;
use shardkv::server::{DIR_NAMES, Server, ServerConfig};
use shardkv::tcp_clerk::TcpClerk;
use shardmaster::Gid;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// `dsys shardkv`: a server (`serve`) or one client command.
#[derive(clap::Args, Debug)]
pub struct ShardkvArgs {
    /// The shard master's replicas (HOST:PORT), comma-separated.
    #[arg(long, global = true, value_delimiter = ',', value_parser = parse_addr)]
    shardmaster: Vec<SocketAddr>,
    /// Give up if the command got no answer within this many seconds (client commands).
    #[arg(long, global = true, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
    #[command(subcommand)]
    command: SkCommand,
}

#[derive(clap::Subcommand, Debug)]
enum SkCommand {
    /// Run one server of a replica group.
    Serve(ServeArgs),
    /// A shard master and three groups as processes, shards moving under load, every value
    /// checked after every step.
    Demo(crate::shardkv_demo::DemoArgs),
    /// Print KEY's value ((nil) on stderr if missing).
    Get {
        #[arg(value_parser = parse_text)]
        key: String,
    },
    /// Set KEY to VALUE.
    Put {
        #[arg(value_parser = parse_text)]
        key: String,
        #[arg(value_parser = parse_text)]
        value: String,
    },
    /// Append VALUE to KEY's value.
    Append {
        #[arg(value_parser = parse_text)]
        key: String,
        #[arg(value_parser = parse_text)]
        value: String,
    },
    /// Delete KEY; prints 1 if it existed, 0 if not.
    Del {
        #[arg(value_parser = parse_text)]
        key: String,
    },
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// The group's id (above 0), as it joins the shard master.
    #[arg(long)]
    gid: i64,
    /// This server's index in --peers, from 0.
    #[arg(long)]
    id: u32,
    /// The group's servers (HOST:PORT), in id order, comma-separated: the addresses the group
    /// joins with.
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_addr)]
    peers: Vec<SocketAddr>,
    /// Also serve the Redis protocol on this address (port 0 picks a free one): any key, on
    /// any server of any group.
    #[arg(long, value_parser = parse_addr)]
    resp: Option<SocketAddr>,
    /// Threads for network I/O. The replica core is one task whatever this is; with a whole
    /// cluster sharing a machine, one thread each avoids cross-thread wake-ups.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    #[command(flatten)]
    storage: StorageArgs,
}

/// Runs `dsys shardkv`.
///
/// # Errors
/// If the arguments are inconsistent, the server cannot start, or a command got no answer.
pub fn run(args: ShardkvArgs) -> anyhow::Result<()> {
    if let SkCommand::Demo(demo) = args.command {
        return crate::shardkv_demo::run(demo);
    }
    if args.shardmaster.is_empty() {
        clap::Error::raw(
            clap::error::ErrorKind::MissingRequiredArgument,
            "dsys shardkv needs --shardmaster HOST:PORT,...\n",
        )
        .exit();
    }
    check_distinct(&args.shardmaster, "--shardmaster")?;
    let bytes = |s: String| Bytes::from(s.into_bytes());
    let cmd = match args.command {
        SkCommand::Serve(serve_args) => return serve(serve_args, args.shardmaster),
        SkCommand::Demo(_) => unreachable!("handled above"),
        SkCommand::Get { key } => Cmd::Get { key: bytes(key) },
        SkCommand::Put { key, value } => Cmd::Set {
            key: bytes(key),
            value: bytes(value),
            condition: Condition::Always,
            get: false,
            expiry: SetExpiry::Clear,
        },
        SkCommand::Append { key, value } => Cmd::Append {
            key: bytes(key),
            value: bytes(value),
        },
        SkCommand::Del { key } => Cmd::Del {
            keys: vec![bytes(key)],
        },
    };
    let prints = matches!(cmd, Cmd::Get { .. } | Cmd::Del { .. });
    // No time stamp needed: none of these commands reads or sets an expiry.
    let batch = Batch {
        now_ms: 0,
        cmds: vec![cmd],
    };
    let timeout = Duration::from_secs(args.timeout);
    let output = runtime(1)?.block_on(async {
        let mut clerk = TcpClerk::new(&args.shardmaster, Mapping::Hash);
        clerk.run(KvCommand::Redis(batch), timeout).await
    })?;
    let answer = match output {
        KvOutput::Redis(mut answers) if answers.len() == 1 => answers.remove(0),
        other => anyhow::bail!("the group answered {other:?}"),
    };
    crate::args::print_answer(answer, prints)
}

fn serve(args: ServeArgs, shardmasters: Vec<SocketAddr>) -> anyhow::Result<()> {
    check_peers(args.id, &args.peers, REPLICAS_MAX)?;
    let gid = Gid(args.gid);
    anyhow::ensure!(gid.is_valid(), "--gid {} is not above 0", args.gid);
    let me = args.peers[args.id as usize];
    let storage = args.storage.storage(&format!("shardkv-{}", gid.0), args.id);
    runtime(usize::from(args.threads))?.block_on(async {
        let listener = TcpListener::bind(me)
            .await
            .with_context(|| format!("binding the peer address {me}"))?;
        let resp = bind_resp(args.resp, &args.peers).await?;
        let rsm = rsm::server::ServerConfig {
            id: rpc::NodeId(args.id),
            peers: args.peers.clone(),
            listener,
            seed: crate::args::clerk_id(),
            storage: storage.clone(),
            names: DIR_NAMES,
            config: rsm::Config::default(),
        };
        let config = ServerConfig {
            rsm,
            gid,
            mapping: Mapping::Hash,
            shardmasters,
            resp,
        };
        let server = Server::spawn(config).context("starting the server")?;
        let prefix = format!("shardkv group {gid} replica {}", args.id);
        crate::args::announce(&prefix, me, server.resp_addr(), &storage)?;
        tokio::select! {
            signal = stop_signal() => signal,
            () = server.stopped() => Err(anyhow::anyhow!(
                "shardkv group {gid} replica {} stopped on its own (the cause is logged above)",
                args.id
            )),
        }
    })
}
