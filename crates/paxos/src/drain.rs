//! Handing decided instances to the application, in order (raft-rs `Ready::committed_entries`).
//!
//! Instances are decided out of order and learned at different times by different peers; an
//! application applies them in order. Rather than polling `status(seq)` slot by slot, it calls
//! [`Peer::take_decided`] after each input: every instance decided here from
//! [`Peer::delivered`] on, contiguous and in order, stopping at the first one not known decided
//! (a *hole*: ask for it with [`Peer::ask`], or propose a no-op there as a leader).
//!
//! Taking an instance does not free it: instances are freed by `done`/`min` forgetting, as in
//! SPEC §5.1, or by [`Peer::compact`] once the application holds a snapshot of them.
//!
//! Invariants: `delivered()` only grows; each instance is handed out at most once, and only
//! after every instance below it was (or a snapshot covering them was installed).

use crate::msg::{Seq, Value};
use crate::peer::Peer;

impl Peer {
    /// The next instance [`Peer::take_decided`] will hand out (starts at 0). Only grows.
    pub fn delivered(&self) -> Seq {
        self.delivered
    }

    /// Every instance decided here from [`Peer::delivered`] on, contiguous and in order
    /// (stopping at the first one not known decided), at most `max` of them; advances
    /// `delivered()` past them. O(returned) plus a map lookup.
    pub fn take_decided(&mut self, max: usize) -> Vec<(Seq, Value)> {
        let first = self.delivered;
        let mut taken = Vec::new();
        let mut next = first;
        for (seq, instance) in self.instances.range(first..) {
            if taken.len() >= max || *seq != next {
                break;
            }
            let Some(value) = &instance.decided else {
                break;
            };
            taken.push((*seq, value.clone()));
            next = Seq(next.0 + 1);
        }
        assert!(taken.len() <= max, "took {} of at most {max}", taken.len());
        assert_eq!(
            next.0 - first.0,
            taken.len() as u64,
            "instances are handed out contiguously from {first}"
        );
        self.advance_delivered(next);
        taken
    }

    /// Moves `delivered()` up to `to` (never down). A snapshot need it passes is met.
    pub(crate) fn advance_delivered(&mut self, to: Seq) {
        assert!(
            to >= self.delivered,
            "delivered() only grows: {} -> {to}",
            self.delivered
        );
        self.delivered = to;
        if self.snapshot_need.is_some_and(|n| n.upto <= to) {
            self.snapshot_need = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rpc::NodeId;

    fn value(seq: u64) -> Value {
        Value::from(format!("v{seq}"))
    }

    fn seqs(taken: &[(Seq, Value)]) -> Vec<u64> {
        taken.iter().map(|(s, _)| s.0).collect()
    }

    /// Decisions learned out of order come out in order, once each; a hole stops the drain
    /// until it is decided; `max` bounds one call.
    #[test]
    fn take_decided_hands_out_in_order_once_and_stops_at_a_hole() {
        let mut peer = Peer::new(NodeId(0), 3, 1);
        assert!(peer.take_decided(10).is_empty(), "nothing decided yet");
        for seq in [3, 0, 1, 5, 4] {
            peer.learn(Seq(seq), value(seq));
        }
        let taken = peer.take_decided(10);
        assert_eq!(seqs(&taken), [0, 1], "stops at the hole at 2");
        assert_eq!(taken[1].1, value(1));
        assert_eq!(peer.delivered(), Seq(2));
        assert!(peer.take_decided(10).is_empty(), "handed out once");
        peer.learn(Seq(2), value(2));
        assert_eq!(seqs(&peer.take_decided(2)), [2, 3], "at most max");
        assert!(peer.take_decided(0).is_empty());
        assert_eq!(seqs(&peer.take_decided(usize::MAX)), [4, 5]);
        assert_eq!(peer.delivered(), Seq(6));
        assert_eq!(peer.instance_count(), 6, "taking frees nothing");
    }

    /// An instance held but undecided (this peer voted or proposed there) is a hole too.
    #[test]
    fn an_undecided_instance_held_is_a_hole() {
        let mut peer = Peer::new(NodeId(0), 3, 1);
        let mut out = crate::PaxosOutbox::default();
        peer.start(Seq(1), value(1), &mut out);
        peer.learn(Seq(0), value(0));
        peer.learn(Seq(2), value(2));
        assert_eq!(seqs(&peer.take_decided(10)), [0]);
        peer.learn(Seq(1), value(1));
        assert_eq!(seqs(&peer.take_decided(10)), [1, 2]);
    }
}
