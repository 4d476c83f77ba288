//! What clients send and receive, what the log holds, and what replicas tell each other.

use bytes::Bytes;
use paxos::Seq;
use rpc::NodeId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A client's request to a replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<C> {
    /// Open a session (answered [`Response::Registered`] once the registration is applied).
    Register,
    /// Command `seq` of `session`. A client has one command outstanding per session and
    /// numbers them from 1; retries carry the same `(session, seq)`.
    Command {
        /// The session, as [`Response::Registered`] named it.
        session: u64,
        /// The command number within the session.
        seq: u64,
        /// The command.
        cmd: C,
    },
}

/// A replica's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response<O> {
    /// The session a `Register` opened.
    Registered {
        /// The new session's id.
        session: u64,
    },
    /// A command ran (now or on an earlier attempt): its answer.
    Done {
        /// The session.
        session: u64,
        /// The command number.
        seq: u64,
        /// What applying it answered.
        output: O,
    },
    /// The request did not run through this replica, and why.
    Refused {
        /// The request's session and command number (`None` for a `Register`).
        command: Option<(u64, u64)>,
        /// Why.
        error: RsmError,
    },
}

/// Why a replica did not run a request. Every one of them means *this attempt did not run the
/// command*; an earlier attempt through another replica may still have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RsmError {
    /// The replica holds as many waiting requests as it allows. Try another.
    #[error("server busy: too many requests waiting")]
    Busy,
    /// The replica cannot serve: it restarted without its state (there is no disk), so the
    /// others ignore it. Try another.
    #[error("replica unavailable: it restarted without its state and cannot rejoin")]
    Unavailable,
    /// The session is not open: it was evicted (too many sessions), or never existed. This
    /// attempt did not run; an earlier attempt of the same command may have, before the
    /// eviction. Register a new session.
    #[error("session expired: register again")]
    SessionExpired,
}

/// One proposal inside a log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proposal<C> {
    /// Open a session for the client waiting at replica `origin` under `waiter`. Applying it
    /// opens a new session on every replica; only `origin` answers it, to that waiter.
    Register {
        /// The replica the client asked.
        origin: NodeId,
        /// Which run of the origin proposed it ([`paxos::Peer::boot`]): waiter numbers start
        /// again at every start, and a registration an earlier run proposed (and answered) is
        /// applied again when a restarted replica replays its log; it must not answer the new
        /// run's waiter with an old client's session.
        boot: (u64, u64),
        /// The origin's number for the waiting client, unique within one run.
        waiter: u64,
    },
    /// A client's command.
    Command {
        /// The session.
        session: u64,
        /// The command number within the session.
        seq: u64,
        /// The command.
        cmd: C,
    },
    /// A command the node driving the replica proposes itself, not a client
    /// ([`crate::Replica::propose`]): shardkv's reconfigurations and shard hand-offs. It has no
    /// session and nobody waits for it; the node proposes it again until it sees its effect
    /// applied, so it may be applied more than once and the machine must make a repeat change
    /// nothing.
    Internal {
        /// The command.
        cmd: C,
    },
}

/// One slot of the replicated log: the value agreed on by Paxos, postcard-encoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry<C> {
    /// Proposals, applied in order. The leader puts every proposal waiting when a slot frees
    /// up into one entry, so one agreement serves many clients.
    Batch(Vec<Proposal<C>>),
    /// Nothing: proposed by the leader to close a slot nobody decided. If the slot already had
    /// a value accepted, Paxos decides that value instead.
    Noop,
}

impl<C: Serialize + DeserializeOwned> Entry<C> {
    /// The entry as a Paxos value.
    pub fn encode(&self) -> paxos::Value {
        let bytes = postcard::to_stdvec(self).expect("an entry always encodes");
        paxos::Value::from(bytes)
    }

    /// The entry a decided Paxos value holds, or `None` if it holds none. Decided values are
    /// untrusted bytes (a buggy or hostile peer may propose anything); every replica decodes
    /// the same bytes, so every replica applies an undecodable value as the same no-op.
    pub fn decode(value: &[u8]) -> Option<Entry<C>> {
        postcard::from_bytes(value).ok()
    }
}

/// A message between replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg<C> {
    /// A Paxos message.
    Paxos(paxos::Msg),
    /// Proposals a follower received from its clients, for the leader to put in the log. Fire
    /// and forget: the follower answers its clients when it applies the entries, and forwards
    /// again if it does not see them applied in time.
    Forward(Vec<Proposal<C>>),
    /// Send me your snapshot from byte `offset`. `have` is the asker's next slot to apply (a
    /// snapshot not beyond it is no use); `slot` names the snapshot being assembled, if any.
    FetchSnapshot {
        /// The asker's next slot to apply.
        have: Seq,
        /// The snapshot the asker is assembling (`None`: start one).
        slot: Option<Seq>,
        /// The first byte wanted.
        offset: u64,
    },
    /// A piece of the sender's snapshot, which covers every slot below `slot`.
    SnapshotChunk {
        /// The snapshot's slot.
        slot: Seq,
        /// The whole snapshot's length in bytes.
        total: u64,
        /// Where `data` starts.
        offset: u64,
        /// The bytes.
        data: Bytes,
    },
}

/// Paxos answers no client requests; this lets a replica embed its peer's effects.
impl<O> From<rpc::NoRequest> for Response<O> {
    fn from(never: rpc::NoRequest) -> Self {
        match never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Garbage decided in a slot decodes to nothing instead of panicking.
    #[test]
    fn undecodable_values_are_none() {
        assert_eq!(Entry::<String>::decode(&[0xff, 0xff, 0xff]), None);
        assert_eq!(Entry::<String>::decode(&[]), None);
        let batch = Entry::Batch(vec![Proposal::Command {
            session: 1,
            seq: 2,
            cmd: "x".to_string(),
        }]);
        assert_eq!(Entry::decode(&batch.encode()), Some(batch));
    }
}
