//! Local log compaction, and catching up from another peer's snapshot.
//!
//! # Why
//! `done`/`min()` reclaim memory only once *every* peer is done with an instance: with one
//! peer dead for good, the others keep every instance forever. An application that holds a
//! snapshot of its state no longer needs the log below it, whatever the other peers did:
//! [`Peer::compact`] drops it here. A peer that falls behind such a compaction learns so
//! ([`Peer::snapshot_needed`]); its application fetches another peer's snapshot (Paxos never
//! sees the bytes) and tells Paxos with [`Peer::install_snapshot`].
//!
//! # The application's steps
//! 1. After each input, apply what [`Peer::take_decided`] hands out.
//! 2. Now and then take a snapshot; once it is kept, call `compact(upto)` with `upto` at most
//!    [`Peer::delivered`]: every instance below `upto` is in the snapshot.
//! 3. When [`Peer::snapshot_needed`] is `Some(need)`, fetch a snapshot covering every instance
//!    below `need.upto` (from `need.from` if given, else from any peer), restore it, and call
//!    `install_snapshot` with the instance it stops at. Then go on with step 1.
//!
//! # Safety rules
//! Compaction takes an acceptor's votes away. In single-decree Paxos that is harmless as long
//! as nobody counts the acceptor as if it had voted: a quorum of promises made only by
//! acceptors that still hold their state intersects every quorum that chose a value in an
//! acceptor that reports it. These rules keep it so.
//! 1. **An acceptor never votes below its compaction point.** Those instances are decided
//!    (its application applied them) and it no longer has their values. A Prepare, Accept or
//!    Learn naming one is answered `Compacted { seq, below }`: every instance below `below` is
//!    decided and compacted here. This is not `Forgotten`: `Forgotten` (below `min()`) is a
//!    cluster-wide fact carried in every envelope's `min`, while a compaction point is local,
//!    so it never changes `min()` or the envelope's `min` (other peers may still need those
//!    instances from the log, and get them from peers that did not compact).
//! 2. **A proposer that hears `Compacted` stops proposing below `below`** (classic or leader:
//!    those instances are decided elsewhere), and this peer starts no proposal there again
//!    (`start` is ignored below the highest compaction point reported to it). The second half
//!    matters for a leader: it skips phase 1, so after its proposer of a value recovered by
//!    its campaign was dropped, a new `start` there would send a fresh value straight to phase
//!    2, and a majority of acceptors that never accepted the decided value could choose it.
//!    If `delivered()` is below `below`, the peer needs a snapshot from the one that answered.
//! 3. **A campaign that meets a compaction point above its round's `from` is given up.**
//!    `PromiseAll` carries the acceptor's compaction point `compacted` and reports only from
//!    `max(from, compacted)`. Without it, take 5 peers: v is chosen at instance s by
//!    {A, B, C}; A compacts s; a candidate D with the quorum {A, D, E} hears nothing of s from
//!    A (s is gone there), nothing from D and E (they never saw it), leads, and proposes w at s
//!    in phase 2; {B, D, E} accept it (B accepted v but never learned the decision), and w is
//!    chosen beside v. With `compacted` in the report, A tells D that s is decided; D gives up
//!    (the usual back-off) and needs a snapshot from A: it is behind a snapshot and must not
//!    lead instances it cannot know. The integration test
//!    `sim_compact::compacted_quorum_member_keeps_a_candidate_from_choosing_a_second_value`
//!    runs exactly this scenario; with this rule removed, it finds w chosen beside v.
//!    The rule compares with the `from` of the round being answered, not the campaign's first
//!    `from`: a campaign whose report was cut asks again from the cut, and the instances below
//!    it were already covered by the earlier round's quorum. (For liveness, an acceptor that
//!    grants such a doomed campaign does not hold back its own campaign, as it does for one
//!    that may win: the behind peer keeps trying until its application installs a snapshot.)
//! 4. **Below `first_held()` there is nothing to learn.** `Commit` and `Decided` for such an
//!    instance are ignored and `ask` does nothing: the application has it in its snapshot.
//! 5. **An installed snapshot drops undecided instances too**, this acceptor's votes
//!    included: the snapshot proves they are decided, and rule 1 keeps the acceptor from
//!    voting there again.
//!
//! Invariants: the compaction point is at most `delivered()` and only grows; `first_held()`
//! only grows; no instance below `first_held()` is held and no proposer runs there.

