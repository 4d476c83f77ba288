//! `dsys`: the one command-line binary, a subcommand per system.
//!
//! Exit codes: 0 success, 1 error, 2 usage error (clap's own).

mod args;
mod bench_cli;
mod kv_cli;
mod mapreduce_cli;
mod paxos_demo;
mod pb_cli;
mod shardkv_cli;
mod shardkv_demo;
mod shardmaster_cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The classic distributed systems (MIT 6.824, 2015), as real software.
#[derive(Parser, Debug)]
#[command(name = "dsys", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main demo: 5 Paxos peers over TCP agreeing while partitions come and go.
    Demo(paxos_demo::DemoArgs),
    /// The Paxos library (SPEC §5).
    #[command(subcommand)]
    Paxos(PaxosCommand),
    /// Word count with MapReduce (SPEC §2.3).
    Wc(mapreduce_cli::WcArgs),
    /// MapReduce master and workers over TCP (SPEC §2).
    #[command(subcommand)]
    Mr(mapreduce_cli::MrCommand),
    /// The view service (SPEC §3).
    Viewservice(pb_cli::ViewServiceArgs),
    /// The primary/backup key/value store: servers and a client (SPEC §4).
    #[command(subcommand)]
    Pb(pb_cli::PbCommand),
    /// The Paxos-replicated key/value store: replicas (with a Redis front door) and a client
    /// (SPEC §6).
    #[command(subcommand)]
    Kv(kv_cli::KvCommand),
    /// The shard master: replicas and a client for Join, Leave, Move and Query (SPEC §7).
    Shardmaster(shardmaster_cli::ShardmasterArgs),
    /// The sharded key/value store: servers of replica groups and a client (SPEC §8).
    Shardkv(shardkv_cli::ShardkvArgs),
    /// Throughput and latency of a key/value service under load, with a Redis baseline.
    Bench(bench_cli::BenchArgs),
}

#[derive(Subcommand, Debug)]
enum PaxosCommand {
    /// Peers on 127.0.0.1, each pair linked through a cuttable proxy, under changing partitions.
    Demo(paxos_demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Demo(args) | Command::Paxos(PaxosCommand::Demo(args)) => paxos_demo::run(args),
        Command::Wc(args) => mapreduce_cli::run_wc(args),
        Command::Mr(command) => mapreduce_cli::run_mr(command),
        Command::Viewservice(args) => pb_cli::run_viewservice(args),
        Command::Pb(command) => pb_cli::run_pb(command),
        Command::Kv(command) => kv_cli::run(command),
        Command::Shardmaster(args) => shardmaster_cli::run(args),
        Command::Shardkv(args) => shardkv_cli::run(args),
        Command::Bench(args) => bench_cli::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("dsys: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings only).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colours only for a terminal: a log file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}
