//! The shard master as an `rsm` state machine: the shard master is this, replicated by
//! [`rsm::Replica`].
//!
//! # Memory
//! Every configuration is kept, because `Query(num)` must answer any of them (SPEC §7.2) and
//! shardkv walks them one by one. A configuration costs 8 bytes per shard plus its groups'
//! server lists: a 64-shard cluster of 10 groups of 3 servers (`host-12:7000`) costs 1.7 KB
//! per change ([`Config::retained_bytes`]), so a million Joins, Leaves and Moves hold about
//! 1.7 GB, in memory and in every snapshot. Changes are operator actions, a few a day, so
//! that is decades away; compacting old configurations (once every shardkv group has moved
//! past them) is the way out if it ever is not. The input bounds
//! ([`GROUPS_MAX`](crate::msg::GROUPS_MAX), [`SERVERS_MAX`], [`ADDRESS_BYTES_MAX`],
//! [`SHARDS_MAX`]) cap a single configuration at 9.2 MB.

use crate::config::{Config, ConfigNum, DEFAULT_SHARDS, Gid, SHARDS_MAX};
use crate::msg::{ADDRESS_BYTES_MAX, GROUPS_MAX, Op, Output, Reply, SERVERS_MAX, ShardError};
use crate::rebalance::rebalance;
use bytes::Bytes;
use paxos::Seq;
use rsm::{RestoreError, StateMachine};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The configuration history and the gids that left.
///
/// The shard count is the cluster's, chosen at creation ([`ShardMachine::new`]) and kept in
/// every snapshot. `SHARDS` is only the count [`Default`] creates with, because
/// [`rsm::Replica`] builds its machine with `S::default()`: [`LabMachine`] (10) for the SPEC
/// scenarios, [`ShardMachine`] (64) for real clusters. A snapshot restores with the count it
/// holds, whatever `SHARDS` is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardMachine<const SHARDS: u32 = DEFAULT_SHARDS> {
    /// Every configuration, numbered by index; never empty. Shared, so that a Query answers
    /// one without copying it ([`Reply::Config`]).
    configs: Vec<Arc<Config>>,
    /// Gids that left, never to join again.
    retired: BTreeSet<Gid>,
    /// The bytes `configs` holds.
    configs_bytes: usize,
}

/// The lab's shard master: 10 shards (SPEC §7.1).
pub type LabMachine = ShardMachine<{ crate::config::LAB_SHARDS }>;

impl<const SHARDS: u32> Default for ShardMachine<SHARDS> {
    fn default() -> Self {
        Self::new(SHARDS)
    }
}

/// The snapshot's layout. Versioned, so that a later layout can still read this one.
#[derive(Serialize, Deserialize)]
struct Image {
    version: u8,
    configs: Vec<Config>,
    retired: Vec<Gid>,
}

/// [`Image`] as a snapshot writes it, borrowing the history instead of copying it; it
/// encodes to the same bytes (an `Arc` encodes as what it holds).
#[derive(Serialize)]
struct ImageRef<'a> {
    version: u8,
    configs: &'a [Arc<Config>],
    retired: Vec<Gid>,
}

const IMAGE_VERSION: u8 = 1;

impl<const SHARDS: u32> ShardMachine<SHARDS> {
    /// A shard master for a cluster of `shards` shards, holding config 0 only.
    ///
    /// # Panics
    /// If `shards` is 0 or above [`SHARDS_MAX`].
    pub fn new(shards: u32) -> Self {
        let initial = Config::initial(shards);
        ShardMachine {
            configs_bytes: initial.retained_bytes(),
            configs: vec![Arc::new(initial)],
            retired: BTreeSet::new(),
        }
    }

    /// The cluster's shard count.
    pub fn shard_count(&self) -> u32 {
        self.latest().shard_count()
    }

    /// The latest configuration.
    pub fn latest(&self) -> &Config {
        self.configs.last().expect("config 0 is always there")
    }

    /// Every configuration, by number.
    pub fn configs(&self) -> &[Arc<Config>] {
        &self.configs
    }

