//! Requests, answers, log entries and messages of the Paxos-replicated service (was
//! `kvpaxos/common.go`).

use serde::{Deserialize, Serialize};

/// The operation and its clerk identity are the shared KV state machine's (crate `kvstore`).
pub use kvstore::{Op, OpRequest as Request};

/// Why a server did not run a clerk's operation. Application outcomes are data in replies
/// (STYLE §2.5); a missing key is not an error here: it reads "".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum KvError {
    /// The server holds as many waiting requests as it allows; the operation did not run
    /// through this server (it may still run if an earlier attempt was proposed). Try another.
    #[error("server busy: too many requests waiting")]
    Busy,
    /// The server restarted without its state (there is no disk), so it may neither vote nor
    /// answer: the other replicas ignore it. The operation did not run through this server.
    /// Try another.
    #[error("replica unavailable: it restarted without its state and cannot rejoin")]
    Unavailable,
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The clerk.
    pub client: u64,
    /// The operation number.
    pub seq: u64,
    /// The value for a Get, "" for a Put, the new length (decimal) for an Append, or why the
    /// server did not run it.
    pub result: Result<String, KvError>,
}

/// One slot of the replicated log: the value agreed on by Paxos, postcard-encoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    /// Clerk operations, applied in order. The leader batches every request waiting when a
    /// slot frees up into one entry, so one agreement serves many clerks.
    Batch(Vec<Request>),
    /// Nothing: proposed by the leader to close a slot nobody decided (SPEC §6.2 holes). If the
    /// slot already had a value accepted, Paxos decides that value instead.
    Noop,
}

impl Entry {
    /// The entry as a Paxos value.
    pub fn encode(&self) -> paxos::Value {
        let bytes = postcard::to_stdvec(self).expect("an entry always encodes");
        paxos::Value::from(bytes)
    }

    /// The entry a Paxos value holds.
    ///
    /// # Panics
    /// If the value is not an entry: only replicas propose, and they propose only entries.
    pub fn decode(value: &[u8]) -> Entry {
        postcard::from_bytes(value).expect("every decided value is an entry")
    }
}

/// A message between replicas (SPEC §6.2 has servers talk only through Paxos; forwarding to
/// the leader is what lets one replica order every operation without running phase 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// A Paxos message.
    Paxos(paxos::Msg),
    /// Clerk requests a follower received, for the leader to put in the log. Fire and forget:
    /// the follower answers its clerks when it applies the entries, and forwards again if it
    /// does not see them applied in time.
    Forward(Vec<Request>),
}

/// Paxos answers no client requests; this lets a replica embed its peer's effects.
impl From<rpc::NoRequest> for Response {
    fn from(never: rpc::NoRequest) -> Self {
        match never {}
    }
}
