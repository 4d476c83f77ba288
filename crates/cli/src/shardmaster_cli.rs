//! `dsys shardmaster`: a shard master replica process and a client (SPEC §7, issue 12).
//!
//! ```text
//! P=127.0.0.1:7301,127.0.0.1:7302,127.0.0.1:7303
//! dsys shardmaster serve --id 0 --peers $P          # and --id 1, --id 2
//! dsys shardmaster --servers $P join 100 10.0.0.1:7400,10.0.0.2:7400
//! dsys shardmaster --servers $P move 3 100
//! dsys shardmaster --servers $P leave 100
//! dsys shardmaster --servers $P query               # the latest; `query 2` for config 2
//! dsys shardmaster --servers $P query --json
//! ```
//!
//! A replica is `rsm`'s server shell around the shard master's machine, as a kvpaxos replica
//! is around the store: it listens on its own entry of `--peers` (peers and clerks connect
//! there) and keeps its state in `--data-dir` (default `dsys-shardmaster-ID` in the working
//! directory), locked while it runs and checked against its id and peer list, so `kill -9`
//! and a restart on the same directory keep every configuration; `--in-memory` keeps nothing.
//! Once listening it prints `shardmaster replica ID listening on PEER_ADDR data DIR` (or `in
//! memory` for DIR) and runs until SIGINT or SIGTERM (exit 0), or until a write or fsync of its
//! directory fails (exit 1, saying so).
//!
//! The client runs one operation through the log and prints its answer: `configuration N`
//! for a change, `unchanged: configuration N is the latest` for a duplicate, the configuration
//! for a query (a table, or JSON with `--json`). An operation the shard master refuses (a gid
//! that left joining again, a Move to a group that is not joined, ...) prints why and exits
//! 1, as does no answer within `--timeout`; a usage error exits 2.

use crate::args::{
    StorageArgs, check_distinct, check_peers, clerk_id, parse_addr, runtime, stop_signal,
};
use anyhow::Context;
use rsm::server::{REPLICAS_MAX, Storage};
use shardmaster::server::{self, TcpClerk};
use shardmaster::{Config, Gid, Op, Reply};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// `dsys shardmaster`: a replica (`serve`) or one client operation.
#[derive(clap::Args, Debug)]
pub struct ShardmasterArgs {
    /// The replicas' peer addresses (HOST:PORT), comma-separated; tried in turn (client
    /// operations).
    #[arg(long, global = true, value_delimiter = ',', value_parser = parse_addr)]
    servers: Vec<SocketAddr>,
    /// Give up if no replica answered within this many seconds (client operations).
    #[arg(long, global = true, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
    #[command(subcommand)]
    command: SmCommand,
}

/// The shard master's subcommands.
#[derive(clap::Subcommand, Debug)]
enum SmCommand {
    /// Run one replica of a shard master cluster.
    Serve(ServeArgs),
    /// Add replica group GID with its servers, and rebalance the shards.
    #[command(allow_negative_numbers = true)]
    Join {
        /// The group's id (above 0; a gid that left never joins again).
        gid: i64,
        /// The group's servers (HOST:PORT), comma-separated, in order.
        #[arg(value_name = "HOST:PORT,...", value_delimiter = ',', required = true, value_parser = parse_server)]
        addrs: Vec<String>,
    },
    /// Remove replica group GID, and rebalance its shards over the others.
    #[command(allow_negative_numbers = true)]
    Leave {
        /// The group's id.
        gid: i64,
    },
    /// Give SHARD to replica group GID, changing nothing else.
    #[command(allow_negative_numbers = true)]
    Move {
        /// The shard, from 0.
        shard: u32,
        /// A joined group's id.
        gid: i64,
    },
    /// Print configuration NUM (default: the latest, as does -1 or a number past it).
    #[command(allow_negative_numbers = true)]
    Query {
        /// The configuration's number.
        num: Option<i64>,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `dsys shardmaster serve`.
#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// This replica's id: its index in --peers, from 0.
    #[arg(long)]
    id: u32,
    /// Every replica's peer address (HOST:PORT), in id order, comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_addr)]
    peers: Vec<SocketAddr>,
    #[command(flatten)]
    storage: StorageArgs,
}

/// A group's server address as given: kept as text (the shard master stores it; shardkv
/// resolves it), only checked to be `HOST:PORT`-shaped.
fn parse_server(text: &str) -> Result<String, String> {
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(text.to_string())
        }
        _ => Err(format!("{text:?} is not HOST:PORT")),
    }
}

/// Runs `dsys shardmaster`.
///
/// # Errors
/// If the arguments are inconsistent, a socket cannot be bound, the shard master refused the
/// operation, or no replica answered within `--timeout`.
pub fn run(args: ShardmasterArgs) -> anyhow::Result<()> {
    let (op, json) = match args.command {
        SmCommand::Serve(serve_args) => {
            anyhow::ensure!(
                args.servers.is_empty(),
                "--servers is for client operations; a replica takes --peers"
            );
            return serve(serve_args);
        }
        SmCommand::Join { gid, addrs } => (
            Op::Join {
                gid: Gid(gid),
                servers: addrs,
            },
            false,
        ),
        SmCommand::Leave { gid } => (Op::Leave { gid: Gid(gid) }, false),
        SmCommand::Move { shard, gid } => (
            Op::Move {
                shard,
                gid: Gid(gid),
            },
            false,
        ),
        SmCommand::Query { num, json } => (
            Op::Query {
                num: num.unwrap_or(-1),
            },
            json,
        ),
    };
    if args.servers.is_empty() {
        clap::Error::raw(
            clap::error::ErrorKind::MissingRequiredArgument,
            "the client operations need --servers HOST:PORT,...\n",
        )
        .exit();
    }
    check_distinct(&args.servers, "--servers")?;
    let timeout = Duration::from_secs(args.timeout);
    let answer = runtime(1)?.block_on(async {
        let mut clerk = TcpClerk::new(&args.servers).fail_fast();
        clerk.run(op, timeout).await
    })?;
    let text = match answer.map_err(|refused| anyhow::anyhow!("refused: {refused}"))? {
        Reply::Changed(num) => format!("configuration {num}\n"),
        Reply::Unchanged(num) => format!("unchanged: configuration {num} is the latest\n"),
        Reply::Config(config) if json => format!("{}\n", config_json(&config)),
        Reply::Config(config) => config_table(&config),
    };
    let mut stdout = std::io::stdout();
    stdout
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")
}

