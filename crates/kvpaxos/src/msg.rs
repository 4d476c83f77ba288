//! The requests, answers, log entries and messages of the Paxos-replicated service: `rsm`'s,
//! carrying key/value commands.

use serde::{Deserialize, Serialize};

/// The lab's operation (crate `kvstore`): Get / Put / Append on text.
pub use kvstore::Op;

/// What the log carries: one of the lab's operations, or a batch of Redis commands. Both run
/// on the same store ([`crate::KvMachine`]), so a key written one way reads the other way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    /// A lab clerk's operation (SPEC §6.1): a missing key reads as "", values are text.
    Lab(Op),
    /// A RESP connection's pipeline, or `dsys kv`'s command: Redis semantics
    /// (crate `keyspace`), one answer per command.
    Redis(keyspace::Batch),
}

impl From<Op> for KvCommand {
    fn from(op: Op) -> Self {
        KvCommand::Lab(op)
    }
}

/// What applying a [`KvCommand`] answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOutput {
    /// For a lab operation: the value for a Get ("" if missing; a binary value is shown
    /// lossily), "" for a Put, the value's new length (decimal) for an Append.
    Lab(String),
    /// For a Redis batch: one answer per command, in order.
    Redis(Vec<keyspace::Value>),
}

/// A clerk's request: open a session, or a command within one.
pub type Request = rsm::Request<KvCommand>;

/// A replica's answer.
pub type Response = rsm::Response<KvOutput>;

/// Why a replica did not run a request (`rsm`'s errors: busy, unavailable, session expired).
pub type KvError = rsm::RsmError;

/// One slot of the replicated log.
pub type Entry = rsm::Entry<KvCommand>;

/// A message between replicas.
pub type Msg = rsm::Msg<KvCommand>;
