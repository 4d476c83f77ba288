//! `dsys viewservice` and `dsys pb`: the view service, primary/backup servers and a client over
//! TCP (SPEC §3, §4).
//!
//! ```text
//! dsys viewservice --listen 127.0.0.1:7000
//! dsys pb serve --viewservice 127.0.0.1:7000 --listen 127.0.0.1:7001
//! dsys pb --viewservice 127.0.0.1:7000 put k v
//! dsys pb --viewservice 127.0.0.1:7000 get k
//! dsys pb --viewservice 127.0.0.1:7000 view
//! ```
//!
//! Servers print `listening on ADDR` once bound (so `--listen 127.0.0.1:0` is usable by
//! scripts) and run until killed. The client exits 0 after the primary answered, 1 with a
//! message if no primary answered within `--timeout`, 2 on a usage error.

use crate::args::{clerk_id, cores, parse_addr, parse_text, runtime};
use anyhow::Context;
use clap::{ArgMatches, Args, Command, FromArgMatches, Subcommand};
use pbservice::{Op, PbServer, TcpClerk};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use viewservice::{ViewReply, ViewServer, VsRequest};

/// Arguments of `dsys viewservice`.
#[derive(clap::Args, Debug)]
pub struct ViewServiceArgs {
    /// Address to listen on (HOST:PORT; port 0 picks a free one, printed at start).
    #[arg(long, value_parser = parse_addr)]
    listen: SocketAddr,
}

/// `dsys pb`: a server (`serve`) or one client operation, all against one view service.
#[derive(Debug)]
pub struct PbCommand {
    args: PbArgs,
    viewservice: SocketAddr,
}

#[derive(clap::Args, Debug)]
struct PbArgs {
    /// The view service (HOST:PORT). Required.
    #[arg(long, global = true, value_parser = parse_addr)]
    viewservice: Option<SocketAddr>,
    /// Client: give up if no primary answered within this many seconds.
    #[arg(long, global = true, default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
    #[command(subcommand)]
    action: PbAction,
}

#[derive(clap::Subcommand, Debug)]
enum PbAction {
    /// Run a primary/backup server.
    Serve {
        /// Address to listen on (HOST:PORT; port 0 picks a free one, printed at start).
        #[arg(long, value_parser = parse_addr)]
        listen: SocketAddr,
        /// Address others reach this server at (default: the bound listen address).
        #[arg(long, value_parser = parse_addr)]
        advertise: Option<SocketAddr>,
    },
    /// Print the view service's current view (who is primary and backup, and where).
    View,
    /// Print the value of KEY ("" if absent).
    Get {
        /// The key.
        #[arg(value_parser = parse_text)]
        key: String,
    },
    /// Set KEY to VALUE.
    Put {
        /// The key.
        #[arg(value_parser = parse_text)]
        key: String,
        /// The value.
        #[arg(value_parser = parse_text)]
        value: String,
    },
    /// Append VALUE to KEY's value.
    Append {
        /// The key.
        #[arg(value_parser = parse_text)]
        key: String,
        /// The suffix.
        #[arg(value_parser = parse_text)]
        value: String,
    },
}

// `dsys pb` is a subcommand slot in main.rs; implementing the traits by hand lets it carry
// options of its own (`dsys pb --viewservice X get k`) and check that `--viewservice` is there,
// as a usage error (exit 2), which clap cannot require of a global option.
impl FromArgMatches for PbCommand {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let args = PbArgs::from_arg_matches(matches)?;
        let Some(viewservice) = args.viewservice else {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::MissingRequiredArgument,
                "the view service address is required: --viewservice HOST:PORT\n",
            ));
        };
        Ok(PbCommand { args, viewservice })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Subcommand for PbCommand {
    fn augment_subcommands(cmd: Command) -> Command {
        PbArgs::augment_args(cmd)
    }

    fn augment_subcommands_for_update(cmd: Command) -> Command {
        PbArgs::augment_args_for_update(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        PbAction::has_subcommand(name)
    }
}

/// Prints the bound address for scripts and tests, at once.
fn announce(what: &str, addr: SocketAddr) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{what} listening on {addr}").context("writing to stdout")?;
    stdout.flush().context("writing to stdout")
}

/// Runs `dsys viewservice`: serves until killed (or Ctrl-C).
///
/// # Errors
/// If the address cannot be bound.
pub fn run_viewservice(args: ViewServiceArgs) -> anyhow::Result<()> {
    runtime(cores())?.block_on(async {
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let addr = listener.local_addr().context("local address")?;
        let _service = ViewServer::spawn(listener).context("starting the view service")?;
        announce("view service", addr)?;
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
    })
}

/// Runs `dsys pb`.
///
/// # Errors
/// If a server cannot bind, or if no primary answered the client within `--timeout`.
pub fn run_pb(command: PbCommand) -> anyhow::Result<()> {
    let PbCommand { args, viewservice } = command;
    let timeout = Duration::from_secs(args.timeout);
    let op = match args.action {
        PbAction::Serve { listen, advertise } => return serve(viewservice, listen, advertise),
        PbAction::View => return print_view(viewservice, timeout),
        PbAction::Get { key } => Op::Get { key },
        PbAction::Put { key, value } => Op::Put { key, value },
        PbAction::Append { key, value } => Op::Append { key, value },
    };
    let is_get = matches!(op, Op::Get { .. });
    let value = runtime(cores())?.block_on(async {
        let mut clerk = TcpClerk::new(clerk_id(), viewservice);
        clerk.run(op, timeout).await
    })?;
    if is_get {
        println!("{value}");
    }
    Ok(())
}

fn print_view(viewservice: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let reply = runtime(cores())?.block_on(async {
        let client: rpc::RpcClient<VsRequest, ViewReply> = rpc::RpcClient::new(viewservice);
        client.call(VsRequest::Get, timeout).await
    });
    let reply = reply.with_context(|| format!("asking the view service at {viewservice}"))?;
    let server = |id: Option<rpc::NodeId>, addr: &str| match id {
        Some(id) => format!("{id} ({addr})"),
        None => "none".to_string(),
    };
    println!(
        "view {}: primary {}, backup {}{}",
        reply.view.num.0,
        server(reply.view.primary, &reply.primary_addr),
        server(reply.view.backup, &reply.backup_addr),
        if reply.acked || reply.view.num.0 == 0 {
            ""
        } else {
            " (not yet acknowledged)"
        }
    );
    Ok(())
}

fn serve(
    viewservice: SocketAddr,
    listen: SocketAddr,
    advertise: Option<SocketAddr>,
) -> anyhow::Result<()> {
    runtime(cores())?.block_on(async {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr().context("local address")?;
        let advertise = advertise.unwrap_or(addr);
        anyhow::ensure!(
            !advertise.ip().is_unspecified(),
            "listening on {addr}: give the address others reach this server at with --advertise"
        );
        let _server = PbServer::spawn(listener, viewservice, advertise.to_string());
        announce("pb server", addr)?;
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
    })
}
