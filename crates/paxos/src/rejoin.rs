//! Rejoining after a lost disk (SPEC §9.2): an amnesiac durable peer fences off the promises
//! and votes it forgot, then votes again, but only in instances nobody had seen.
//!
//! A peer that lost its disk is amnesiac ([`crate::incarnation`]): the others ignore its new
//! incarnation. Staying a learner for good would leave the cluster one failure closer to
//! stopping. To vote again safely it must make sure that nothing it forgot can matter:
//!
//! 1. **What it may have promised.** It asks every peer for the highest round it has seen
//!    (`RejoinAsk` / `RejoinRound`) and waits for `Q = n - majority + 1` other peers that have
//!    their own state (not amnesiac, not joining). Any ballot `b` it promised before has a
//!    phase-1 quorum: itself plus `majority - 1` others. `Q` others and `majority - 1` others
//!    out of `n - 1` always share one peer, which saw `b`: so the highest round reported,
//!    `T`, is at least `b`'s.
//! 2. **Fence.** It promises `(T + 1, me)` for every instance itself and asks the peers to do
//!    the same (`RejoinFence`; each also adopts the new incarnation, on its disk, and answers
//!    `Fenced` with the highest instance it has seen). A value it accepted before at some
//!    ballot `b <= T` can from now on be accepted by no fenced peer; with `Q` fences in, every
//!    value that was or can still be chosen with its old vote was accepted, before its fence,
//!    by a peer among those `Q` (the same intersection), so sits at or below the highest
//!    instance `H` they report.
//! 3. **Vote only above.** It takes part in instances above `H` only (`votes_from = H + 1`):
//!    there it never voted before in a way that counts. Below, it only learns (the
//!    application catches up from peers). It campaigns only once it has applied past `H`.
//!
//! Fencing deposes the current leader (its ballot is now below the fence): one election, like
//! a short disconnect. A majority of lost disks never finds `Q` peers with state, and the
//! cluster stops rather than invent anything. Peers not among the `Q` keep ignoring the new
//! incarnation until they tell it so (`Restarted`); it then fences them too.
//!
//! Invariants: `votes_from` only grows; a peer votes below it never; the rejoin completes
//! only with `Q` fences, and its state (floor, `votes_from`, not amnesiac) is on disk before
//! any vote.

use crate::leader::Role;
use crate::msg::{Ballot, Body, Seq};
use crate::peer::{PaxosOutbox, Peer};
use rpc::NodeId;

/// Ticks between two rounds of rejoin requests to the peers that have not answered.
pub const REJOIN_RETRY_TICKS: u64 = 10;

/// Where a rejoin stands.
#[derive(Clone, Debug)]
pub(crate) enum Rejoin {
    /// Collecting the highest round seen by each peer.
    Asking { rounds: Vec<Option<u64>> },
    /// Collecting fences: the highest instance seen by each fenced peer.
    Fencing {
        ballot: Ballot,
        fenced: Vec<Option<Option<Seq>>>,
    },
    /// Voting again from `votes_from`; peers that were not fenced are fenced when they say
    /// they do not know this incarnation.
    Done { ballot: Ballot },
}

impl Peer {
    /// The number of other peers with state a rejoin needs: `n - majority + 1`.
    fn rejoin_quorum(&self) -> usize {
        self.peer_count as usize - self.majority() + 1
    }

    /// True if this peer votes in instance `seq` (see [`crate::join`] and [`crate::rejoin`]).
    pub(crate) fn votes_in(&self, seq: Seq) -> bool {
        !self.is_joining() && !self.is_amnesiac() && seq >= self.votes_from
    }

    /// The lowest instance this peer votes in (0 unless it rejoined after a lost disk).
    pub fn votes_from(&self) -> Seq {
        self.votes_from
    }

    /// Starts a rejoin if this durable peer is amnesiac and none runs.
    pub(crate) fn tick_rejoin(&mut self, out: &mut PaxosOutbox) {
        if !self.is_durable() || !self.is_amnesiac() {
            return;
        }
        let n = self.peer_count as usize;
        let rejoin = self.rejoin.get_or_insert_with(|| Rejoin::Asking {
            rounds: vec![None; n],
        });
        if matches!(rejoin, Rejoin::Done { .. }) {
            return;
        }
        if self
            .rejoin_sent_at
            .is_some_and(|at| self.now.0 < at.0 + REJOIN_RETRY_TICKS)
        {
            return;
        }
        self.rejoin_sent_at = Some(self.now);
        let (body, answered): (Body, Vec<bool>) = match rejoin {
            Rejoin::Asking { rounds } => (
                Body::RejoinAsk,
                rounds.iter().map(Option::is_some).collect(),
            ),
            Rejoin::Fencing { ballot, fenced } => (
                Body::RejoinFence { ballot: *ballot },
                fenced.iter().map(Option::is_some).collect(),
            ),
            Rejoin::Done { .. } => unreachable!("returned above"),
        };
        for peer in (0..self.peer_count).map(NodeId) {
            if peer != self.me && !answered[peer.index()] {
                out.send(peer, self.envelope(body.clone()));
            }
        }
    }

