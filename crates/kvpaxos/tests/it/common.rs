//! The kvpaxos side of the shared harness ([`kvstore::testing`]): a simulated cluster of
//! replicas (nodes `0..n`) whose every replica is checked for agreement after each step, and
//! the ways kvpaxos clerks are placed (a server list per clerk, pinned or shuffled).

pub use kvstore::testing::*;

use kvpaxos::{Clerk, Replica};
use rpc::{ClientId, NodeId};
use rsm::Config;
use sim::{Sim, SimConfig};

/// A simulated kvpaxos cluster with its recorded history.
pub type Kv = KvHarness<Replica, Clerk>;

/// What a kvpaxos scenario adds to the shared harness.
pub trait KvpaxosCluster {
    /// A cluster of `servers` replicas, all up, with 10 ms ticks.
    fn new(seed: u64, servers: u32) -> Self;
    /// The same with every replica on `config`.
    fn with_config(seed: u64, servers: u32, config: &Config) -> Self;
    /// A cluster of `servers` durable replicas on `config`, each on an empty directory.
    fn durable(seed: u64, servers: u32, config: &Config) -> Self;
    /// Restarts crashed replica `i` on what its disk kept (nothing, if it was lost), as a
    /// durable replica on `config`. `incarnation` varies the seed, so that a replica that
    /// lost its disk draws a new incarnation.
    ///
    /// # Errors
    /// If the replica refuses its directory.
    fn restart_durable(&mut self, i: u32, config: &Config, incarnation: u64) -> Result<(), String>;
    /// The number of replicas.
    fn servers(&self) -> u32;
    /// Adds a clerk that tries `servers` in this order (it opens its session through the log).
    fn clerk(&mut self, servers: &[u32]) -> ClientId;
    /// A clerk that knows every server, in an order shuffled by the run's generator.
    fn shuffled_clerk(&mut self) -> ClientId;
    /// One clerk per server, pinned to it.
    fn pinned_clerks(&mut self) -> Vec<ClientId>;
    /// Every server, through its own pinned clerk, returns the same value for `key`. Returns it.
    ///
    /// # Errors
    /// If a Get does not complete, or the servers disagree.
    fn all_agree(&mut self, key: &str) -> Result<String, String>;
    /// The replica on server `i`.
    fn replica(&self, i: u32) -> &Replica;
}

impl KvpaxosCluster for Kv {
    fn new(seed: u64, servers: u32) -> Self {
        Kv::with_config(seed, servers, &Config::default())
    }

    fn with_config(seed: u64, servers: u32, config: &Config) -> Self {
        let replicas = (0..servers)
            .map(|i| Replica::with_config(NodeId(i), servers, seed, config.clone()))
            .collect::<Result<Vec<_>, _>>()
            .expect("a valid config");
        let mut sim = Sim::new(SimConfig::new(seed), replicas);
        sim.set_invariant(rsm::invariant::agreement());
        Kv::from_sim(sim, describe)
    }

    fn durable(seed: u64, servers: u32, config: &Config) -> Self {
        let empty = rpc::DiskImage::new();
        let replicas = (0..servers)
            .map(|i| Replica::open(NodeId(i), servers, seed, config.clone(), &empty))
            .collect::<Result<Vec<_>, _>>()
            .expect("an empty directory opens");
        let mut sim = Sim::new(SimConfig::new(seed), replicas);
        sim.set_invariant(rsm::invariant::agreement());
        Kv::from_sim(sim, describe)
    }

    fn restart_durable(&mut self, i: u32, config: &Config, incarnation: u64) -> Result<(), String> {
        let (servers, seed) = (
            self.servers(),
            self.sim.seed() ^ incarnation.rotate_left(17),
        );
        let disk = self.sim.disk(NodeId(i)).clone();
        let replica = Replica::open(NodeId(i), servers, seed, config.clone(), &disk)
            .map_err(|e| format!("replica {i} refused its directory: {e}"))?;
        let mut replica = Some(replica);
        self.sim
            .restart(NodeId(i), |_| replica.take().expect("made once"));
        Ok(())
    }

    fn servers(&self) -> u32 {
        self.sim.node_count() as u32
    }

    fn clerk(&mut self, servers: &[u32]) -> ClientId {
        let servers = servers.iter().map(|&i| NodeId(i)).collect();
        self.sim.add_client(Clerk::new(servers))
    }

    fn shuffled_clerk(&mut self) -> ClientId {
        let mut order: Vec<u32> = (0..self.servers()).collect();
        for i in (1..order.len()).rev() {
            let j = self.sim.rng().below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        self.clerk(&order)
    }

    fn pinned_clerks(&mut self) -> Vec<ClientId> {
        (0..self.servers()).map(|i| self.clerk(&[i])).collect()
    }

    fn all_agree(&mut self, key: &str) -> Result<String, String> {
        let clerks = self.pinned_clerks();
        let mut values = Vec::new();
        for c in clerks {
            values.push(self.op(c, get(key))?);
        }
        ensure(values.windows(2).all(|w| w[0] == w[1]), || {
            format!("servers disagree on {key:?}: {values:?}")
        })?;
        Ok(values.pop().unwrap_or_default())
    }

    fn replica(&self, i: u32) -> &Replica {
        self.sim.node(NodeId(i)).expect("replicas are never killed")
    }
}

/// Each replica's progress, for failure messages.
pub fn describe(sim: &Sim<Replica, Clerk>) -> String {
    let parts: Vec<String> = sim
        .node_ids()
        .map(|id| match sim.node(id) {
            Some(r) => format!("{}: {}", id.0, r.describe()),
            None => format!("{}: down", id.0),
        })
        .collect();
    parts.join("; ")
}

/// The handout's "concurrent clerks on one key" part (TestBasic, TestUnreliable): 20 rounds
/// of 15 clerks, made by `clerk`, each doing one Put or Get on "b"; after each round every
/// server must return the same value.
///
/// # Errors
/// If an operation does not complete or the servers disagree.
pub fn concurrent_rounds_on_b(
    kv: &mut Kv,
    mut clerk: impl FnMut(&mut Kv, u32) -> ClientId,
) -> Result<(), String> {
    for _round in 0..20 {
        let clerks: Vec<_> = (0..15).map(|i| clerk(kv, i)).collect();
        kv.drive(&clerks, u64::MAX, MS_US, |kv, _, n| {
            (n == 0).then(|| {
                let v = kv.sim.rng().below(1000);
                if v % 2 == 0 {
                    put("b", &v.to_string())
                } else {
                    get("b")
                }
            })
        })?;
        kv.all_agree("b")?;
    }
    Ok(())
}