use crate::msg::{Body, Seq};
use crate::peer::Peer;
use rpc::NodeId;

/// This peer cannot get the decisions from [`Peer::delivered`] on through Paxos: its
/// application must install a snapshot that covers every instance below `upto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotNeed {
    /// A peer known to hold such a snapshot (it compacted past `delivered()`), if one is known.
    /// `None` when the instances were forgotten cluster-wide (below `min()`): then every peer
    /// applied them, and any peer's snapshot will do.
    pub from: Option<NodeId>,
    /// The snapshot must cover every instance below this one.
    pub upto: Seq,
}

impl Peer {
    /// The application holds a snapshot of every instance below `upto` (all of it applied
    /// here): drops every instance below `upto`, whatever the other peers did. Never goes
    /// down: a lower call is ignored. `min()` does not move (see the module docs).
    ///
    /// # Panics
    /// If `upto` is above [`Peer::delivered`]: only what the application was handed can be in
    /// its snapshot.
    pub fn compact(&mut self, upto: Seq) {
        assert!(
            upto <= self.delivered,
            "compact({upto}) beyond delivered() = {}",
            self.delivered
        );
        if !self.horizon.compact(upto) {
            return;
        }
        tracing::debug!(peer = %self.me, %upto, "log compacted");
        self.drop_unheld();
        assert!(self.first_held() >= upto, "nothing below {upto} is held");
    }

    /// The application installed another peer's snapshot covering every instance below
    /// `upto`: drops every instance below it (decided or not: the snapshot proves they are
    /// decided elsewhere), stops proposing there, and moves [`Peer::delivered`] up to `upto`
    /// if it is below. A lower call changes nothing.
    pub fn install_snapshot(&mut self, upto: Seq) {
        let delivered = self.delivered;
        self.horizon.compact(upto);
        self.advance_delivered(delivered.max(upto));
        if let Some(last) = upto.0.checked_sub(1) {
            self.note_seq(Seq(last));
        }
        self.drop_unheld();
        tracing::debug!(peer = %self.me, %upto, "snapshot installed");
        assert!(self.first_held() >= upto, "nothing below {upto} is held");
        assert!(
            self.horizon.compacted() <= self.delivered,
            "compacted past delivered()"
        );
    }

    /// The lowest instance this peer may still hold: `max(min(), compaction point)`.
    pub fn first_held(&self) -> Seq {
        self.horizon.first_held()
    }

    /// Set when this peer learned that it cannot get the decisions from [`Peer::delivered`] on
    /// through Paxos: a peer compacted past them (it answered `Compacted`, or its `PromiseAll`
    /// reported a compaction point above `delivered()`), or they fell below `min()` (forgotten
    /// cluster-wide). The application must install a snapshot, preferably from `from`.
    /// Cleared by [`Peer::install_snapshot`], or when `delivered()` passes `upto`.
    pub fn snapshot_needed(&self) -> Option<SnapshotNeed> {
        let reported = self.snapshot_need.filter(|n| n.upto > self.delivered);
        let min = self.min();
        let forgotten = (self.delivered < min).then_some(SnapshotNeed {
            from: None,
            upto: min,
        });
        match (reported, forgotten) {
            (Some(r), Some(f)) => Some(SnapshotNeed {
                from: r.from,
                upto: r.upto.max(f.upto),
            }),
            (r, f) => r.or(f),
        }
    }

    /// Why this acceptor will not vote or answer about `seq`, if it will not: the instance is
    /// forgotten cluster-wide, or compacted here (rule 1).
    pub(crate) fn unheld_answer(&self, seq: Seq) -> Option<Body> {
        if seq < self.min() {
            return Some(Body::Forgotten { seq });
        }
        let below = self.horizon.compacted();
        (seq < below).then_some(Body::Compacted { seq, below })
    }