    /// Runs `op`, a pure function of the history and the op.
    pub fn run(&mut self, op: &Op) -> Output {
        match op {
            Op::Join { gid, servers } => self.join(*gid, servers),
            Op::Leave { gid } => self.leave(*gid),
            Op::Move { shard, gid } => self.move_shard(*shard, *gid),
            Op::Query { num } => self.query_shared(*num).map(|c| Reply::Config(c.clone())),
        }
    }

    fn join(&mut self, gid: Gid, servers: &[String]) -> Output {
        check_gid(gid)?;
        check_servers(gid, servers)?;
        if self.retired.contains(&gid) {
            return Err(ShardError::GidRetired(gid));
        }
        let latest = self.latest();
        if let Some(known) = latest.groups.get(&gid) {
            return match known.as_slice() == servers {
                true => Ok(Reply::Unchanged(latest.num)),
                false => Err(ShardError::GidInUse(gid)),
            };
        }
        if latest.groups.len() >= GROUPS_MAX {
            return Err(ShardError::TooManyGroups);
        }
        let mut next = self.successor();
        next.groups.insert(gid, servers.to_vec());
        next.shards = rebalance(&next.shards, &next.groups.keys().copied().collect());
        Ok(self.push(next))
    }

    fn leave(&mut self, gid: Gid) -> Output {
        check_gid(gid)?;
        if self.retired.contains(&gid) {
            return Ok(Reply::Unchanged(self.latest().num));
        }
        if !self.latest().groups.contains_key(&gid) {
            return Err(ShardError::NotJoined(gid));
        }
        let mut next = self.successor();
        next.groups.remove(&gid);
        next.shards = rebalance(&next.shards, &next.groups.keys().copied().collect());
        self.retired.insert(gid);
        Ok(self.push(next))
    }

    fn move_shard(&mut self, shard: u32, gid: Gid) -> Output {
        check_gid(gid)?;
        let latest = self.latest();
        let shards = latest.shard_count();
        if shard >= shards {
            return Err(ShardError::ShardOutOfRange { shard, shards });
        }
        if !latest.groups.contains_key(&gid) {
            return Err(ShardError::NotJoined(gid));
        }
        if latest.shards[shard as usize] == gid {
            return Ok(Reply::Unchanged(latest.num));
        }
        let mut next = self.successor();
        next.shards[shard as usize] = gid;
        Ok(self.push(next))
    }

    /// Configuration `num`: -1 or past the latest is the latest.
    ///
    /// # Errors
    /// [`ShardError::BadConfigNum`] for a negative number other than -1.
    pub fn query(&self, num: i64) -> Result<&Config, ShardError> {
        self.query_shared(num).map(|c| &**c)
    }

    /// [`ShardMachine::query`], shared.
    fn query_shared(&self, num: i64) -> Result<&Arc<Config>, ShardError> {
        let latest = self.configs.last().expect("config 0 is always there");
        match num {
            -1 => Ok(latest),
            n if n < 0 => Err(ShardError::BadConfigNum(n)),
            n => Ok(usize::try_from(n)
                .ok()
                .and_then(|n| self.configs.get(n))
                .unwrap_or(latest)),
        }
    }

    /// A copy of the latest configuration numbered one more (SPEC §7.2: deep-copy the groups).
    fn successor(&self) -> Config {
        let mut next = Config::clone(self.latest());
        next.num = ConfigNum(next.num.0 + 1);
        next
    }

    fn push(&mut self, next: Config) -> Reply {
        assert_eq!(
            next.num.0,
            self.configs.len() as u64,
            "configs are numbered in order"
        );
        assert_eq!(
            next.shards.len(),
            self.latest().shards.len(),
            "the shard count is fixed"
        );
        self.configs_bytes += next.retained_bytes();
        let num = next.num;
        self.configs.push(Arc::new(next));
        Reply::Changed(num)
    }
}

fn check_gid(gid: Gid) -> Result<(), ShardError> {
    match gid.is_valid() {
        true => Ok(()),
        false => Err(ShardError::InvalidGid(gid)),
    }
}

