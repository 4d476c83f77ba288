//! The proposer half of one instance: the rounds a peer runs after `start` until it learns a
//! decision. It only counts votes and keeps time; the peer ([`crate::Peer`]) sends the messages.

use crate::msg::{Ballot, Value};
use rpc::{NodeId, Rng, Ticks};
use std::collections::BTreeSet;

/// Ticks a round may take before the proposer gives up on it and starts a higher one. A round
/// trip takes well under one tick (10 ms) in the simulator and on a LAN, so 3 ticks only fire
/// when messages were lost or a peer is unreachable.
pub const ROUND_TIMEOUT_TICKS: u64 = 3;

/// The cap, in ticks, of the random back-off after a refused round. Duelling proposers keep
/// refusing each other; a random wait that grows with each refusal lets one of them finish.
pub const BACKOFF_TICKS_MAX: u64 = 16;

/// Where the current round stands.
#[derive(Clone, Debug)]
enum Phase {
    /// Phase 1: collecting promises, remembering the highest-ballot accepted value reported.
    Preparing {
        promises: BTreeSet<NodeId>,
        highest_accepted: Option<(Ballot, Value)>,
    },
    /// Phase 2: collecting acceptances of `value`.
    Accepting {
        value: Value,
        acceptances: BTreeSet<NodeId>,
    },
    /// The round was refused: wait until `retry_at`, then start a higher one.
    BackingOff,
}

/// What a vote did to the round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Nothing to do yet.
    Waiting,
    /// A majority promised: ask everybody to accept this value (phase 2).
    Propose(Value),
    /// A majority accepted: this value is chosen.
    Chosen(Value),
}

/// Proposer state for one instance at one peer.
#[derive(Clone, Debug)]
pub struct Proposer {
    /// The value this peer wants if no other value may already be chosen.
    own_value: Value,
    /// The ballot of the current round.
    ballot: Ballot,
    /// The highest round seen in any ballot for this instance (ours or refusals').
    round_seen: u64,
    phase: Phase,
    /// When the current round times out, or the back-off ends.
    retry_at: Ticks,
    /// Refusals in a row; widens the back-off.
    refusals: u32,
}

impl Proposer {
    /// A proposer for `own_value`, before its first round.
    pub fn new(me: NodeId, own_value: Value) -> Self {
        Proposer {
            own_value,
            ballot: Ballot { round: 0, node: me },
            round_seen: 0,
            phase: Phase::BackingOff,
            retry_at: Ticks(0),
            refusals: 0,
        }
    }

    /// Starts a round with a ballot above every ballot seen, including `promised` (what the local
    /// acceptor promised, so that our own acceptor never refuses us). Returns the new ballot.
    pub fn begin_round(&mut self, now: Ticks, promised: Option<Ballot>) -> Ballot {
        let floor = promised
            .map_or(0, |b| b.round)
            .max(self.round_seen)
            .max(self.ballot.round);
        self.ballot = Ballot {
            round: floor + 1,
            node: self.ballot.node,
        };
        self.round_seen = self.ballot.round;
        self.phase = Phase::Preparing {
            promises: BTreeSet::new(),
            highest_accepted: None,
        };
        self.retry_at = Ticks(now.0 + ROUND_TIMEOUT_TICKS);
        self.ballot
    }

    /// Starts phase 2 directly at `ballot`, a ballot whose phase 1 a Multi-Paxos leader has
    /// already won for this instance (the `PrepareAll`): `value` is the highest-ballot value
    /// reported for this instance then, or the proposer's own if none was.
    pub fn begin_accepting(&mut self, now: Ticks, ballot: Ballot, value: Value) {
        assert_eq!(
            ballot.node, self.ballot.node,
            "a proposer only uses its own ballots"
        );
        self.ballot = ballot;
        self.round_seen = self.round_seen.max(ballot.round);
        self.phase = Phase::Accepting {
            value,
            acceptances: BTreeSet::new(),
        };
        self.retry_at = Ticks(now.0 + ROUND_TIMEOUT_TICKS);
    }

    /// The value this proposer wants if no other may already be chosen.
    pub fn own_value(&self) -> &Value {
        &self.own_value
    }

    /// The ballot and value of the current round, if it is in phase 2: what a leader sends
    /// again when the round times out.
    pub fn accepting(&self) -> Option<(Ballot, &Value)> {
        match &self.phase {
            Phase::Accepting { value, .. } => Some((self.ballot, value)),
            _ => None,
        }
    }

    /// Gives the current phase-2 round more time (after its Accepts were sent again).
    pub fn extend(&mut self, now: Ticks) {
        self.retry_at = Ticks(now.0 + ROUND_TIMEOUT_TICKS);
    }

    /// True when the current round has timed out or the back-off has ended.
    pub fn is_due(&self, now: Ticks) -> bool {
        now >= self.retry_at
    }