    /// `from` answered about `seq` that it compacted every instance below `below`.
    pub(crate) fn on_compacted(&mut self, from: NodeId, seq: Seq, below: Seq) {
        if below <= seq {
            tracing::warn!(%from, %seq, %below, "a Compacted answer not above its instance: ignored");
            return;
        }
        self.on_compaction_report(from, below);
    }

    /// `from` compacted every instance below `below` (rules 2 and 3): nothing is proposed
    /// there any more, and if this peer has not been handed them all, it needs a snapshot.
    pub(crate) fn on_compaction_report(&mut self, from: NodeId, below: Seq) {
        let Some(last) = below.0.checked_sub(1) else {
            return; // Nothing compacted there.
        };
        self.horizon.note_compacted_elsewhere(below);
        self.note_seq(Seq(last));
        let stopped: Vec<Seq> = self.proposing.range(..below).copied().collect();
        for seq in &stopped {
            if let Some(instance) = self.instances.get_mut(seq) {
                instance.proposer = None;
            }
            self.proposing.remove(seq);
        }
        if !stopped.is_empty() {
            tracing::debug!(peer = %self.me, %from, %below, stopped = stopped.len(),
                "proposals below another peer's compaction point stopped");
        }
        if self.delivered < below && self.snapshot_need.is_none_or(|n| n.upto < below) {
            tracing::debug!(peer = %self.me, %from, %below, "behind a snapshot");
            self.snapshot_need = Some(SnapshotNeed {
                from: Some(from),
                upto: below,
            });
        }
        assert!(
            self.proposing.first().is_none_or(|s| *s >= below),
            "a proposer below {below} still runs"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PaxosOutbox;
    use crate::msg::{Msg, Value, ballot};
    use rpc::{Effect, Node};

    fn value(seq: u64) -> Value {
        Value::from(format!("v{seq}"))
    }

    /// Hands `body` to `peer` as peer `from` (incarnation 1) would send it, with `min`; returns
    /// every message the peer sends in answer.
    fn deliver_with_min(peer: &mut Peer, from: u32, min: u64, body: Body) -> Vec<(NodeId, Msg)> {
        let mut out = PaxosOutbox::default();
        let msg = Msg {
            incarnation: 1,
            done: None,
            min: Seq(min),
            body,
        };
        peer.on_message(NodeId(from), msg, &mut out);
        out.drain()
            .filter_map(|effect| match effect {
                Effect::Send { to, msg } | Effect::Respond { to, msg } => Some((to, msg)),
                _ => None,
            })
            .collect()
    }

    fn deliver(peer: &mut Peer, from: u32, body: Body) -> Vec<Body> {
        deliver_with_min(peer, from, 0, body)
            .into_iter()
            .map(|(_, msg)| msg.body)
            .collect()
    }

    /// Peer 0 of 3 that learned and was handed instances `0..decided`, then compacted `upto`.
    fn compacted_peer(decided: u64, upto: u64) -> Peer {
        let mut peer = Peer::new(NodeId(0), 3, 7);
        for seq in 0..decided {
            peer.learn(Seq(seq), value(seq));
        }
        assert_eq!(peer.take_decided(usize::MAX).len() as u64, decided);
        peer.compact(Seq(upto));
        peer
    }

    /// Rule 1: below its compaction point an acceptor answers Prepare, Accept and Learn with
    /// `Compacted`, never a vote; above it, it answers as before. Compaction frees memory but
    /// moves neither `min()` nor the envelope's `min` (a local fact).
    #[test]
    fn compacted_acceptor_answers_compacted_and_never_votes() {
        let before = compacted_peer(6, 0).retained_bytes();
        let mut peer = compacted_peer(6, 5);
        assert!(peer.retained_bytes() < before);
        assert_eq!(
            (peer.first_held(), peer.min(), peer.instance_count()),
            (Seq(5), Seq(0), 1)
        );
        let compacted = Body::Compacted {
            seq: Seq(3),
            below: Seq(5),
        };
        let b = ballot(9, 1);
        let prepare = |seq| Body::Prepare { seq, ballot: b };
        assert_eq!(
            deliver(&mut peer, 1, prepare(Seq(3))),
            std::slice::from_ref(&compacted)
        );
        let accept = Body::Accept {
            seq: Seq(3),
            ballot: b,
            value: value(99),
        };
        assert_eq!(
            deliver(&mut peer, 1, accept),
            std::slice::from_ref(&compacted)
        );
        assert_eq!(
            deliver(&mut peer, 1, Body::Learn { seq: Seq(3) }),
            [compacted]
        );
        let decided = Body::Decided {
            seq: Seq(5),
            value: value(5),
        };
        assert_eq!(deliver(&mut peer, 1, prepare(Seq(5))), [decided]);
        let answers = deliver_with_min(&mut peer, 1, 0, prepare(Seq(8)));
        assert_eq!(answers.len(), 1);
        assert!(matches!(
            answers[0].1.body,
            Body::Promise { seq: Seq(8), .. }
        ));
        assert_eq!(
            answers[0].1.min,
            Seq(0),
            "the envelope's min ignores compaction"
        );
        assert_eq!(peer.status(Seq(3)), (crate::Fate::Forgotten, None));
        assert_eq!(peer.instance_count(), 2, "nothing below 5 was recreated");
    }

    /// Rule 3, acceptor side: a `PromiseAll` carries the compaction point and reports only
    /// from `max(from, compacted)`.
    #[test]
    fn promise_all_reports_the_compaction_point_and_nothing_below_it() {
        let mut peer = compacted_peer(7, 5);
        let answers = deliver(
            &mut peer,
            1,
            Body::PrepareAll {
                from: Seq(2),
                ballot: ballot(3, 1),
            },
        );
        let Some(Body::PromiseAll {
            from,
            compacted,
            accepted,
            decided,
            upto,
            ..
        }) = answers.first()
        else {
            panic!("expected a PromiseAll, got {answers:?}");
        };
        assert_eq!((*from, *compacted, *upto), (Seq(2), Seq(5), None));
        assert!(accepted.is_empty());
        let reported: Vec<Seq> = decided.iter().map(|(s, _)| *s).collect();
        assert_eq!(reported, [Seq(5), Seq(6)]);
    }

    /// Rule 3, candidate side: a promise from a peer compacted past the round's `from` makes
    /// the candidate give up and ask for that peer's snapshot; one compacted exactly at `from`
    /// hides nothing, and the candidate leads.
    #[test]
    fn candidate_gives_up_on_a_promise_from_a_peer_compacted_past_its_round() {
        let promise = |compacted: u64, round_from: u64, ballot| Body::PromiseAll {
            from: Seq(round_from),
            compacted: Seq(compacted),
            ballot,
            accepted: Vec::new(),
            decided: Vec::new(),
            upto: None,
        };
        let mut behind = Peer::new(NodeId(0), 3, 7);
        behind.lead(&mut PaxosOutbox::default());
        assert!(deliver(&mut behind, 1, promise(4, 0, ballot(1, 0))).is_empty());
        assert!(!behind.is_leading());
        let need = SnapshotNeed {
            from: Some(NodeId(1)),
            upto: Seq(4),
        };
        assert_eq!(behind.snapshot_needed(), Some(need));
        let mut out = PaxosOutbox::default();
        behind.lead(&mut out);
        assert!(out.is_empty(), "the usual back-off holds the next campaign");

        let mut level = compacted_peer(4, 0);
        level.lead(&mut PaxosOutbox::default());
        deliver(&mut level, 1, promise(4, 4, ballot(1, 0)));
        assert!(
            level.is_leading(),
            "a peer compacted at the round's from hides nothing"
        );
        assert_eq!(level.snapshot_needed(), None);
    }

    /// An acceptor that grants a campaign doomed by its compaction point does not hold back
    /// its own campaign (as it does for a campaign that may win): the behind peer retries
    /// until its application installs a snapshot, and must not keep this one from leading.
    #[test]
    fn granting_a_doomed_campaign_does_not_hold_back_our_own() {
        let prepare_all = |from| Body::PrepareAll {
            from: Seq(from),
            ballot: ballot(5, 1),
        };
        let mut ahead = compacted_peer(4, 4);
        assert!(matches!(
            deliver(&mut ahead, 1, prepare_all(0))[..],
            [Body::PromiseAll { .. }]
        ));
        let mut out = PaxosOutbox::default();
        ahead.lead(&mut out);
        assert!(!out.is_empty(), "campaigns at once");

        let mut level = compacted_peer(4, 4);
        deliver(&mut level, 1, prepare_all(4));
        let mut out = PaxosOutbox::default();
        level.lead(&mut out);
        assert!(out.is_empty(), "holds back for a campaign that may win");
    }

    /// Rule 2: `Compacted` stops every proposal below `below` (and no new one starts there),
    /// and a peer not handed those instances needs the answering peer's snapshot, until it
    /// installs one. A malformed answer (not above its instance) is ignored.
    #[test]
    fn compacted_answer_stops_proposals_below_it_and_asks_for_a_snapshot() {
        let mut peer = Peer::new(NodeId(0), 3, 7);
        let mut out = PaxosOutbox::default();
        for seq in [1, 2, 6] {
            peer.start(Seq(seq), value(seq), &mut out);
        }
        let malformed = Body::Compacted {
            seq: Seq(5),
            below: Seq(5),
        };
        deliver(&mut peer, 2, malformed);
        assert_eq!(peer.proposing.len(), 3);
        assert_eq!(peer.snapshot_needed(), None);
        let compacted = Body::Compacted {
            seq: Seq(1),
            below: Seq(5),
        };
        deliver(&mut peer, 2, compacted);
        assert_eq!(peer.proposing.iter().copied().collect::<Vec<_>>(), [Seq(6)]);
        peer.start(Seq(3), value(3), &mut out);
        assert!(
            !peer.proposing.contains(&Seq(3)),
            "start below a reported compaction"
        );
        let need = SnapshotNeed {
            from: Some(NodeId(2)),
            upto: Seq(5),
        };
        assert_eq!(peer.snapshot_needed(), Some(need));
        assert_eq!(peer.max(), Some(Seq(6)));
        peer.install_snapshot(Seq(5));
        assert_eq!(peer.snapshot_needed(), None);
        assert_eq!((peer.delivered(), peer.first_held()), (Seq(5), Seq(5)));
        assert_eq!(peer.instance_count(), 1, "only instance 6 is held");
    }

    /// Rule 2, second half: a leader whose proposal of a value recovered by its campaign is
    /// stopped by `Compacted` must not `start` that instance again: it skips phase 1, so a
    /// fresh value would go straight to phase 2 at its ballot (where acceptors that accepted
    /// the recovered value would even take it over at the same ballot).
    #[test]
    fn leader_starts_nothing_below_a_reported_compaction_point() {
        let mut peer = Peer::new(NodeId(0), 3, 7);
        peer.lead(&mut PaxosOutbox::default());
        let recovered = Body::PromiseAll {
            from: Seq(0),
            compacted: Seq(0),
            ballot: ballot(1, 0),
            accepted: vec![(Seq(2), ballot(0, 1), value(2))],
            decided: Vec::new(),
            upto: None,
        };
        let sent = deliver(&mut peer, 1, recovered);
        assert!(peer.is_leading());
        let accepts = |sent: &[Body]| {
            sent.iter()
                .filter_map(|b| match b {
                    Body::Accept { seq, value, .. } => Some((*seq, value.clone())),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(accepts(&sent)[0], (Seq(2), value(2)), "the recovered value");
        let compacted = Body::Compacted {
            seq: Seq(2),
            below: Seq(3),
        };
        deliver(&mut peer, 2, compacted);
        assert!(peer.proposing.is_empty());
        let mut out = PaxosOutbox::default();
        peer.start(Seq(2), value(99), &mut out);
        assert!(out.is_empty(), "no fresh value at a compacted instance");
        peer.start(Seq(3), value(3), &mut out);
        let sent: Vec<Body> = out
            .drain()
            .filter_map(|e| match e {
                Effect::Send { msg, .. } => Some(msg.body),
                _ => None,
            })
            .collect();
        assert_eq!(accepts(&sent), [(Seq(3), value(3)), (Seq(3), value(3))]);
    }

    /// Rule 4: below `first_held()` a `Decided` or `Commit` teaches nothing and `ask` sends
    /// nothing; above it they work as before.
    #[test]
    fn learning_below_first_held_is_ignored() {
        let mut peer = compacted_peer(3, 3);
        let decided = Body::Decided {
            seq: Seq(1),
            value: value(1),
        };
        assert!(deliver(&mut peer, 1, decided).is_empty());
        let commit = |seq| Body::Commit {
            seq,
            ballot: ballot(2, 1),
        };
        assert!(deliver(&mut peer, 1, commit(Seq(2))).is_empty());
        assert_eq!(peer.instance_count(), 0);
        let mut out = PaxosOutbox::default();
        peer.ask(Seq(2), &mut out);
        assert!(out.is_empty());
        assert_eq!(
            deliver(&mut peer, 1, commit(Seq(4))),
            [Body::Learn { seq: Seq(4) }]
        );
        peer.ask(Seq(4), &mut out);
        assert_eq!(out.effects().len(), 2, "a Learn to each other peer");
    }

    /// Rule 5: an installed snapshot drops undecided instances too (this acceptor's votes
    /// included) and moves `delivered()`; the acceptor then answers `Compacted` there. A lower
    /// install changes nothing.
    #[test]
    fn install_snapshot_drops_undecided_instances_and_moves_delivered() {
        let mut peer = Peer::new(NodeId(0), 3, 7);
        let accept = Body::Accept {
            seq: Seq(3),
            ballot: ballot(1, 1),
            value: value(3),
        };
        assert!(matches!(
            deliver(&mut peer, 1, accept)[..],
            [Body::Accepted { .. }]
        ));
        peer.learn(Seq(0), value(0));
        peer.install_snapshot(Seq(5));
        assert_eq!((peer.delivered(), peer.instance_count()), (Seq(5), 0));
        assert!(peer.take_decided(10).is_empty());
        let prepare = Body::Prepare {
            seq: Seq(3),
            ballot: ballot(2, 2),
        };
        let compacted = Body::Compacted {
            seq: Seq(3),
            below: Seq(5),
        };
        assert_eq!(deliver(&mut peer, 2, prepare), [compacted]);
        peer.install_snapshot(Seq(2));
        assert_eq!((peer.delivered(), peer.first_held()), (Seq(5), Seq(5)));
        peer.compact(Seq(4));
        assert_eq!(peer.first_held(), Seq(5), "compaction never goes down");
    }

    /// Instances forgotten cluster-wide before this peer was handed them (a `min` reported
    /// above `delivered()`) need a snapshot from any peer; a compacting peer's report, if any,
    /// names the source.
    #[test]
    fn snapshot_needed_when_delivered_falls_below_min() {
        let mut peer = Peer::new(NodeId(0), 3, 7);
        deliver_with_min(&mut peer, 1, 10, Body::Learn { seq: Seq(12) });
        let any = SnapshotNeed {
            from: None,
            upto: Seq(10),
        };
        assert_eq!(peer.snapshot_needed(), Some(any));
        let compacted = Body::Compacted {
            seq: Seq(12),
            below: Seq(14),
        };
        deliver_with_min(&mut peer, 2, 10, compacted);
        let from_2 = SnapshotNeed {
            from: Some(NodeId(2)),
            upto: Seq(14),
        };
        assert_eq!(peer.snapshot_needed(), Some(from_2));
        peer.install_snapshot(Seq(14));
        assert_eq!(peer.snapshot_needed(), None);
    }

    #[test]
    #[should_panic(expected = "beyond delivered()")]
    fn compact_beyond_delivered_panics() {
        let mut peer = Peer::new(NodeId(0), 3, 7);
        peer.learn(Seq(0), value(0));
        peer.compact(Seq(1));
    }
}
