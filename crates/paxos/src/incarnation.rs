//! Incarnations: telling a peer restarted without its state from the peer it replaced.
//!
//! A peer started again without its state (in memory, or on a lost disk) has forgotten its
//! promises and accepted values; if its votes counted, a quorum that never saw a chosen value could choose another
//! (`sim_deaf::restarted_peer_without_state_does_not_vote`). Every message carries the sender's
//! incarnation, drawn when its [`crate::Peer`] is created. A receiver keeps the first
//! incarnation it hears from each peer and ignores messages of any other; it tells the
//! restarted peer so (at most once per tick), and that peer then knows it is *amnesiac*. A
//! durable peer keeps its own incarnation and the ones it heard on disk ([`crate::journal`]),
//! so a restart with its disk is the same incarnation, and a restart without it is caught even
//! by peers that restarted meanwhile.
//!
//! Invariants: the incarnation kept for a peer changes only when that peer fenced off its
//! forgotten promises here ([`crate::rejoin`]); `amnesiac` goes back to false only once this
//! peer has rejoined that way.

use rpc::{NodeId, Ticks};

/// This peer's incarnation and the one it keeps for each other peer.
#[derive(Clone, Debug)]
pub(crate) struct Incarnations {
    /// This peer's incarnation (see [`crate::Msg::incarnation`]).
    mine: u64,
    /// The first incarnation heard from each peer; messages of any other are ignored.
    of_peer: Vec<Option<u64>>,
    /// When this peer last told each restarted peer so (at most once per tick each).
    restart_noticed_at: Vec<Option<Ticks>>,
    /// Another peer knows an earlier incarnation of this one: see [`crate::Peer::is_amnesiac`].
    amnesiac: bool,
}

/// What to do with a message, by its sender's incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The sender is the incarnation this peer knows: handle the message.
    Admit,
    /// The sender restarted without its state: ignore the message.
    Ignore {
        /// The incarnation this peer knows for the sender.
        known: u64,
        /// True the first time this peer ignores that sender (worth an error in the log).
        first: bool,
        /// True if the sender should be told now (`Body::Restarted { known }`).
        notify: bool,
    },
}

impl Incarnations {
    /// A peer of incarnation `mine` in a cluster of `peer_count`, having heard from nobody.
    pub(crate) fn new(mine: u64, peer_count: u32) -> Self {
        Incarnations {
            mine,
            of_peer: vec![None; peer_count as usize],
            restart_noticed_at: vec![None; peer_count as usize],
            amnesiac: false,
        }
    }

    /// A peer of incarnation `mine` that had heard `known` before it restarted (read back from
    /// its disk by [`crate::Peer::open`]).
    pub(crate) fn restore(mine: u64, known: &[Option<u64>]) -> Self {
        Incarnations {
            mine,
            of_peer: known.to_vec(),
            restart_noticed_at: vec![None; known.len()],
            amnesiac: false,
        }
    }

    /// The incarnation first heard from each peer, indexed by node id.
    pub(crate) fn known(&self) -> &[Option<u64>] {
        &self.of_peer
    }

    /// The incarnation first heard from `peer`, if any.
    pub(crate) fn known_of(&self, peer: NodeId) -> Option<u64> {
        self.of_peer[peer.index()]
    }

    /// This peer's incarnation, for the envelope of every message it sends.
    pub(crate) fn mine(&self) -> u64 {
        self.mine
    }

    /// True once another peer said it knew an earlier incarnation of this one.
    pub(crate) fn is_amnesiac(&self) -> bool {
        self.amnesiac
    }

    /// Whether a message from `from` with `incarnation` counts: the first incarnation heard
    /// from a peer is the one kept. `is_notice` marks a `Restarted` notice, which is never
    /// answered with one (two restarted peers would otherwise notify each other forever).
    pub(crate) fn admit(
        &mut self,
        from: NodeId,
        incarnation: u64,
        now: Ticks,
        is_notice: bool,
    ) -> Admission {
        let known = *self.of_peer[from.index()].get_or_insert(incarnation);
        if known == incarnation {
            return Admission::Admit;
        }
        let noticed = &mut self.restart_noticed_at[from.index()];
        let first = noticed.is_none();
        let notify = *noticed != Some(now) && !is_notice;
        if notify {
            *noticed = Some(now);
        }
        assert_eq!(
            self.of_peer[from.index()],
            Some(known),
            "the incarnation kept for {from} never changes"
        );
        Admission::Ignore {
            known,
            first,
            notify,
        }
    }

    /// Marks this peer amnesiac or not: restored from disk, or cleared once it rejoined
    /// ([`crate::rejoin`]).
    pub(crate) fn set_amnesiac(&mut self, amnesiac: bool) {
        self.amnesiac = amnesiac;
    }

    /// Keeps `incarnation` for `peer` from now on: the one exception to "the first heard is
    /// kept", for a peer that fenced off its forgotten promises here ([`crate::rejoin`]).
    pub(crate) fn adopt(&mut self, peer: NodeId, incarnation: u64) {
        self.of_peer[peer.index()] = Some(incarnation);
        self.restart_noticed_at[peer.index()] = None;
    }

    /// A peer told this one it knows incarnation `known` of it. Returns true when that makes
    /// this peer amnesiac for the first time.
    pub(crate) fn on_restarted_notice(&mut self, known: u64) -> bool {
        if known == self.mine {
            return false; // A notice about a message of ours we no longer send: stale.
        }
        let first = !self.amnesiac;
        self.amnesiac = true;
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first incarnation heard is kept; another one is ignored, noticed once per tick, and
    /// a notice is never answered with a notice.
    #[test]
    fn first_incarnation_is_kept_and_others_are_noticed_once_per_tick() {
        let mut inc = Incarnations::new(7, 3);
        assert_eq!(inc.admit(NodeId(1), 10, Ticks(0), false), Admission::Admit);
        assert_eq!(inc.admit(NodeId(1), 10, Ticks(5), false), Admission::Admit);
        assert_eq!(
            inc.admit(NodeId(1), 11, Ticks(5), false),
            Admission::Ignore {
                known: 10,
                first: true,
                notify: true
            }
        );
        assert_eq!(
            inc.admit(NodeId(1), 11, Ticks(5), false),
            Admission::Ignore {
                known: 10,
                first: false,
                notify: false
            },
            "at most one notice per tick"
        );
        assert_eq!(
            inc.admit(NodeId(1), 11, Ticks(6), true),
            Admission::Ignore {
                known: 10,
                first: false,
                notify: false
            },
            "a notice is not answered with a notice"
        );
        assert_eq!(inc.admit(NodeId(2), 11, Ticks(6), false), Admission::Admit);
    }

    #[test]
    fn a_notice_of_another_incarnation_makes_the_peer_amnesiac_for_good() {
        let mut inc = Incarnations::new(7, 3);
        assert!(!inc.on_restarted_notice(7), "a notice naming us is stale");
        assert!(!inc.is_amnesiac());
        assert!(inc.on_restarted_notice(3));
        assert!(!inc.on_restarted_notice(3), "reported once");
        assert!(inc.is_amnesiac());
    }
}
