//! `dsys demo` / `dsys paxos demo`: Paxos peers over real TCP, agreeing while partitions come
//! and go.
//!
//! Every ordered pair of peers talks through its own [`Proxy`], so a partition is made by cutting
//! proxies, exactly as the original labs deleted per-pair socket aliases (SPEC §1.3). Each round
//! picks a partition (seeded), starts a few instances on random peers, and shows who decided what:
//! a group with a majority decides, a minority cannot. At the end the network heals, every peer
//! proposes a no-op for each instance it has not learned (the way an application fills a gap in
//! its log), and the demo checks that all peers hold the same value for every instance.

use anyhow::{Context, bail};
use paxos::server::PaxosServer;
use paxos::{Fate, Seq, Value};
use rpc::{NodeId, Proxy, Rng};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// How the demo runs.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Number of Paxos peers.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(3..=9))]
    peers: u32,
    /// Number of partition rounds.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: u32,
    /// Instances started in each round.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    per_round: u32,
    /// How long each round lasts, in milliseconds.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    round_ms: u64,
    /// Seed for the partitions and the choice of proposers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// How long the final catch-up may take before the demo reports failure.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(20);

/// Runs the demo on a fresh tokio runtime.
///
/// # Errors
/// If sockets cannot be bound, or if the peers do not agree at the end (a bug).
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let runtime = crate::args::runtime(crate::args::cores())?;
    runtime.block_on(demo(args))
}

/// The peers and the proxy of every ordered pair.
struct Cluster {
    servers: Vec<PaxosServer>,
    /// `links[i][j]` carries peer i's messages to peer j (`None` on the diagonal).
    links: Vec<Vec<Option<Proxy>>>,
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let n = args.peers;
    let cluster = start_cluster(n, args.seed).await?;
    let mut rng = Rng::new(args.seed);
    println!("dsys paxos demo: {n} peers on 127.0.0.1, every pair linked through a cuttable proxy");
    println!(
        "a group of at least {} peers can decide; a smaller one cannot\n",
        n / 2 + 1
    );
    let mut next_seq = 0u64;
    for round in 1..=args.rounds {
        let groups = if round == 1 {
            vec![(0..n).collect()]
        } else {
            random_groups(&mut rng, n)
        };
        set_partition(&cluster, &groups);
        println!(
            "round {round}/{}  links: {}",
            args.rounds,
            describe_groups(&groups, n)
        );
        let first = next_seq;
        for _ in 0..args.per_round {
            let proposer = rng.below(u64::from(n)) as usize;
            let value = Value::from(format!("n{proposer}:r{round}"));
            cluster.servers[proposer]
                .start(Seq(next_seq), value)
                .await?;
            next_seq += 1;
        }
        tokio::time::sleep(Duration::from_millis(args.round_ms)).await;
        for seq in first..next_seq {
            println!("  {}", describe_instance(&cluster, Seq(seq)).await?);
        }
    }
    catch_up(&cluster, n, next_seq).await
}

/// Heals the network, fills every gap with a no-op proposal, and checks agreement.
async fn catch_up(cluster: &Cluster, n: u32, instances: u64) -> anyhow::Result<()> {
    set_partition(cluster, &[(0..n).collect()]);
    println!("\nhealed: each peer proposes a no-op for every instance it has not learned");
    for server in &cluster.servers {
        for seq in 0..instances {
            if server.status(Seq(seq)).await?.0 == Fate::Pending {
                server.start(Seq(seq), Value::from_static(b"no-op")).await?;
            }
        }
    }
    for seq in 0..instances {
        let mut agreed: Option<Value> = None;
        for server in &cluster.servers {
            let value = server.wait_decided(Seq(seq), CATCH_UP_LIMIT).await?;
            if agreed.as_ref().is_some_and(|known| *known != value) {
                bail!("peers disagree on instance {seq}: this is a bug");
            }
            agreed = Some(value);
        }
        let value = agreed
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        println!("  #{seq:<3} = {value:<10} at all {n} peers");
    }
    let frames: u64 = cluster.servers.iter().map(|s| s.stats().frames_out).sum();
    println!("\nall {n} peers agree on all {instances} instances ({frames} frames sent in total)");
    Ok(())
}

async fn start_cluster(n: u32, seed: u64) -> anyhow::Result<Cluster> {
    let (listeners, addrs) = rpc::bind_loopback(n as usize)
        .await
        .context("binding the peers")?;
    let mut links = Vec::new();
    for i in 0..n as usize {
        let mut row = Vec::new();
        for (j, target) in addrs.iter().enumerate() {
            if i == j {
                row.push(None);
                continue;
            }
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .context("binding a proxy")?;
            row.push(Some(Proxy::spawn(listener, *target)?));
        }
        links.push(row);
    }
    let mut servers = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        // Peer i reaches peer j only through proxy (i, j): its private view of the network.
        let view: Vec<SocketAddr> = (0..n as usize)
            .map(|j| links[i][j].as_ref().map_or(addrs[i], Proxy::addr))
            .collect();
        servers.push(PaxosServer::spawn(
            NodeId(i as u32),
            view,
            listener,
            seed.wrapping_add(i as u64),
        ));
    }
    Ok(Cluster { servers, links })
}

/// Cuts every link between peers in different groups and restores the rest.
fn set_partition(cluster: &Cluster, groups: &[Vec<u32>]) {
    let group_of = |peer: usize| groups.iter().position(|g| g.contains(&(peer as u32)));
    for (i, row) in cluster.links.iter().enumerate() {
        for (j, link) in row.iter().enumerate() {
            if let Some(proxy) = link {
                let together = group_of(i).is_some() && group_of(i) == group_of(j);
                proxy.set_cut(!together);
            }
        }
    }
}

/// A random partition: whole, a majority and a minority, or three groups (maybe no majority).
fn random_groups(rng: &mut Rng, n: u32) -> Vec<Vec<u32>> {
    let group_count = match rng.below(3) {
        0 => 1,
        1 => 2,
        _ => 3,
    };
    let mut groups = vec![Vec::new(); group_count];
    for peer in 0..n {
        groups[rng.below(group_count as u64) as usize].push(peer);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

fn describe_groups(groups: &[Vec<u32>], n: u32) -> String {
    if groups.len() == 1 {
        return "all connected".to_string();
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|g| {
            let names: Vec<String> = g.iter().map(|p| format!("n{p}")).collect();
            let mark = if g.len() as u32 > n / 2 {
                " (majority)"
            } else {
                ""
            };
            format!("{{{}}}{mark}", names.join(" "))
        })
        .collect();
    parts.join(" | ")
}

async fn describe_instance(cluster: &Cluster, seq: Seq) -> anyhow::Result<String> {
    let mut decided_at = Vec::new();
    let mut pending_at = Vec::new();
    let mut value = None;
    for (i, server) in cluster.servers.iter().enumerate() {
        match server.status(seq).await? {
            (Fate::Decided, Some(v)) => {
                decided_at.push(format!("n{i}"));
                value = Some(v);
            }
            _ => pending_at.push(format!("n{i}")),
        }
    }
    let shown = value.map_or_else(
        || "-".to_string(),
        |v| String::from_utf8_lossy(&v).into_owned(),
    );
    let pending = if pending_at.is_empty() {
        String::new()
    } else {
        format!("   pending at {}", pending_at.join(" "))
    };
    let decided = if decided_at.is_empty() {
        "nobody".to_string()
    } else {
        decided_at.join(" ")
    };
    Ok(format!(
        "#{:<3} = {shown:<8} decided at {decided}{pending}",
        seq.0
    ))
}
