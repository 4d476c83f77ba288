//! What clients ask the shard master (SPEC §7.1: Join, Leave, Move, Query) and what it answers.
//! The session, retry and at-most-once wrapping is `rsm`'s ([`rsm::Request`]).

use crate::config::{Config, ConfigNum, Gid};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The most servers one group may list. Replica groups are a handful of servers; the bound
/// keeps one Join, and every configuration copying its list, small.
pub const SERVERS_MAX: usize = 32;

/// The most bytes of one server address (`host:port`; a DNS name is at most 253 bytes).
pub const ADDRESS_BYTES_MAX: usize = 255;

/// The most groups joined at once. Each configuration copies every group's server list, so
/// this bounds a configuration's size (with [`SERVERS_MAX`] and [`ADDRESS_BYTES_MAX`]).
pub const GROUPS_MAX: usize = 1024;

/// A shard master operation (a command in the log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Add group `gid` with `servers`, and rebalance.
    Join {
        /// The new group (above 0, never joined before).
        gid: Gid,
        /// Its servers, in order (1 to [`SERVERS_MAX`]).
        servers: Vec<String>,
    },
    /// Remove group `gid`, and rebalance. A gid that left never joins again.
    Leave {
        /// The group.
        gid: Gid,
    },
    /// Give `shard` to group `gid`, and change nothing else (no rebalance).
    Move {
        /// The shard, below the cluster's shard count.
        shard: u32,
        /// A joined group.
        gid: Gid,
    },
    /// Configuration `num`; -1, or a number past the latest, means the latest. It goes
    /// through the log like every other operation, so the latest configuration it answers
    /// reflects every change completed before it was sent.
    Query {
        /// The configuration wanted, or -1.
        num: i64,
    },
}

/// What an operation answers when it is valid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// A Join, Leave or Move made configuration `num`.
    Changed(ConfigNum),
    /// A Join, Leave or Move changed nothing (a duplicate Join or Leave, a Move of a shard
    /// to its owner); `num` is still the latest configuration.
    Unchanged(ConfigNum),
    /// A Query's configuration. Shared with the history rather than copied: every replica
    /// answers every Query it applies, and keeps the answer in the client's session, so a deep
    /// copy (the shard list and every group's server list) per Query per replica was most of
    /// a Query's cost. It encodes as the configuration itself.
    Config(Arc<Config>),
}

/// Why an operation was refused. A refused operation changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ShardError {
    /// Gids are above 0: 0 means "no group", and negatives name nothing.
    #[error("invalid gid {0}: gids are above 0")]
    InvalidGid(Gid),
    /// A Join must name at least one server.
    #[error("group {0} joins with no servers")]
    NoServers(Gid),
    /// A Join named more servers than [`SERVERS_MAX`].
    #[error("group {gid} joins with {count} servers, more than {SERVERS_MAX}")]
    TooManyServers {
        /// The group.
        gid: Gid,
        /// How many it named.
        count: usize,
    },
    /// A server address is empty or longer than [`ADDRESS_BYTES_MAX`].
    #[error("group {gid} names a server address of {bytes} bytes (1..={ADDRESS_BYTES_MAX})")]
    BadAddress {
        /// The group.
        gid: Gid,
        /// The address's length.
        bytes: usize,
    },
    /// The group left earlier; a gid that left never joins again (SPEC §7.2).
    #[error("group {0} left and cannot join again")]
    GidRetired(Gid),
    /// The group is joined with other servers; a Join repeating the same servers is a
    /// duplicate and changes nothing instead.
    #[error("group {0} is already joined with other servers")]
    GidInUse(Gid),
    /// [`GROUPS_MAX`] groups are joined already.
    #[error("{GROUPS_MAX} groups are joined already")]
    TooManyGroups,
    /// A Leave or Move named a group that is not joined (and did not leave).
    #[error("group {0} is not joined")]
    NotJoined(Gid),
    /// A Move named a shard past the cluster's shard count.
    #[error("shard {shard} does not exist: the cluster has {shards} shards")]
    ShardOutOfRange {
        /// The shard named.
        shard: u32,
        /// The cluster's shard count.
        shards: u32,
    },
    /// A Query for a negative number other than -1.
    #[error("no configuration {0}: ask for -1 (the latest) or a number from 0")]
    BadConfigNum(i64),
}

/// What the shard master answers an operation.
pub type Output = Result<Reply, ShardError>;
