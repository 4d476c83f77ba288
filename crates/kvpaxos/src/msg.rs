//! The requests, answers, log entries and messages of the Paxos-replicated service: `rsm`'s,
//! carrying key/value operations.

/// The operation is the shared KV state machine's (crate `kvstore`).
pub use kvstore::Op;

/// A clerk's request: open a session, or an operation within one.
pub type Request = rsm::Request<Op>;

/// A replica's answer. For an operation: the value for a Get, "" for a Put, the new length
/// (decimal) for an Append.
pub type Response = rsm::Response<String>;

/// Why a replica did not run a request (`rsm`'s errors: busy, unavailable, session expired).
pub type KvError = rsm::RsmError;

/// One slot of the replicated log.
pub type Entry = rsm::Entry<Op>;

/// A message between replicas.
pub type Msg = rsm::Msg<Op>;