    /// Counts a promise. Stale promises (another round) are ignored.
    pub fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        accepted: Option<(Ballot, Value)>,
        majority: usize,
    ) -> Progress {
        if ballot != self.ballot {
            return Progress::Waiting;
        }
        let Phase::Preparing {
            promises,
            highest_accepted,
        } = &mut self.phase
        else {
            return Progress::Waiting;
        };
        promises.insert(from);
        if let Some((accepted_ballot, value)) = accepted
            && highest_accepted
                .as_ref()
                .is_none_or(|(b, _)| accepted_ballot > *b)
        {
            *highest_accepted = Some((accepted_ballot, value));
        }
        if promises.len() < majority {
            return Progress::Waiting;
        }
        // Safety: if any value may have been chosen at a lower ballot, a majority of promises
        // includes an acceptor that accepted it, and the highest such is the one to propose.
        let value = match highest_accepted.take() {
            Some((_, value)) => value,
            None => self.own_value.clone(),
        };
        self.phase = Phase::Accepting {
            value: value.clone(),
            acceptances: BTreeSet::new(),
        };
        Progress::Propose(value)
    }

    /// Counts an acceptance. Stale acceptances (another round) are ignored.
    pub fn on_accepted(&mut self, from: NodeId, ballot: Ballot, majority: usize) -> Progress {
        if ballot != self.ballot {
            return Progress::Waiting;
        }
        let Phase::Accepting { value, acceptances } = &mut self.phase else {
            return Progress::Waiting;
        };
        acceptances.insert(from);
        if acceptances.len() < majority {
            return Progress::Waiting;
        }
        Progress::Chosen(value.clone())
    }

    /// A refusal of the current round: back off for a random, growing number of ticks.
    pub fn on_reject(&mut self, ballot: Ballot, promised: Ballot, now: Ticks, rng: &mut Rng) {
        self.round_seen = self.round_seen.max(promised.round);
        if ballot != self.ballot || matches!(self.phase, Phase::BackingOff) {
            return;
        }
        self.refusals = self.refusals.saturating_add(1);
        let window = (1u64 << self.refusals.min(8)).min(BACKOFF_TICKS_MAX);
        self.phase = Phase::BackingOff;
        self.retry_at = Ticks(now.0 + rng.range(1, window));
    }

    /// Bytes of values this proposer holds.
    pub fn retained_bytes(&self) -> usize {
        let in_flight = match &self.phase {
            Phase::Preparing {
                highest_accepted: Some((_, value)),
                ..
            } => value.len(),
            Phase::Accepting { value, .. } => value.len(),
            _ => 0,
        };
        self.own_value.len() + in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &'static str) -> Value {
        Value::from_static(s.as_bytes())
    }

    #[test]
    fn proposes_own_value_when_nothing_accepted() {
        let mut p = Proposer::new(NodeId(0), value("mine"));
        let b = p.begin_round(Ticks(0), None);
        assert_eq!(
            b,
            Ballot {
                round: 1,
                node: NodeId(0)
            }
        );
        assert_eq!(p.on_promise(NodeId(0), b, None, 2), Progress::Waiting);
        assert_eq!(
            p.on_promise(NodeId(1), b, None, 2),
            Progress::Propose(value("mine"))
        );
        assert_eq!(p.on_accepted(NodeId(0), b, 2), Progress::Waiting);
        assert_eq!(
            p.on_accepted(NodeId(2), b, 2),
            Progress::Chosen(value("mine"))
        );
    }

    #[test]
    fn adopts_highest_accepted_value() {
        let mut p = Proposer::new(NodeId(0), value("mine"));
        let b = p.begin_round(
            Ticks(0),
            Some(Ballot {
                round: 4,
                node: NodeId(2),
            }),
        );
        assert_eq!(b.round, 5, "new ballot must exceed the local promise");
        let low = Ballot {
            round: 2,
            node: NodeId(1),
        };
        let high = Ballot {
            round: 3,
            node: NodeId(2),
        };
        p.on_promise(NodeId(1), b, Some((low, value("low"))), 3);
        p.on_promise(NodeId(2), b, Some((high, value("high"))), 3);
        assert_eq!(
            p.on_promise(NodeId(0), b, None, 3),
            Progress::Propose(value("high"))
        );
    }

    #[test]
    fn stale_votes_are_ignored_and_reject_backs_off_above_promise() {
        let mut rng = Rng::new(1);
        let mut p = Proposer::new(NodeId(0), value("v"));
        let first = p.begin_round(Ticks(0), None);
        let promised = Ballot {
            round: 9,
            node: NodeId(1),
        };
        p.on_reject(first, promised, Ticks(0), &mut rng);
        assert!(
            !p.is_due(Ticks(0)),
            "a refused round waits at least one tick"
        );
        assert!(p.is_due(Ticks(BACKOFF_TICKS_MAX)));
        let second = p.begin_round(Ticks(20), None);
        assert!(
            second.round > 9,
            "retry must go above the refusal's promise, got {second}"
        );
        assert_eq!(
            p.on_promise(NodeId(1), first, None, 1),
            Progress::Waiting,
            "old round's promise"
        );
    }
}