fn check_servers(gid: Gid, servers: &[String]) -> Result<(), ShardError> {
    if servers.is_empty() {
        return Err(ShardError::NoServers(gid));
    }
    if servers.len() > SERVERS_MAX {
        return Err(ShardError::TooManyServers {
            gid,
            count: servers.len(),
        });
    }
    match servers
        .iter()
        .find(|s| s.is_empty() || s.len() > ADDRESS_BYTES_MAX)
    {
        Some(bad) => Err(ShardError::BadAddress {
            gid,
            bytes: bad.len(),
        }),
        None => Ok(()),
    }
}

/// A snapshot's configurations are what this machine could have made: numbered in order, all
/// of one shard count in range, config 0 empty, every shard at a present group (or at none
/// while there is none), groups within the input bounds and never a retired one.
fn validate(image: &Image) -> Result<(), String> {
    if image.version != IMAGE_VERSION {
        return Err(format!("unknown snapshot version {}", image.version));
    }
    let first = image.configs.first().ok_or("no configurations")?;
    let shards = first.shards.len();
    if shards == 0 || shards > SHARDS_MAX as usize {
        return Err(format!("{shards} shards, not 1..={SHARDS_MAX}"));
    }
    if *first != Config::initial(shards as u32) {
        return Err("config 0 is not the initial configuration".into());
    }
    let retired: BTreeSet<Gid> = image.retired.iter().copied().collect();
    for (i, c) in image.configs.iter().enumerate() {
        if c.num.0 != i as u64 || c.shards.len() != shards {
            return Err(format!(
                "configuration {i} is numbered {} or sized wrong",
                c.num
            ));
        }
        if c.groups.len() > GROUPS_MAX {
            return Err(format!("configuration {i} has {} groups", c.groups.len()));
        }
        for (&gid, servers) in &c.groups {
            check_gid(gid).map_err(|e| format!("configuration {i}: {e}"))?;
            check_servers(gid, servers).map_err(|e| format!("configuration {i}: {e}"))?;
        }
        let owner_ok = |g: &Gid| match c.groups.is_empty() {
            true => *g == Gid::NONE,
            false => c.groups.contains_key(g),
        };
        if !c.shards.iter().all(owner_ok) {
            return Err(format!(
                "configuration {i} gives a shard to no present group"
            ));
        }
    }
    let latest = image.configs.last().ok_or("no configurations")?;
    if let Some(gid) = latest.groups.keys().find(|g| retired.contains(g)) {
        return Err(format!("retired group {gid} is joined"));
    }
    Ok(())
}

impl<const SHARDS: u32> StateMachine for ShardMachine<SHARDS> {
    type Command = Op;
    type Output = Output;

    fn apply(&mut self, _slot: Seq, op: &Op) -> Output {
        self.run(op)
    }

    fn snapshot(&self) -> Bytes {
        let image = ImageRef {
            version: IMAGE_VERSION,
            configs: &self.configs,
            retired: self.retired.iter().copied().collect(),
        };
        Bytes::from(postcard::to_stdvec(&image).expect("configurations always encode"))
    }

    /// Decoding is bounded by the input: postcard reads lengths as varints and fails when the
    /// bytes run out, and serde preallocates at most 1 MiB for a claimed length, so garbage
    /// fails with an error, never a panic or a huge allocation.
    fn restore(bytes: &[u8]) -> Result<Self, RestoreError> {
        let image: Image = postcard::from_bytes(bytes).map_err(|e| RestoreError(e.to_string()))?;
        validate(&image).map_err(RestoreError)?;
        let configs_bytes = image.configs.iter().map(Config::retained_bytes).sum();
        Ok(ShardMachine {
            configs: image.configs.into_iter().map(Arc::new).collect(),
            retired: image.retired.into_iter().collect(),
            configs_bytes,
        })
    }

    fn retained_bytes(&self) -> usize {
        self.configs_bytes + 8 * self.retired.len()
    }
}

#[cfg(test)]
mod tests;