/// A configuration as tables: its groups (shard counts and servers), then which group owns
/// each shard, consecutive shards of one group on one line.
fn config_table(config: &Config) -> String {
    let per_group = config.shards_per_group();
    let mut out = format!(
        "configuration {}: {} shards, {} groups\n",
        config.num,
        config.shard_count(),
        config.groups.len()
    );
    if config.groups.is_empty() {
        out.push_str("no groups: every shard is at group 0 (none)\n");
        return out;
    }
    out.push_str("\ngroup   shards  servers\n");
    for (gid, servers) in &config.groups {
        let count = per_group.get(gid).copied().unwrap_or(0);
        let _ = writeln!(out, "{:<7} {count:<7} {}", gid.0, servers.join(","));
    }
    out.push_str("\nshards      group\n");
    for (first, last, gid) in runs(&config.shards) {
        let range = match first == last {
            true => first.to_string(),
            false => format!("{first}-{last}"),
        };
        let _ = writeln!(out, "{range:<11} {}", gid.0);
    }
    out
}

/// Runs of consecutive shards with one owner: `(first, last, owner)`.
fn runs(shards: &[Gid]) -> Vec<(usize, usize, Gid)> {
    let mut runs: Vec<(usize, usize, Gid)> = Vec::new();
    for (shard, &gid) in shards.iter().enumerate() {
        match runs.last_mut() {
            Some((_, last, owner)) if *owner == gid => *last = shard,
            _ => runs.push((shard, shard, gid)),
        }
    }
    runs
}

/// A configuration as one JSON object: `num`, `shards` (the owner of each shard, by index),
/// `groups` (gid → servers) and `shards_per_group` (gid → count). Gids are object keys, so
/// they are strings there, as JSON requires.
fn config_json(config: &Config) -> serde_json::Value {
    let groups: serde_json::Map<String, serde_json::Value> = config
        .groups
        .iter()
        .map(|(gid, servers)| (gid.0.to_string(), serde_json::json!(servers)))
        .collect();
    let per_group: serde_json::Map<String, serde_json::Value> = config
        .shards_per_group()
        .iter()
        .map(|(gid, count)| (gid.0.to_string(), serde_json::json!(count)))
        .collect();
    serde_json::json!({
        "num": config.num.0,
        "shards": config.shards.iter().map(|g| g.0).collect::<Vec<_>>(),
        "groups": groups,
        "shards_per_group": per_group,
    })
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    check_peers(args.id, &args.peers, REPLICAS_MAX)?;
    let me = args.peers[args.id as usize];
    let storage = args.storage.storage("shardmaster", args.id);
    runtime(1)?.block_on(async {
        let listener = TcpListener::bind(me)
            .await
            .with_context(|| format!("binding the peer address {me}"))?;
        let id = rpc::NodeId(args.id);
        let server = server::spawn(
            id,
            args.peers.clone(),
            listener,
            clerk_id(),
            storage.clone(),
        )
        .context("starting the replica")?;
        crate::args::announce(
            &format!("shardmaster replica {}", args.id),
            me,
            None,
            &storage,
        )?;
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
            "shardmaster replica {id} stopped on its own: a write or fsync in its data directory \
             {} failed, or the replica crashed (the cause is logged above); it acknowledged \
             nothing that is not on disk. Fix the cause, then start it again on the same directory",
            dir.display()
        ),
        Storage::InMemory => {
            anyhow::anyhow!(
                "shardmaster replica {id} stopped on its own (the cause is logged above)"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Consecutive shards of one group print as one range; the JSON lists every shard.
    #[test]
    fn tables_group_runs_and_json_lists_every_shard() {
        let mut config = Config::initial(6);
        config.num = shardmaster::ConfigNum(2);
        config.groups.insert(Gid(1), vec!["a:1".into()]);
        config
            .groups
            .insert(Gid(2), vec!["b:1".into(), "c:1".into()]);
        config.shards = [1, 1, 1, 2, 2, 1].into_iter().map(Gid).collect();
        let table = config_table(&config);
        assert!(
            table.starts_with("configuration 2: 6 shards, 2 groups\n"),
            "{table}"
        );
        assert!(table.contains("\n1       4       a:1\n"), "{table}");
        assert!(table.contains("\n2       2       b:1,c:1\n"), "{table}");
        assert!(
            table.contains("\n0-2         1\n3-4         2\n5           1\n"),
            "{table}"
        );
        let json = config_json(&config);
        assert_eq!(json["num"], 2);
        assert_eq!(json["shards"], serde_json::json!([1, 1, 1, 2, 2, 1]));
        assert_eq!(json["groups"]["2"], serde_json::json!(["b:1", "c:1"]));
        assert_eq!(json["shards_per_group"]["1"], 4);
    }

    #[test]
    fn server_addresses_must_be_host_port() {
        assert!(parse_server("host-1:7000").is_ok());
        assert!(parse_server("[::1]:7000").is_ok());
        for bad in ["", "host", ":7000", "host:", "host:99999"] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }
}
