//! The acceptor half of one instance: what it promised and what it accepted.
//!
//! The two rules that make Paxos safe live here and nowhere else:
//! a promise at ballot `b` refuses every later Prepare or Accept below `b`, and a Promise reports
//! the highest-ballot value accepted so far, which a proposer must then propose.
//!
//! Multi-Paxos adds a promise made for every instance at once (a `PrepareAll`); the peer holds
//! it and passes it to each call as `floor`. An instance's effective promise is the higher of
//! its own and the floor, so neither kind of promise ever weakens the other.

use crate::msg::{Ballot, Value};

/// Acceptor state for one instance.
#[derive(Clone, Debug, Default)]
pub struct Acceptor {
    /// The highest ballot promised (or accepted) so far.
    promised: Option<Ballot>,
    /// The highest-ballot proposal accepted so far.
    accepted: Option<(Ballot, Value)>,
}

/// An acceptor's answer to a Prepare or an Accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vote {
    /// Prepare granted; carries the accepted proposal, if any.
    Promise(Option<(Ballot, Value)>),
    /// Accept granted.
    Accepted,
    /// Refused: the acceptor promised this higher ballot.
    Reject(Ballot),
}

impl Acceptor {
    /// The highest ballot promised so far for this instance alone.
    pub fn promised(&self) -> Option<Ballot> {
        self.promised
    }

    /// The highest-ballot proposal accepted so far.
    pub fn accepted(&self) -> Option<&(Ballot, Value)> {
        self.accepted.as_ref()
    }

    /// Phase 1b; `floor` is the promise made for every instance (Multi-Paxos). A repeated Prepare at the promised ballot is granted again: only one proposer
    /// owns a ballot, so re-promising it to that proposer (a duplicate message) is harmless.
    pub fn on_prepare(&mut self, ballot: Ballot, floor: Option<Ballot>) -> Vote {
        match self.promised.max(floor) {
            Some(promised) if ballot < promised => Vote::Reject(promised),
            _ => {
                self.promised = Some(ballot);
                Vote::Promise(self.accepted.clone())
            }
        }
    }

    /// Phase 2b. `floor` is the promise made for every instance (Multi-Paxos).
    pub fn on_accept(&mut self, ballot: Ballot, value: &Value, floor: Option<Ballot>) -> Vote {
        match self.promised.max(floor) {
            Some(promised) if ballot < promised => Vote::Reject(promised),
            _ => {
                self.promised = Some(ballot);
                self.accepted = Some((ballot, value.clone()));
                assert!(
                    self.accepted.as_ref().map(|(b, _)| *b) <= self.promised,
                    "accepted ballot must not exceed the promise"
                );
                Vote::Accepted
            }
        }
    }

    /// Bytes of values this acceptor holds (for the memory bound of SPEC §5.3 TestForgetMem).
    pub fn retained_bytes(&self) -> usize {
        self.accepted.as_ref().map_or(0, |(_, value)| value.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::ballot;

    #[test]
    fn promise_refuses_lower_ballots_and_reports_accepted_value() {
        let mut acceptor = Acceptor::default();
        assert_eq!(acceptor.on_prepare(ballot(1, 0), None), Vote::Promise(None));
        assert_eq!(
            acceptor.on_accept(ballot(1, 0), &Value::from_static(b"a"), None),
            Vote::Accepted
        );
        assert_eq!(
            acceptor.on_prepare(ballot(2, 1), None),
            Vote::Promise(Some((ballot(1, 0), Value::from_static(b"a"))))
        );
        // The old proposer's Accept and a lower Prepare are now refused with the promise.
        assert_eq!(
            acceptor.on_accept(ballot(1, 0), &Value::from_static(b"b"), None),
            Vote::Reject(ballot(2, 1))
        );
        assert_eq!(
            acceptor.on_prepare(ballot(1, 2), None),
            Vote::Reject(ballot(2, 1))
        );
    }

    #[test]
    fn duplicate_prepare_at_same_ballot_is_granted() {
        let mut acceptor = Acceptor::default();
        assert_eq!(acceptor.on_prepare(ballot(3, 1), None), Vote::Promise(None));
        assert_eq!(acceptor.on_prepare(ballot(3, 1), None), Vote::Promise(None));
    }

    #[test]
    fn promise_for_every_instance_refuses_lower_ballots() {
        let mut acceptor = Acceptor::default();
        let floor = Some(ballot(5, 1));
        assert_eq!(
            acceptor.on_accept(ballot(4, 2), &Value::from_static(b"x"), floor),
            Vote::Reject(ballot(5, 1))
        );
        assert_eq!(
            acceptor.on_prepare(ballot(3, 0), floor),
            Vote::Reject(ballot(5, 1))
        );
        assert_eq!(
            acceptor.on_accept(ballot(5, 1), &Value::from_static(b"y"), floor),
            Vote::Accepted
        );
        assert_eq!(
            acceptor.accepted(),
            Some(&(ballot(5, 1), Value::from_static(b"y")))
        );
    }

    #[test]
    fn accept_without_prepare_is_granted_when_nothing_higher_promised() {
        let mut acceptor = Acceptor::default();
        assert_eq!(
            acceptor.on_accept(ballot(1, 2), &Value::from_static(b"x"), None),
            Vote::Accepted
        );
        assert_eq!(acceptor.retained_bytes(), 1);
    }
}