    /// True if this peer has state of its own to vouch for (it may answer a rejoin).
    fn has_own_state(&self) -> bool {
        !self.is_amnesiac() && !self.is_joining()
    }

    /// A peer that lost its disk asks for the highest round seen here.
    pub(crate) fn on_rejoin_ask(&mut self, from: NodeId, out: &mut PaxosOutbox) {
        if !self.has_own_state() {
            return;
        }
        let round = self.leadership.highest_round();
        out.respond(from, self.envelope(Body::RejoinRound { round }));
    }

    /// A peer that lost its disk asks this one to fence its forgotten ballots off and to keep
    /// its new `incarnation`.
    pub(crate) fn on_rejoin_fence(
        &mut self,
        from: NodeId,
        incarnation: u64,
        ballot: Ballot,
        out: &mut PaxosOutbox,
    ) {
        if !self.has_own_state() {
            return;
        }
        if self.floor.is_none_or(|f| f < ballot) {
            self.raise_floor(ballot);
        }
        let deposed = match &self.leadership.role {
            Role::Leader { ballot: led, .. } => *led < ballot,
            Role::Candidate(c) => c.ballot < ballot,
            Role::Follower => false,
        };
        if deposed {
            tracing::info!(peer = %self.me, %from, %ballot, "fenced by a rejoining peer: step down");
            self.leadership.role = Role::Follower;
        }
        if self.incarnations.known_of(from) != Some(incarnation) {
            self.incarnations.adopt(from, incarnation);
            self.identity_changed();
            tracing::info!(peer = %self.me, %from, "a peer that lost its disk rejoins");
        }
        let max = self.max();
        out.respond(from, self.envelope(Body::Fenced { ballot, max }));
    }

    /// A peer told this rejoining one the highest round it has seen.
    pub(crate) fn on_rejoin_round(&mut self, from: NodeId, round: u64) {
        let quorum = self.rejoin_quorum();
        let Some(Rejoin::Asking { rounds }) = &mut self.rejoin else {
            return;
        };
        rounds[from.index()] = Some(round);
        if rounds.iter().flatten().count() < quorum {
            return;
        }
        let highest = rounds.iter().flatten().max().copied().unwrap_or(0);
        self.leadership.note_round(highest);
        let ballot = Ballot {
            round: self.leadership.highest_round() + 1,
            node: self.me,
        };
        // Our own promise first, on disk before the fence leaves (the journal's flush).
        self.raise_floor(ballot);
        self.leadership.note_round(ballot.round);
        self.rejoin = Some(Rejoin::Fencing {
            ballot,
            fenced: vec![None; self.peer_count as usize],
        });
        self.rejoin_sent_at = None;
        tracing::info!(peer = %self.me, %ballot, "rejoin: fencing");
    }

    /// A peer fenced this rejoining one's old ballots off.
    pub(crate) fn on_fenced(&mut self, from: NodeId, ballot: Ballot, max: Option<Seq>) {
        let quorum = self.rejoin_quorum();
        let Some(Rejoin::Fencing {
            ballot: fence,
            fenced,
        }) = &mut self.rejoin
        else {
            return;
        };
        if *fence != ballot {
            return;
        }
        fenced[from.index()] = Some(max);
        if fenced.iter().flatten().count() < quorum {
            return;
        }
        let highest = fenced.iter().flatten().flatten().max().copied();
        let votes_from = highest
            .map_or(Seq(0), |h| Seq(h.0 + 1))
            .max(self.votes_from);
        if let Some(h) = highest {
            self.note_seq(h);
        }
        self.votes_from = votes_from;
        self.rejoin = Some(Rejoin::Done { ballot });
        self.incarnations.set_amnesiac(false);
        self.joining = None;
        self.identity_changed();
        tracing::info!(peer = %self.me, %votes_from, "rejoined after a lost disk: votes from here on");
    }

    /// A peer says it knows another incarnation of this one. Returns true if that makes this
    /// peer amnesiac; a peer that already rejoined fences that peer instead.
    pub(crate) fn on_restarted(&mut self, from: NodeId, known: u64, out: &mut PaxosOutbox) -> bool {
        if let Some(Rejoin::Done { ballot }) = &self.rejoin {
            if known != self.incarnations.mine() {
                let ballot = *ballot;
                out.respond(from, self.envelope(Body::RejoinFence { ballot }));
            }
            return false;
        }
        self.incarnations.on_restarted_notice(known)
    }
}
