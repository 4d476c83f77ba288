//! The Paxos-replicated key/value service of SPEC §6 (lab 3B): the key/value store
//! ([`KvMachine`]) plugged into the replicated state machine layer ([`rsm`]), plus its TCP
//! server and Redis (RESP2/RESP3) front door.
//!
//! # The protocol
//! Everything replicated is `rsm`'s (see its docs): a clerk opens a session through the log,
//! then sends `Get`/`Put`/`Append` tagged `(session, seq)` to one replica and, after
//! [`rsm::clerk::RETRY_TICKS`] without an answer, to the next. Every operation goes through
//! the log, Gets included (SPEC §6.2), so a replica cut off from a majority answers nothing:
//! it can never serve a stale read. One replica leads and batches; followers forward to it;
//! replicas apply decided slots in order; snapshots let the log be cut below a dead replica.
//! docs/DESIGN.md argues why reads are linearizable.
//!
//! What is KV-specific lives here: [`KvMachine`] (apply, snapshot and restore of the store),
//! the TCP server and the RESP front door ([`server`]).
//!
//! # Durability
//! A replica is durable by default ([`server::Storage`]): it logs every Paxos promise and vote
//! before acting on it and keeps its snapshot in its data directory, so after a crash it
//! recovers and rejoins; one that lost its disk rejoins safely ([`paxos::rejoin`]) and answers
//! [`KvError::Unavailable`] until then. `--in-memory` replicas keep nothing: one started again
//! is ignored by the others and only learns the log.

pub mod machine;
pub mod msg;
pub mod server;

pub use machine::KvMachine;
pub use msg::{Entry, KvError, Msg, Op, Request, Response};

/// A kvpaxos replica: `rsm`'s replica of the key/value store.
pub type Replica = rsm::Replica<KvMachine>;

/// A kvpaxos clerk: `rsm`'s clerk of the key/value store. Its output is a [`msg::KvOutput`]:
/// the lab's answer to a lab operation, or one answer per command of a Redis batch.
pub type Clerk = rsm::Clerk<KvMachine>;
