//! The numbers and messages of the Paxos protocol.

use bytes::Bytes;
use rpc::NodeId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A value agreed on. Paxos treats it as opaque bytes; applications encode their own types.
pub type Value = Bytes;

/// An instance (sequence) number: one slot of the replicated log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Seq(pub u64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A proposal number. Ballots are totally ordered by round, then by proposer, so two peers never
/// use the same ballot (SPEC §5.2: proposal numbers unique per peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ballot {
    /// The round; a proposer retries with a round above every round it has seen.
    pub round: u64,
    /// The proposer that owns this ballot.
    pub node: NodeId,
}

/// `Ballot { round, node: NodeId(node) }`, for unit tests.
#[cfg(test)]
pub(crate) fn ballot(round: u64, node: u32) -> Ballot {
    Ballot {
        round,
        node: NodeId(node),
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.node.0)
    }
}

/// What a peer knows about one instance (SPEC §5.1 `Fate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fate {
    /// A value was chosen and this peer knows it.
    Decided,
    /// No value known to be chosen yet (at this peer).
    Pending,
    /// The instance is below `min()`: every peer called `done` on it and its state is gone.
    /// Also the fate of an instance below this peer's compaction point
    /// ([`crate::Peer::first_held`]): decided, applied, and dropped here.
    Forgotten,
}

/// One message between Paxos peers.
///
/// Every message carries the sender's highest `done` argument and its `min()`, so forgetting
/// spreads with the protocol's own traffic (SPEC §5.1: done values may be piggy-backed). The
/// `min` matters because peers that never talk to each other (two followers of one proposer)
/// would otherwise never hear each other's `done`, and never forget anything.
///
/// It also carries the sender's *incarnation*, a number drawn when its [`crate::Peer`] was
/// created (and kept on disk by a durable peer). A peer that restarts without its state has
/// forgotten its promises and votes; counting its votes again could choose a second value for an instance. A receiver
/// that already knows another incarnation of the sender ignores the message (see
/// [`crate::Peer::is_amnesiac`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msg {
    /// The sender's incarnation.
    pub incarnation: u64,
    /// The sender's highest `done` argument, if it ever called `done`.
    pub done: Option<Seq>,
    /// The sender's `min()`. A global fact (every peer's `done` is at least `min - 1`, and `done`
    /// never goes down), so the receiver may adopt it as a lower bound on its own `min()`.
    pub min: Seq,
    /// The protocol step.
    pub body: Body,
}

