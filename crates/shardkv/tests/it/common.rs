//! The shardkv harness: SPEC §8.3's cluster (3 shard master replicas, groups of 3 replicas,
//! gids 100, 101, 102, the lab's 10 shards and key mapping) in one simulation, the shared
//! KV harness over it (every clerk operation recorded and checked for linearizability), and
//! the handout's verbs.

pub use kvstore::testing::*;

use crate::world::{Answer, SmOp, WorldClerk, WorldNode, WorldOp};
use rpc::{ClientId, NodeId};
use shardkv::machine::ShardKvMachine;
use shardkv::shard::Phase;
use shardkv::{Identity, Mapping, ShardKvNode};
use shardmaster::{Config, Gid, LabReplica, Reply};
use sim::{Sim, SimConfig};
use std::collections::BTreeMap;

/// The simulated cluster with its recorded history.
pub type Sk = KvHarness<WorldNode, WorldClerk>;

/// The shard master's replicas.
pub const MASTERS: u32 = 3;

/// A shardkv cluster: the harness plus where every group lives.
pub struct Cluster {
    /// The harness (simulator and history).
    pub kv: Sk,
    /// The groups' gids, in order.
    pub gids: Vec<Gid>,
    /// Replicas per group.
    pub per_group: u32,
    /// The clerk that runs shard master operations.
    admin: ClientId,
    /// Clerk ids drawn so far (unique in the cluster).
    next_clerk: u64,
}

/// The address of replica `i` of group `gid`.
pub fn address(gid: Gid, i: u32) -> String {
    format!("g{gid}-{i}")
}

impl Cluster {
    /// `groups` groups (gids 100, 101, …) of `per_group` in-memory replicas, none joined yet.
    pub fn new(seed: u64, groups: u32, per_group: u32) -> Cluster {
        let gids: Vec<Gid> = (0..groups).map(|g| Gid(100 + i64::from(g))).collect();
        let mut nodes: Vec<WorldNode> = (0..MASTERS)
            .map(|i| WorldNode::Master(LabReplica::new(NodeId(i), MASTERS, seed)))
            .collect();
        for (g, &gid) in gids.iter().enumerate() {
            let base = MASTERS + g as u32 * per_group;
            for i in 0..per_group {
                nodes.push(server(seed, gid, i, base, per_group));
            }
        }
        let mut sim = Sim::new(SimConfig::new(seed), nodes);
        for (g, &gid) in gids.iter().enumerate() {
            for i in 0..per_group {
                sim.set_address(NodeId(MASTERS + g as u32 * per_group + i), address(gid, i));
            }
        }
        sim.set_invariant(agreement_in_every_group());
        let admin = sim.add_client(WorldClerk::new(u64::MAX, MASTERS));
        Cluster {
            kv: Sk::from_sim(sim, describe),
            gids,
            per_group,
            admin,
            next_clerk: 1,
        }
    }

    /// The sim ids of group `g`'s replicas.
    pub fn group(&self, g: usize) -> Vec<NodeId> {
        let base = MASTERS + g as u32 * self.per_group;
        (base..base + self.per_group).map(NodeId).collect()
    }

    /// A new clerk with a fresh id.
    pub fn clerk(&mut self) -> ClientId {
        let id = self.next_clerk;
        self.next_clerk += 1;
        self.kv.sim.add_client(WorldClerk::new(id, MASTERS))
    }

    /// Runs a shard master operation to completion.
    ///
    /// # Errors
    /// If it does not complete in time or the shard master refuses it.
    pub fn admin(&mut self, op: SmOp) -> Result<Reply, String> {
        let what = format!("{op:?}");
        let done = self
            .kv
            .sim
            .run_op(self.admin, WorldOp::Admin(op), OP_US_MAX)
            .map_err(|e| format!("{what}: {e}"))?;
        match done.output {
            Answer::Admin(Ok(Ok(reply))) => Ok(reply),
            other => Err(format!("{what}: {other:?}")),
        }
    }

    /// Joins group `g` with its replicas' addresses.
    ///
    /// # Errors
    /// As [`Cluster::admin`].
    pub fn join(&mut self, g: usize) -> Result<(), String> {
        let gid = self.gids[g];
        let servers = (0..self.per_group).map(|i| address(gid, i)).collect();
        self.admin(SmOp::Join { gid, servers }).map(|_| ())
    }

    /// Group `g` leaves.
    ///
    /// # Errors
    /// As [`Cluster::admin`].
    pub fn leave(&mut self, g: usize) -> Result<(), String> {
        self.admin(SmOp::Leave { gid: self.gids[g] }).map(|_| ())
    }

