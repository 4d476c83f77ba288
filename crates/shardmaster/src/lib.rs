//! The shard master of SPEC §7 (lab 4A): the replicated service that decides which replica
//! group serves each shard. It is a state machine ([`ShardMachine`]) plugged into the
//! replicated state machine layer ([`rsm`]), so it is replicated, at most once and durable with
//! no machinery of its own.
//!
//! # The protocol
//! A clerk sends `Join(gid, servers)`, `Leave(gid)`, `Move(shard, gid)` or `Query(num)`
//! ([`Op`]) through `rsm`'s session to one replica, then to the next after a timeout. Every
//! operation, Query included, is a log entry: a replica answers from its state after applying
//! the entry that holds the operation, so `Query(-1)` reflects every change completed before
//! it was sent, even through a replica that was cut off (SPEC §7.2 TestFreshQuery).
//!
//! # Invariants
//! - Configurations are numbered 0, 1, 2, … and never change once made ([`Config`]); config 0
//!   has no groups and every shard at [`Gid::NONE`]; a change that changes nothing (a
//!   duplicate Join or Leave, a Move to the owner) makes no configuration.
//! - After a Join or Leave every shard belongs to a joined group (to none while no group is
//!   joined), counts per group differ by at most one, and as few shards moved as possible
//!   ([`rebalance()`]); a Move changes exactly one shard.
//! - A gid that left never joins again; gids are above 0; refused operations
//!   ([`ShardError`]) change nothing.
//! - The shard count is fixed at creation (10 in the lab, [`config::DEFAULT_SHARDS`] otherwise)
//!   and kept in every snapshot.
//!
//! # Driver contract
//! [`Replica`] is an [`rsm::Replica`]: see `rsm`'s driver contract. Over TCP it runs in
//! `rsm`'s server shell ([`server`]), as kvpaxos does: `dsys shardmaster serve`.

pub mod config;
pub mod machine;
pub mod msg;
pub mod rebalance;
pub mod server;

pub use config::{Config, ConfigNum, Gid, lab_shard_of, shard_of};
pub use machine::{LabMachine, ShardMachine};
pub use msg::{Op, Output, Reply, ShardError};
pub use rebalance::rebalance;

/// A shard master replica of a real cluster ([`config::DEFAULT_SHARDS`] shards).
pub type Replica = rsm::Replica<ShardMachine>;

/// A shard master clerk of a real cluster.
pub type Clerk = rsm::Clerk<ShardMachine>;

/// A shard master replica of the lab's 10 shards (the SPEC scenarios).
pub type LabReplica = rsm::Replica<LabMachine>;

/// A shard master clerk of the lab's 10 shards.
pub type LabClerk = rsm::Clerk<LabMachine>;
