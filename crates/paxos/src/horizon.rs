//! The forgetting horizon: below which instances a peer holds nothing.
//!
//! Two facts put instances out of reach, and they are kept apart on purpose:
//! - **`min()`, a cluster-wide fact** (SPEC §5.1): one more than the lowest `done` argument of
//!   all peers. Every peer's application is done with every instance below it, so the
//!   instances are deleted and nobody may decide them again. Every message carries the
//!   sender's `done` and its `min()`; a reported `min` is safe to adopt (every peer's `done`
//!   only grows), and needed: with one proposer the followers never talk to each other, so
//!   without it a follower never learns the other followers' `done`.
//! - **The compaction point, a local fact** ([`crate::Peer::compact`],
//!   [`crate::Peer::install_snapshot`]): this peer's application holds a snapshot of every
//!   instance below it, so they are decided and this peer dropped them, whatever the other
//!   peers did. It is never carried in the envelope's `min` and never raises `min()`: another
//!   peer may still need those instances from the log.
//!
//! A peer holds nothing below `first_held() = max(min(), compaction point)`. It also keeps the
//! highest compaction point another peer reported: every instance below it is decided
//! somewhere, so this peer proposes nothing there (see [`crate::compact`]).
//!
//! Invariants: each peer's `done` as known here only grows, so `min()` only grows; the
//! compaction point and the highest one reported only grow.

use crate::msg::Seq;
use rpc::NodeId;

/// What this peer knows of every peer's `done`, and the `min()` it implies.
#[derive(Clone, Debug)]
pub(crate) struct Horizon {
    /// This peer.
    me: NodeId,
    /// The highest `done` argument heard from each peer (ours included); `None` = never called.
    done_by_peer: Vec<Option<Seq>>,
    /// A lower bound on `min()`: the highest `min` any peer reported in a message.
    min_reported: Seq,
    /// This peer's compaction point: every instance below it is decided, applied by this
    /// peer's application and dropped here.
    compacted: Seq,
    /// The highest compaction point another peer reported (`Compacted`, `PromiseAll`): every
    /// instance below it is decided somewhere.
    compacted_elsewhere: Seq,
}

impl Horizon {
    /// Peer `me` of `peer_count`, before any `done`.
    pub(crate) fn new(me: NodeId, peer_count: u32) -> Self {
        assert!(me.0 < peer_count, "{me} outside a cluster of {peer_count}");
        Horizon {
            me,
            done_by_peer: vec![None; peer_count as usize],
            min_reported: Seq(0),
            compacted: Seq(0),
            compacted_elsewhere: Seq(0),
        }
    }

    /// One more than the lowest `done` over all peers (a peer that never called `done` counts
    /// as -1), or the highest `min` a peer reported, whichever is higher.
    pub(crate) fn min(&self) -> Seq {
        let lowest_done = self.done_by_peer.iter().copied().min().flatten();
        let computed = lowest_done.map_or(Seq(0), |d| Seq(d.0 + 1));
        computed.max(self.min_reported)
    }

    /// This peer's compaction point (0 until the first `compact` or `install_snapshot`).
    pub(crate) fn compacted(&self) -> Seq {
        self.compacted
    }

    /// The lowest instance this peer may still hold: `max(min(), compaction point)`.
    pub(crate) fn first_held(&self) -> Seq {
        self.min().max(self.compacted)
    }

    /// The lowest instance this peer may still propose in: below it, every instance is
    /// forgotten, compacted here, or reported compacted (so decided) by another peer.
    pub(crate) fn first_proposable(&self) -> Seq {
        self.first_held().max(self.compacted_elsewhere)
    }

    /// Raises the compaction point to `upto`. Returns false (and changes nothing) if it is
    /// already there: the compaction point never goes down.
    pub(crate) fn compact(&mut self, upto: Seq) -> bool {
        if upto <= self.compacted {
            return false;
        }
        let first_held = self.first_held();
        self.compacted = upto;
        assert!(self.first_held() >= first_held, "first_held() went down");
        true
    }

    /// Another peer reported that every instance below `below` is compacted there.
    pub(crate) fn note_compacted_elsewhere(&mut self, below: Seq) {
        self.compacted_elsewhere = self.compacted_elsewhere.max(below);
    }

    /// This peer's own highest `done` argument, for the envelope of its messages.
    pub(crate) fn own_done(&self) -> Option<Seq> {
        self.done_by_peer[self.me.index()]
    }

    /// This peer's application is done with every instance `<= seq`. Returns true if that
    /// raised its `done` (a lower or repeated call changes nothing).
    pub(crate) fn done(&mut self, seq: Seq) -> bool {
        self.raise_done(self.me, Some(seq))
    }

    /// The `done` and `min` a message from `from` carried. Returns true if either taught this
    /// peer something (then `min()` may have gone up).
    pub(crate) fn on_report(&mut self, from: NodeId, done: Option<Seq>, min: Seq) -> bool {
        let before = self.min();
        let learned_done = self.raise_done(from, done);
        let learned_min = min > self.min_reported;
        if learned_min {
            self.min_reported = min;
        }
        assert!(
            self.min() >= before,
            "min() went down on a report from {from}"
        );
        learned_done || learned_min
    }

    fn raise_done(&mut self, peer: NodeId, done: Option<Seq>) -> bool {
        let known = &mut self.done_by_peer[peer.index()];
        if done <= *known {
            return false;
        }
        *known = done;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_waits_for_every_peer_and_adopts_reported_mins() {
        let mut h = Horizon::new(NodeId(0), 3);
        assert_eq!(h.min(), Seq(0));
        assert!(h.done(Seq(4)));
        assert!(!h.done(Seq(2)), "done never goes down");
        assert_eq!(h.own_done(), Some(Seq(4)));
        assert!(h.on_report(NodeId(1), Some(Seq(6)), Seq(0)));
        assert_eq!(h.min(), Seq(0), "peer 2 never called done");
        assert!(h.on_report(NodeId(2), Some(Seq(1)), Seq(0)));
        assert_eq!(h.min(), Seq(2));
        assert!(!h.on_report(NodeId(2), None, Seq(0)), "nothing new");
        assert!(h.on_report(NodeId(1), None, Seq(3)), "a reported min");
        assert_eq!(h.min(), Seq(3));
        assert_eq!(h.first_held(), Seq(3));
    }

    /// Compaction is local: it raises `first_held()` but never `min()`, and never goes down.
    #[test]
    fn compaction_raises_first_held_but_not_min() {
        let mut h = Horizon::new(NodeId(0), 3);
        assert!(h.compact(Seq(10)));
        assert_eq!((h.min(), h.first_held()), (Seq(0), Seq(10)));
        assert!(!h.compact(Seq(4)), "a lower compaction is ignored");
        assert!(!h.compact(Seq(10)), "so is the same one");
        assert_eq!(h.compacted(), Seq(10));
        h.on_report(NodeId(1), None, Seq(12));
        assert_eq!(h.first_held(), Seq(12), "min() above the compaction point");
        assert_eq!(h.first_proposable(), Seq(12));
        h.note_compacted_elsewhere(Seq(20));
        h.note_compacted_elsewhere(Seq(15));
        assert_eq!(h.first_proposable(), Seq(20), "the highest report is kept");
        assert_eq!(
            h.first_held(),
            Seq(12),
            "another peer's compaction frees nothing here"
        );
    }
}