/// The protocol steps of single-decree Paxos, per instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Phase 1a: promise to ignore ballots below `ballot`, and tell me what you accepted.
    Prepare {
        /// The instance.
        seq: Seq,
        /// The proposer's ballot.
        ballot: Ballot,
    },
    /// Phase 1b: promised; here is the highest-ballot value I accepted, if any.
    Promise {
        /// The instance.
        seq: Seq,
        /// The ballot promised.
        ballot: Ballot,
        /// The acceptor's accepted ballot and value.
        accepted: Option<(Ballot, Value)>,
    },
    /// Phase 2a: accept `value` at `ballot`.
    Accept {
        /// The instance.
        seq: Seq,
        /// The proposer's ballot.
        ballot: Ballot,
        /// The value proposed.
        value: Value,
    },
    /// Phase 2b: accepted at `ballot`.
    Accepted {
        /// The instance.
        seq: Seq,
        /// The ballot accepted.
        ballot: Ballot,
    },
    /// A Prepare or Accept at `ballot` was refused: the acceptor promised `promised`.
    Reject {
        /// The instance.
        seq: Seq,
        /// The refused ballot.
        ballot: Ballot,
        /// The acceptor's promise, so the proposer can retry above it.
        promised: Ballot,
    },
    /// The instance is decided with `value`.
    Decided {
        /// The instance.
        seq: Seq,
        /// The chosen value.
        value: Value,
    },
    /// The acceptor has forgotten `seq` (it is below the acceptor's `min`): every peer called
    /// `done` on it, so nobody may decide it again. The envelope's `min` lets the asker forget it.
    Forgotten {
        /// The instance asked about.
        seq: Seq,
    },
    /// The acceptor compacted `seq` (it is below the acceptor's compaction point, see
    /// [`crate::Peer::compact`]): every instance below `below` is decided and applied there,
    /// and their state is gone. A local fact, unlike [`Body::Forgotten`]: other peers may still
    /// hold them. The acceptor does not vote in such an instance; a proposer that hears this
    /// stops proposing below `below`, and a peer whose `delivered()` is below it needs a
    /// snapshot ([`crate::Peer::snapshot_needed`]).
    Compacted {
        /// The instance asked about.
        seq: Seq,
        /// The acceptor's compaction point (above `seq`).
        below: Seq,
    },
    /// The value of `seq` was chosen at `ballot` (Multi-Paxos): an acceptor that accepted at
    /// that ballot already holds the value, so the leader sends only this; one that did not
    /// answers with [`Body::Learn`].
    Commit {
        /// The instance.
        seq: Seq,
        /// The ballot the value was chosen at.
        ballot: Ballot,
    },
    /// Tell me the decision of `seq`, if you know it (answered with [`Body::Decided`]).
    Learn {
        /// The instance.
        seq: Seq,
    },
    /// Multi-Paxos phase 1a, for every instance at once: promise to refuse ballots below
    /// `ballot` in every instance, and report what you accepted or know decided from `from` on.
    PrepareAll {
        /// The lowest instance to report on: the candidate knows every one below it decided.
        from: Seq,
        /// The candidate's ballot.
        ballot: Ballot,
    },
    /// Multi-Paxos phase 1b: promised `ballot` for every instance. The report covers every
    /// instance in `max(from, compacted)..upto` (`upto` = `None`: every instance from there
    /// on); it is cut at [`crate::leader::REPORT_ENTRIES_MAX`] entries so that it always fits
    /// a frame.
    PromiseAll {
        /// The `from` of the PrepareAll answered.
        from: Seq,
        /// The acceptor's compaction point: every instance below it is decided, and not
        /// reported. A candidate whose round starts below it gives up (it cannot know those
        /// instances, and this promise says nothing about them).
        compacted: Seq,
        /// The ballot promised.
        ballot: Ballot,
        /// Instances accepted but not known decided: (instance, ballot, value).
        accepted: Vec<(Seq, Ballot, Value)>,
        /// Instances known decided: (instance, value).
        decided: Vec<(Seq, Value)>,
        /// Where the report stops, if it was cut.
        upto: Option<Seq>,
    },
    /// A PrepareAll or Heartbeat at `ballot` was refused: the acceptor promised `promised`, or
    /// (when `promised` is lower) it hears another leader and keeps it.
    Refused {
        /// The refused ballot.
        ballot: Ballot,
        /// The acceptor's promise for every instance.
        promised: Option<Ballot>,
    },
    /// The leader of `ballot` is alive. Sent every tick; `max` lets followers see instances
    /// they missed.
    Heartbeat {
        /// The leader's ballot.
        ballot: Ballot,
        /// The leader's highest known instance.
        max: Option<Seq>,
    },
    /// Sent to a peer whose messages carry an incarnation other than the one the sender knew:
    /// it restarted without its state, so its messages are ignored from now on.
    Restarted {
        /// The incarnation the sender knows for the receiver.
        known: u64,
    },
    /// A peer that started on an empty directory asks each other peer whether it knew an
    /// earlier incarnation of it (see [`crate::join`]). It votes only once all have answered
    /// `Welcome`.
    Hello,
    /// The answer to `Hello`: the sender knew no other incarnation of the asker, and from now
    /// on keeps (on disk) the asker's current one.
    Welcome,
    /// A peer that lost its disk asks for the highest round each peer has seen, to fence its
    /// forgotten promises off (see [`crate::rejoin`]). Answered even though its incarnation
    /// is not the one the receiver knows.
    RejoinAsk,
    /// The answer to `RejoinAsk`: the highest round the sender has seen.
    RejoinRound {
        /// That round.
        round: u64,
    },
    /// Promise `ballot` for every instance (refusing every lower ballot, so every ballot the
    /// asker may have promised before it lost its disk), keep the asker's new incarnation from
    /// now on, and say up to where you have seen instances.
    RejoinFence {
        /// The fence: above every round the asker was told of.
        ballot: Ballot,
    },
    /// The answer to `RejoinFence`: fenced, and the highest instance the sender has seen.
    Fenced {
        /// The fence ballot.
        ballot: Ballot,
        /// The sender's highest known instance.
        max: Option<Seq>,
    },
    /// The answer to a Heartbeat: this peer follows `ballot`. A leader that stops hearing from
    /// a majority steps down (it may be deaf or cut off, while its heartbeats still arrive).
    Follow {
        /// The leader's ballot.
        ballot: Ballot,
    },
}

impl Body {
    /// The instance this message is about, if it names one (for a Heartbeat, the leader's
    /// highest; a PrepareAll and its answer are about every instance).
    pub fn seq(&self) -> Option<Seq> {
        match self {
            Body::Prepare { seq, .. }
            | Body::Promise { seq, .. }
            | Body::Accept { seq, .. }
            | Body::Accepted { seq, .. }
            | Body::Reject { seq, .. }
            | Body::Decided { seq, .. }
            | Body::Forgotten { seq, .. }
            | Body::Compacted { seq, .. }
            | Body::Commit { seq, .. }
            | Body::Learn { seq } => Some(*seq),
            Body::Heartbeat { max, .. } => *max,
            Body::PrepareAll { .. }
            | Body::PromiseAll { .. }
            | Body::Refused { .. }
            | Body::Restarted { .. }
            | Body::Hello
            | Body::Welcome
            | Body::RejoinAsk
            | Body::RejoinRound { .. }
            | Body::RejoinFence { .. }
            | Body::Fenced { .. }
            | Body::Follow { .. } => None,
        }
    }
}