    /// Moves `shard` to group `g`.
    ///
    /// # Errors
    /// As [`Cluster::admin`].
    pub fn move_shard(&mut self, shard: u32, g: usize) -> Result<(), String> {
        let gid = self.gids[g];
        self.admin(SmOp::Move { shard, gid }).map(|_| ())
    }

    /// The latest configuration.
    ///
    /// # Errors
    /// As [`Cluster::admin`].
    pub fn query(&mut self) -> Result<Config, String> {
        match self.admin(SmOp::Query { num: -1 })? {
            Reply::Config(c) => Ok((*c).clone()),
            other => Err(format!("a query answered {other:?}")),
        }
    }

    /// Waits until every up replica of every group is at the latest configuration with every
    /// hand-off done, then checks where shards are: each shard is held, serving, by exactly
    /// its owner's replicas, and by no other group (deleted once moved).
    ///
    /// # Errors
    /// If that does not happen within `us`, or a shard is held where it should not be.
    pub fn settle(&mut self, us: u64) -> Result<(), String> {
        let latest = self.query()?;
        let num = latest.num;
        let deadline = self.kv.sim.now_us() + us;
        let ids: Vec<NodeId> = (0..self.gids.len()).flat_map(|g| self.group(g)).collect();
        let settled = |sim: &mut Sim<WorldNode, WorldClerk>| {
            ids.iter().all(|&id| {
                sim.node(id).and_then(WorldNode::server).is_none_or(|s| {
                    let state = s.state();
                    state.config_num() == num
                        && state.shards().all(|(_, sh)| sh.phase == Phase::Serving)
                })
            })
        };
        self.kv.sim.run_until(deadline, settled).map_err(|e| {
            format!(
                "groups did not settle at config {num}: {e}; {}",
                self.kv.describe()
            )
        })?;
        for (g, &gid) in self.gids.iter().enumerate() {
            for id in self.group(g) {
                let Some(server) = self.kv.sim.node(id).and_then(WorldNode::server) else {
                    continue;
                };
                let held: Vec<u32> = server.state().shards().map(|(s, _)| s).collect();
                let owned: Vec<u32> = (0..latest.shard_count())
                    .filter(|&s| latest.shards[s as usize] == gid)
                    .collect();
                ensure(held == owned, || {
                    format!("group {gid} replica {id} holds shards {held:?}, owns {owned:?}")
                })?;
            }
        }
        Ok(())
    }
}

/// A fresh in-memory replica `i` of group `gid`, whose group starts at sim id `base`.
pub fn server(seed: u64, gid: Gid, i: u32, base: u32, size: u32) -> WorldNode {
    let replica = rsm::Replica::<ShardKvMachine>::new(NodeId(i), size, seed ^ u64::from(base + i));
    let me = Identity {
        gid,
        addr: address(gid, i),
        mapping: Mapping::Lab,
    };
    WorldNode::Group {
        node: ShardKvNode::new(replica, me),
        base,
        size,
        masters: MASTERS,
        ticks: 0,
        asked: None,
    }
}

/// `rsm`'s agreement check, within the shard master and within each group.
fn agreement_in_every_group() -> impl FnMut(NodeId, &WorldNode) -> Result<(), String> {
    let mut masters = rsm::invariant::agreement::<shardmaster::LabMachine>();
    let mut groups: BTreeMap<u32, _> = BTreeMap::new();
    move |id, node| match node {
        WorldNode::Master(r) => masters(id, r),
        WorldNode::Group { node, base, .. } => {
            let check = groups
                .entry(*base)
                .or_insert_with(rsm::invariant::agreement::<ShardKvMachine>);
            check(id, node.replica())
        }
    }
}

/// Every replica's configuration and shards, for failure messages (`*` marks a group's
/// leader; with `SHARDKV_DEBUG=1`, also what each server's hand-offs wait for).
pub fn describe(sim: &Sim<WorldNode, WorldClerk>) -> String {
    let parts: Vec<String> = sim
        .node_ids()
        .filter_map(|id| {
            let server = sim.node(id)?.server()?;
            let state = server.state();
            let shards: Vec<String> = state
                .shards()
                .map(|(s, sh)| match &sh.phase {
                    Phase::Serving => format!("{s}"),
                    Phase::Pulling { received, .. } => format!("{s}<{}", received.len()),
                    Phase::Offering { to, .. } => format!("{s}>{to}"),
                })
                .collect();
            let lead = if server.replica().peer().is_leading() {
                "*"
            } else {
                ""
            };
            let detail = if std::env::var("SHARDKV_DEBUG").is_ok() {
                server.describe()
            } else {
                String::new()
            };
            Some(format!(
                "{id}{lead} g{} c{} [{}] {detail}",
                state.gid(),
                state.config_num(),
                shards.join(" ")
            ))
        })
        .collect();
    parts.join("; ")
}
