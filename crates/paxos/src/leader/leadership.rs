//! What a peer keeps about leadership, apart from the instances' acceptor and proposer
//! state: its role, the leader it hears, and the numbers that pace campaigns.

use super::{Campaign, LEADER_TIMEOUT_TICKS};
use crate::msg::{Ballot, Seq};
use rpc::{NodeId, Ticks};

/// A peer's part in Multi-Paxos.
#[derive(Clone, Debug)]
pub enum Role {
    /// Not leading, not campaigning.
    Follower,
    /// Running phase 1 for every instance.
    Candidate(Campaign),
    /// Won phase 1 at `ballot` for every instance from `from` on.
    Leader {
        /// The ballot phase 1 was won at.
        ballot: Ballot,
        /// Every instance below it was known decided when the campaign began.
        from: Seq,
    },
}

/// Everything a peer keeps about leadership: its role, the leader it hears, and the numbers
/// that pace campaigns. Kept apart from the acceptor and proposer state of the instances.
///
/// Invariants: `highest_round` never goes down; the ballot of a new campaign is above it.
#[derive(Clone, Debug)]
pub(crate) struct Leadership {
    /// Follower, candidate or leader.
    pub(crate) role: Role,
    /// The leader (or candidate) this peer last heard from, and when.
    pub(crate) heard: Option<(NodeId, Ticks)>,
    /// The highest round in any ballot seen, so a new campaign can go above all of them.
    highest_round: u64,
    /// A failed campaign makes `lead` wait until this tick.
    pub(crate) campaign_allowed_at: Ticks,
    /// When each peer last said it follows this peer's leadership (`Follow`): a leader that
    /// hears that from less than a majority steps down.
    followed_at: Vec<Ticks>,
}

impl Leadership {
    /// A follower that has heard nobody, in a cluster of `peer_count`.
    pub(crate) fn new(peer_count: u32) -> Self {
        Leadership {
            role: Role::Follower,
            heard: None,
            highest_round: 0,
            campaign_allowed_at: Ticks(0),
            followed_at: vec![Ticks(0); peer_count as usize],
        }
    }

    /// The highest round in any ballot seen here (promised ones included).
    pub(crate) fn highest_round(&self) -> u64 {
        self.highest_round
    }

    /// Keeps `highest_round` at or above `round`.
    pub(crate) fn note_round(&mut self, round: u64) {
        self.highest_round = self.highest_round.max(round);
    }

    /// A ballot of `me` above every ballot seen, for a new campaign.
    pub(super) fn next_ballot(&mut self, me: NodeId) -> Ballot {
        self.highest_round = self
            .highest_round
            .checked_add(1)
            .expect("ballot rounds never reach u64::MAX");
        Ballot {
            round: self.highest_round,
            node: me,
        }
    }

    /// The peer heard leading (or campaigning) in the last [`LEADER_TIMEOUT_TICKS`].
    pub(super) fn heard_leader(&self, now: Ticks) -> Option<NodeId> {
        self.heard
            .filter(|(_, at)| now.0 < at.0 + LEADER_TIMEOUT_TICKS)
            .map(|(node, _)| node)
    }

    /// A campaign failed: back to follower, and no campaign before `now + wait`.
    pub(super) fn back_off(&mut self, now: Ticks, wait: u64) {
        assert!(wait >= 1, "a failed campaign waits at least a tick");
        self.role = Role::Follower;
        self.campaign_allowed_at = Ticks(now.0 + wait);
    }

    /// Now leading: every peer gets a full timeout to answer the first heartbeat.
    pub(super) fn begin_leading(&mut self, me: NodeId, ballot: Ballot, from: Seq, now: Ticks) {
        assert_eq!(ballot.node, me, "a peer leads only with its own ballot");
        self.role = Role::Leader { ballot, from };
        self.heard = Some((me, now));
        self.followed_at.fill(now);
    }

    /// True if peers other than `me` that answered a heartbeat in the last
    /// [`LEADER_TIMEOUT_TICKS`] make a majority with `me`.
    pub(super) fn hears_majority(&self, me: NodeId, now: Ticks, majority: usize) -> bool {
        let recent = |at: &Ticks| now.0 < at.0 + LEADER_TIMEOUT_TICKS;
        let others = (0..self.followed_at.len())
            .filter(|p| *p != me.index())
            .filter(|p| recent(&self.followed_at[*p]))
            .count();
        others + 1 >= majority
    }

    /// `from` follows this peer's leadership at `ballot`.
    pub(super) fn on_follow(&mut self, from: NodeId, ballot: Ballot, now: Ticks) {
        if matches!(self.role, Role::Leader { ballot: led, .. } if led == ballot) {
            assert!(self.followed_at[from.index()] <= now, "time only grows");
            self.followed_at[from.index()] = now;
        }
    }
}
