//! The sharded key/value store of SPEC §8 (lab 4B): replica groups, each an `rsm` replicated
//! state machine ([`ShardKvMachine`]) holding some of the shards, follow the shard master's
//! configurations and hand shards to each other while clients keep working. The shape of
//! TiKV or CockroachDB, at lab size.
//!
//! # The protocol
//! - **Configurations through the log.** Every server asks the shard master for the
//!   configuration after its group's current one; the group's leader proposes it
//!   ([`Command::Reconfigure`]), and every replica applies it at the same point of the log, one
//!   number at a time, in order.
//! - **Ownership decided at apply time.** A client's command on a shard this group does not
//!   own in its current configuration is refused "wrong group" when it is applied, so it is
//!   consistent with a reconfiguration running concurrently.
//! - **Hand-off by pull, in chunks.** A shard gained from another group is pulled from it in
//!   pieces of at most [`CHUNK_BYTES`] ([`ShardKvMsg::Pull`], [`ShardKvMsg::Chunk`]), each
//!   put through the log ([`Command::Install`]); the shard serves once its image is complete.
//!   The shard's client table comes with it, so a command retried at the new owner runs once.
//! - **Deletion once the new owner has it.** A shard moved away is kept, unchanged and not
//!   served, until its new owner confirms it has it in its log ([`ShardKvMsg::Confirm`]); then
//!   it is deleted ([`Command::Delete`]), so retained bytes do not grow with moves.
//! - **Shards move independently.** A group serves every shard it owns and has while others
//!   arrive; only the *next* configuration waits until every hand-off of the current one is
//!   done.
//!
//! # Invariants
//! - At most one group serves a shard at any time: the owner in configuration `n` serves only
//!   after the owner in `n - 1` applied `n` (when it stopped serving and froze the image).
//! - A group's configurations only grow, one at a time; a shard's client table moves whole.
//! - A refused command changes nothing; a command spanning shards is refused, never half
//!   applied (Redis Cluster's `CROSSSLOT` rule).
//!
//! # Limits
//! - When the last group leaves, its shards stay parked with it (no group is left to take
//!   them); a group joining later starts those shards empty unless it is the one that parked
//!   them.
//! - A command whose keys are in more than one shard is refused, never run across groups
//!   (the Redis front door answers `-CROSSSLOT`, as Redis Cluster does); see [`front`].
//! - A shard's client table keeps the latest command of at most [`clients::CLIENTS_MAX`]
//!   clerks.

pub mod clerk;
pub mod clients;
pub mod front;
pub mod machine;
pub mod msg;
pub mod node;
pub mod router;
pub mod server;
pub mod shard;
pub mod tcp_clerk;

pub use clerk::Clerk;
pub use machine::ShardKvMachine;
pub use msg::{Command, Mapping, Output, Refusal, Request, Response, ShardKvMsg};
pub use node::{CHUNK_BYTES, Identity, POLL_TICKS, ShardKvNode};
