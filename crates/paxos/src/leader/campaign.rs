//! A candidate's phase 1 for every instance: counting promises and refusals, keeping the
//! highest-ballot report per instance, and moving past cut reports. Pure bookkeeping; the
//! messages are sent by the peer ([`crate::leader`]).

use crate::msg::{Ballot, Seq, Value};
use rpc::{NodeId, Ticks};
use std::collections::{BTreeMap, BTreeSet};

/// A candidate's phase 1.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// The candidate's ballot.
    pub ballot: Ballot,
    /// The lowest instance the campaign covers.
    pub from: Seq,
    /// Where the current round asks from (past `from` once reports were cut).
    pub round_from: Seq,
    /// Peers (not this one) that promised in the current round.
    promises: BTreeSet<NodeId>,
    /// Peers that refused the campaign.
    refusals: BTreeSet<NodeId>,
    /// The lowest cut among the current round's promises (`None`: none was cut).
    round_upto: Option<Seq>,
    /// The highest-ballot accepted value reported per instance, over all rounds.
    pub reported: BTreeMap<Seq, (Ballot, Value)>,
    /// When the current round times out.
    pub retry_at: Ticks,
    /// Rounds that timed out.
    pub silent_rounds: u32,
}

/// What a promise did to a campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignProgress {
    /// Not enough promises yet.
    Waiting,
    /// Enough promises from the other peers for a majority with this peer's own.
    Quorum,
}

impl Campaign {
    /// A campaign at `ballot` for every instance from `from` on.
    pub fn new(ballot: Ballot, from: Seq, now: Ticks, timeout: u64) -> Self {
        Campaign {
            ballot,
            from,
            round_from: from,
            promises: BTreeSet::new(),
            refusals: BTreeSet::new(),
            round_upto: None,
            reported: BTreeMap::new(),
            retry_at: Ticks(now.0 + timeout),
            silent_rounds: 0,
        }
    }

    /// Counts one peer's promise for the current round and keeps the highest-ballot value
    /// reported per instance. Promises for an earlier round or another ballot are ignored.
    pub fn on_promise(
        &mut self,
        from: NodeId,
        round_from: Seq,
        accepted: Vec<(Seq, Ballot, Value)>,
        upto: Option<Seq>,
        others_needed: usize,
    ) -> CampaignProgress {
        if upto.is_some_and(|cut| cut <= round_from) {
            tracing::warn!(%from, "a promise cut before its first instance: ignored");
            return CampaignProgress::Waiting;
        }
        if round_from != self.round_from || !self.promises.insert(from) {
            return CampaignProgress::Waiting;
        }
        self.merge(accepted, upto);
        if self.promises.len() >= others_needed {
            CampaignProgress::Quorum
        } else {
            CampaignProgress::Waiting
        }
    }

    /// Adds a report (another peer's or this peer's own) to the current round.
    pub fn merge(&mut self, accepted: Vec<(Seq, Ballot, Value)>, upto: Option<Seq>) {
        for (seq, ballot, value) in accepted {
            let keep = self
                .reported
                .get(&seq)
                .is_none_or(|(known, _)| ballot > *known);
            if keep {
                self.reported.insert(seq, (ballot, value));
            }
        }
        if let Some(cut) = upto {
            self.round_upto = Some(self.round_upto.map_or(cut, |u| u.min(cut)));
        }
    }

    /// Where the current round's quorum stopped reporting, if any report was cut: the next
    /// round must ask from there. Asserted to move forward, so the campaign always ends.
    pub fn cut(&self) -> Option<Seq> {
        if let Some(upto) = self.round_upto {
            assert!(
                upto > self.round_from,
                "a cut report covers at least one entry"
            );
        }
        self.round_upto
    }

    /// Counts a refusal; true when so many peers refused that no majority is left.
    pub fn on_refusal(&mut self, from: NodeId, peer_count: usize, majority: usize) -> bool {
        self.refusals.insert(from);
        self.refusals.len() > peer_count - majority
    }

    /// Peers (not this one) that promised in the current round.
    pub fn promise_count(&self) -> usize {
        self.promises.len()
    }

    /// Starts the next round, from `round_from`, with the same ballot.
    pub fn next_round(&mut self, round_from: Seq, now: Ticks, timeout: u64) {
        self.round_from = round_from;
        self.promises.clear();
        self.round_upto = None;
        self.retry_at = Ticks(now.0 + timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::ballot;

    fn value(s: &'static str) -> Value {
        Value::from_static(s.as_bytes())
    }

    /// Five peers: two other promises make a quorum with the candidate's own; the highest
    /// ballot reported per instance is kept; refusals end the campaign once no majority is left.
    #[test]
    fn campaign_counts_promises_keeps_highest_report_and_counts_refusals() {
        let mut c = Campaign::new(ballot(9, 0), Seq(10), Ticks(0), 3);
        let low = vec![(Seq(12), ballot(3, 1), value("low"))];
        let high = vec![(Seq(12), ballot(5, 2), value("high"))];
        assert_eq!(
            c.on_promise(NodeId(1), Seq(10), low, None, 2),
            CampaignProgress::Waiting
        );
        assert_eq!(
            c.on_promise(NodeId(1), Seq(10), Vec::new(), None, 2),
            CampaignProgress::Waiting,
            "a duplicate promise counts once"
        );
        assert_eq!(
            c.on_promise(NodeId(2), Seq(10), high, None, 2),
            CampaignProgress::Quorum
        );
        assert_eq!(
            c.reported.get(&Seq(12)).map(|(b, _)| *b),
            Some(ballot(5, 2))
        );
        let mut lost = Campaign::new(ballot(9, 0), Seq(10), Ticks(0), 3);
        assert!(!lost.on_refusal(NodeId(2), 5, 3));
        assert!(
            !lost.on_refusal(NodeId(2), 5, 3),
            "a repeated refusal counts once"
        );
        assert!(
            !lost.on_refusal(NodeId(3), 5, 3),
            "0, 1 and 4 are still a majority"
        );
        assert!(lost.on_refusal(NodeId(4), 5, 3), "no majority is left");
    }

    /// A cut report makes the next round ask from the lowest cut; promises for an old round
    /// and cuts that do not move forward are ignored.
    #[test]
    fn cut_reports_move_the_next_round_forward() {
        let mut c = Campaign::new(ballot(2, 0), Seq(0), Ticks(0), 3);
        assert_eq!(
            c.on_promise(NodeId(1), Seq(0), Vec::new(), Some(Seq(0)), 1),
            CampaignProgress::Waiting,
            "a cut at the first instance is malformed"
        );
        c.on_promise(NodeId(1), Seq(0), Vec::new(), Some(Seq(4096)), 1);
        c.merge(Vec::new(), Some(Seq(5000)));
        assert_eq!(c.cut(), Some(Seq(4096)));
        c.next_round(Seq(4096), Ticks(1), 3);
        assert_eq!(c.cut(), None);
        assert_eq!(
            c.on_promise(NodeId(2), Seq(0), Vec::new(), None, 1),
            CampaignProgress::Waiting,
            "a promise for the previous round"
        );
        assert_eq!(
            c.on_promise(NodeId(2), Seq(4096), Vec::new(), None, 1),
            CampaignProgress::Quorum
        );
        assert_eq!(
            c.from,
            Seq(0),
            "the campaign still covers everything from its start"
        );
    }
}
