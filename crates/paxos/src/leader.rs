//! Multi-Paxos: a distinguished proposer (the leader) that runs phase 1 once for every instance
//! and then decides each new instance with phase 2 alone.
//!
//! # How a peer becomes leader
//! The application calls [`Peer::lead`] when it wants a leader and none is heard. The peer
//! becomes a *candidate*: it picks a ballot above every ballot it has seen and sends
//! `PrepareAll { from, ballot }`, where every instance below `from` is decided here. An acceptor
//! that grants it promises `ballot` for *every* instance (one promise, kept by the peer as the
//! floor of each instance's own promise) and reports, for every instance from `from` on, what
//! it accepted or knows decided. A report that would not fit a frame is cut at
//! [`REPORT_ENTRIES_MAX`] entries; the candidate then asks again, with the same ballot, from
//! where the shortest report in the quorum stopped, so every instance is covered by one quorum.
//! With a majority (the candidate's own acceptor promises last, by function call, so its report
//! is taken at the same instant as its promise), the candidate is leader: it proposes every
//! reported value again at its ballot (the value with the highest ballot per instance, exactly
//! as a single-decree phase 1 would), and from then on `start` goes straight to phase 2.
//!
//! # Why this is as safe as single-decree Paxos
//! For each instance, a leader's phase 2 at ballot `b` follows a phase 1 at `b` answered by a
//! majority that promised `b` for that instance and reported its accepted value: the same two
//! facts single-decree Paxos relies on. Promises never go down: an instance's effective promise
//! is the higher of its own and the floor. A classic proposer (a peer calling `start` without
//! leading) may still run both phases on any instance; it must pick a ballot above the floor, and
//! the leader's Accept for that instance is then refused and that instance falls back to classic
//! rounds. Agreement never depends on there being one leader, only progress does.
//!
//! # Keeping one leader
//! The leader sends a `Heartbeat` every tick. A peer that heard a leader in the last
//! [`LEADER_TIMEOUT_TICKS`] refuses other candidates (like Raft's pre-vote check, so that a peer
//! back from a partition does not depose a working leader), and so does the leader itself. A
//! leader steps down when a heartbeat or a refusal shows another peer's higher ballot, and when it has not heard from a majority for
//! [`LEADER_TIMEOUT_TICKS`] (followers answer each heartbeat with `Follow`), so that a deaf
//! leader makes way. A candidate gives up once refusals leave it no majority, or after
//! [`CAMPAIGN_ROUNDS_MAX`] silent rounds, and does not campaign again for a random back-off.

mod campaign;
mod leadership;

pub use campaign::{Campaign, CampaignProgress};
pub(crate) use leadership::Leadership;
pub use leadership::Role;

use crate::msg::{Ballot, Body, Fate, Seq, Value};
use crate::peer::{PaxosOutbox, Peer};
use crate::proposer::{Proposer, ROUND_TIMEOUT_TICKS};
use rpc::{NodeId, Ticks};

/// Ticks without a heartbeat after which a follower stops believing in its leader. Heartbeats
/// go every tick, so 8 ticks (80 ms at the default tick) survive several lost messages and a
/// busy machine, and still elect a new leader quickly.
pub const LEADER_TIMEOUT_TICKS: u64 = 8;

/// The most instances one `PromiseAll` reports. With values up to the 8 MiB the RESP front door
/// allows, only the byte bound [`REPORT_BYTES_MAX`] matters; this one bounds the count.
pub const REPORT_ENTRIES_MAX: usize = 4096;

/// The most value bytes one `PromiseAll` carries, so that it fits a 16 MiB frame.
pub const REPORT_BYTES_MAX: usize = 8 << 20;

/// Rounds of `PrepareAll` without a majority before a candidate gives up.
pub const CAMPAIGN_ROUNDS_MAX: u32 = 3;

/// The cap, in ticks, of the random wait after a failed campaign before `lead` tries again.
pub const CAMPAIGN_BACKOFF_TICKS_MAX: u64 = 8;

/// One acceptor's phase-1b report for every instance (the body of a `PromiseAll`).
#[derive(Clone, Debug)]
pub(crate) struct Report {
    /// Instances accepted but not known decided: (instance, ballot, value).
    pub(crate) accepted: Vec<(Seq, Ballot, Value)>,
    /// Instances known decided: (instance, value).
    pub(crate) decided: Vec<(Seq, Value)>,
    /// Where the report stops, if it was cut.
    pub(crate) upto: Option<Seq>,
    /// The acceptor's compaction point: nothing below it is reported (see [`crate::compact`]).
    pub(crate) compacted: Seq,
}

impl Peer {
    /// Asks this peer to become the distinguished proposer: it campaigns unless it leads or
    /// campaigns already, or a campaign failed less than a random back-off ago. Returns at once;
    /// [`Peer::is_leading`] tells when it has won. Needed only for speed: without a leader every
    /// `start` runs both phases, as in single-decree Paxos.
    pub fn lead(&mut self, out: &mut PaxosOutbox) {
        let mark = out.len();
        self.campaign(out);
        self.flush_journal(mark, out);
    }

    fn campaign(&mut self, out: &mut PaxosOutbox) {
        let lead = &self.leadership;
        if !matches!(lead.role, Role::Follower) || self.now < lead.campaign_allowed_at {
            return;
        }
        let from = self.lowest_undecided();
        // A peer that may not vote there cannot count its own promise (crate::rejoin).
        if !self.votes_in(from) {
            return;
        }
        let ballot = self.leadership.next_ballot(self.me);
        tracing::debug!(peer = %self.me, %ballot, %from, "campaign for leadership");
        self.leadership.role =
            Role::Candidate(Campaign::new(ballot, from, self.now, ROUND_TIMEOUT_TICKS));
        self.broadcast(Body::PrepareAll { from, ballot }, out);
        // A cluster of one: this peer's own promise is a majority.
        self.try_win(out);
    }

    /// The leader this peer believes in: itself when leading, else the peer it heard a
    /// heartbeat from in the last [`LEADER_TIMEOUT_TICKS`].
    pub fn leader(&self) -> Option<NodeId> {
        if self.is_leading() {
            return Some(self.me);
        }
        self.leadership.heard_leader(self.now)
    }

    /// True when this peer has won phase 1 for every instance and `start` skips it.
    pub fn is_leading(&self) -> bool {
        matches!(self.leadership.role, Role::Leader { .. })
    }

    /// Asks the leader (every peer, if none is known) for the decision of `seq`: how a follower
    /// fills a hole without proposing, so without disturbing the leader.
    pub fn ask(&mut self, seq: Seq, out: &mut PaxosOutbox) {
        if seq < self.first_held() || self.status(seq).0 == Fate::Decided {
            return;
        }
        match self.leader().filter(|l| *l != self.me) {
            Some(leader) => out.send(leader, self.envelope(Body::Learn { seq })),
            None => self.broadcast(Body::Learn { seq }, out),
        }
    }

    /// The lowest instance at or above `first_held()` not known decided here.
    fn lowest_undecided(&self) -> Seq {
        let mut seq = self.first_held();
        for (held, instance) in self.instances.range(seq..) {
            if *held != seq || instance.decided.is_none() {
                break;
            }
            seq = Seq(seq.0 + 1);
        }
        seq
    }

    /// Keeps `highest_round` above every ballot in `body`, so a campaign outbids them all.
    pub(crate) fn note_ballots(&mut self, body: &Body) {
        let round = match body {
            Body::Prepare { ballot, .. }
            | Body::Promise { ballot, .. }
            | Body::Accept { ballot, .. }
            | Body::Accepted { ballot, .. }
            | Body::Commit { ballot, .. }
            | Body::PrepareAll { ballot, .. }
            | Body::PromiseAll { ballot, .. }
            | Body::Heartbeat { ballot, .. }
            | Body::Follow { ballot } => ballot.round,
            Body::Reject { promised, .. } => promised.round,
            Body::Refused { promised, .. } => promised.map_or(0, |p| p.round),
            Body::Decided { .. }
            | Body::Forgotten { .. }
            | Body::Compacted { .. }
            | Body::Learn { .. }
            | Body::Restarted { .. }
            | Body::Hello
            | Body::Welcome
            | Body::RejoinAsk
            | Body::RejoinRound { .. } => 0,
            Body::RejoinFence { ballot } | Body::Fenced { ballot, .. } => ballot.round,
        };
        self.leadership.note_round(round);
    }

    /// A leader's commit: learn the value this acceptor accepted at that ballot, or ask for it.
    pub(crate) fn on_commit(
        &mut self,
        from: NodeId,
        seq: Seq,
        ballot: Ballot,
        out: &mut PaxosOutbox,
    ) {
        // Below first_held() the application has the value in its snapshot already.
        if seq < self.first_held() || self.status(seq).0 == Fate::Decided {
            return;
        }
        let accepted = self
            .instances
            .get(&seq)
            .and_then(|i| i.acceptor.accepted())
            .filter(|(b, _)| *b == ballot)
            .map(|(_, value)| value.clone());
        match accepted {
            Some(value) => self.learn(seq, value),
            None => out.respond(from, self.envelope(Body::Learn { seq })),
        }
    }

    /// Answers a question about `seq` with its decision, if known.
    pub(crate) fn on_learn(&mut self, from: NodeId, seq: Seq, out: &mut PaxosOutbox) {
        if let Some(reply) = self.unheld_answer(seq) {
            out.respond(from, self.envelope(reply));
            return;
        }
        if let (Fate::Decided, Some(value)) = self.status(seq) {
            out.respond(from, self.envelope(Body::Decided { seq, value }));
        }
    }

    /// Acceptor side of a campaign: promise `ballot` for every instance and report, or refuse.
    pub(crate) fn on_prepare_all(
        &mut self,
        candidate: NodeId,
        from: Seq,
        ballot: Ballot,
        out: &mut PaxosOutbox,
    ) {
        let refuse = |peer: &Self, promised: Option<Ballot>, out: &mut PaxosOutbox| {
            out.respond(candidate, peer.envelope(Body::Refused { ballot, promised }));
        };
        let hears_another_leader = self
            .leader()
            .is_some_and(|leader| leader != candidate && leader != self.me)
            || self.is_leading();
        let own_campaign = match &self.leadership.role {
            Role::Candidate(c) if c.ballot > ballot => Some(c.ballot),
            _ => None,
        };
        if self.floor.is_some_and(|f| ballot < f) || hears_another_leader || own_campaign.is_some()
        {
            refuse(self, self.floor.max(own_campaign), out);
            return;
        }
        let Some(report) = self.promise_all(from, ballot) else {
            refuse(self, self.floor, out);
            return;
        };
        if matches!(self.leadership.role, Role::Candidate(_)) {
            tracing::debug!(peer = %self.me, %ballot, "campaign abandoned for a higher one");
            self.leadership.role = Role::Follower;
        }
        // Give the candidate time to win before campaigning against it, unless it cannot
        // win: a candidate behind our compaction point gives up on this very answer
        // (crate::compact, rule 3), and one that keeps trying until its application installs
        // a snapshot must not keep an up-to-date peer from campaigning meanwhile.
        if from >= report.compacted {
            self.leadership.campaign_allowed_at = Ticks(self.now.0 + LEADER_TIMEOUT_TICKS);
        }
        let reply = Body::PromiseAll {
            from,
            compacted: report.compacted,
            ballot,
            accepted: report.accepted,
            decided: report.decided,
            upto: report.upto,
        };
        out.respond(candidate, self.envelope(reply));
    }

    /// Promises `ballot` for every instance and returns the report from `from` on, or `None`
    /// (promising nothing) if some instance from `from` on promised a higher ballot on its own.
    /// Nothing below `first_held()` is reported; the compaction point goes with the report, so
    /// that the candidate knows which instances it says nothing about.
    fn promise_all(&mut self, from: Seq, ballot: Ballot) -> Option<Report> {
        if self.floor.is_some_and(|f| ballot < f) {
            return None;
        }
        let first = from.max(self.first_held());
        let outbid = self
            .instances
            .range(first..)
            .any(|(_, i)| i.decided.is_none() && i.acceptor.promised().is_some_and(|p| p > ballot));
        if outbid {
            return None;
        }
        self.raise_floor(ballot);
        let compacted = self.horizon.compacted();
        let report = |accepted, decided, upto| Report {
            accepted,
            decided,
            upto,
            compacted,
        };
        let (mut accepted, mut decided, mut bytes) = (Vec::new(), Vec::new(), 0);
        for (seq, instance) in self.instances.range(first..) {
            let entry = match (&instance.decided, instance.acceptor.accepted()) {
                (Some(value), _) => Some((value, None)),
                (None, Some((b, value))) => Some((value, Some(*b))),
                (None, None) => None,
            };
            let Some((value, accepted_at)) = entry else {
                continue;
            };
            let count = accepted.len() + decided.len();
            if count > 0 && (count >= REPORT_ENTRIES_MAX || bytes + value.len() > REPORT_BYTES_MAX)
            {
                return Some(report(accepted, decided, Some(*seq)));
            }
            bytes += value.len();
            match accepted_at {
                Some(b) => accepted.push((*seq, b, value.clone())),
                None => decided.push((*seq, value.clone())),
            }
        }
        Some(report(accepted, decided, None))
    }

    /// Candidate side: count a promise, learn the decisions it reports, and give up if the
    /// promiser compacted instances the round should cover.
    pub(crate) fn on_promise_all(
        &mut self,
        from: NodeId,
        round_from: Seq,
        ballot: Ballot,
        report: Report,
        out: &mut PaxosOutbox,
    ) {
        for (seq, value) in report.decided {
            self.learn(seq, value);
        }
        self.on_compaction_report(from, report.compacted);
        let others_needed = self.majority() - 1;
        let Role::Candidate(campaign) = &mut self.leadership.role else {
            return;
        };
        if campaign.ballot != ballot {
            return;
        }
        if report.compacted > campaign.round_from {
            // crate::compact, rule 3: this promise covers instances from the round's `from`
            // on, but says nothing of those it compacted, and they are decided. Counting it
            // could let this peer lead, and choose a second value, in an instance it cannot
            // know. It is behind a snapshot: give up (on_compaction_report noted the need).
            tracing::debug!(peer = %self.me, %from, compacted = %report.compacted,
                round_from = %campaign.round_from, "campaign behind a compacted peer: give up");
            self.give_up();
            return;
        }
        if campaign.on_promise(
            from,
            round_from,
            report.accepted,
            report.upto,
            others_needed,
        ) == CampaignProgress::Quorum
        {
            self.try_win(out);
        }
    }

    /// With promises from enough other peers, adds this peer's own (promised and reported at
    /// this instant) and either wins, or asks again from where the quorum's reports were cut.
    fn try_win(&mut self, out: &mut PaxosOutbox) {
        let Role::Candidate(campaign) = &self.leadership.role else {
            return;
        };
        if campaign.promise_count() < self.majority() - 1 {
            return;
        }
        let (ballot, round_from) = (campaign.ballot, campaign.round_from);
        // Our own compaction point may be above `round_from` (decisions learned during the
        // campaign were applied and compacted); that hides nothing from us, and we never
        // propose below first_held().
        let Some(Report {
            accepted,
            decided,
            upto,
            ..
        }) = self.promise_all(round_from, ballot)
        else {
            tracing::debug!(peer = %self.me, %ballot, "own acceptor outbid: campaign lost");
            self.give_up();
            return;
        };
        for (seq, value) in decided {
            self.learn(seq, value);
        }
        let now = self.now;
        let Role::Candidate(campaign) = &mut self.leadership.role else {
            unreachable!("still a candidate");
        };
        campaign.merge(accepted, upto);
        if let Some(cut) = campaign.cut() {
            campaign.next_round(cut, now, ROUND_TIMEOUT_TICKS);
            self.broadcast(Body::PrepareAll { from: cut, ballot }, out);
            return;
        }
        let Role::Candidate(campaign) =
            std::mem::replace(&mut self.leadership.role, Role::Follower)
        else {
            unreachable!("still a candidate");
        };
        self.establish(campaign, out);
    }

    /// Phase 1 is won for every instance from `campaign.from` on: propose every reported value
    /// again at our ballot, and every value this peer was proposing, then lead.
    fn establish(&mut self, campaign: Campaign, out: &mut PaxosOutbox) {
        let Campaign {
            ballot,
            from,
            reported,
            ..
        } = campaign;
        tracing::debug!(peer = %self.me, %ballot, %from, recovered = reported.len(), "leading");
        self.leadership
            .begin_leading(self.me, ballot, from, self.now);
        self.broadcast(
            Body::Heartbeat {
                ballot,
                max: self.max(),
            },
            out,
        );
        let first = self.horizon.first_proposable();
        for (seq, (_, value)) in reported {
            if seq < first.max(from) || self.status(seq).0 == Fate::Decided {
                continue;
            }
            self.note_seq(seq);
            let me = self.me;
            let instance = self.instances.entry(seq).or_default();
            if instance.proposer.is_none() {
                instance.proposer = Some(Proposer::new(me, value.clone()));
                self.proposing.insert(seq);
            }
            self.accept_round(seq, ballot, value, out);
        }
        let waiting: Vec<Seq> = self.proposing.range(from..).copied().collect();
        for seq in waiting {
            let value = self.instances.get(&seq).and_then(|i| {
                let proposer = i.proposer.as_ref()?;
                proposer
                    .accepting()
                    .is_none_or(|(b, _)| b != ballot)
                    .then(|| proposer.own_value().clone())
            });
            if let Some(value) = value {
                self.accept_round(seq, ballot, value, out);
            }
        }
    }

    /// The campaign failed: follow, and wait a random back-off before campaigning again.
    fn give_up(&mut self) {
        let wait = self.rng.range(1, CAMPAIGN_BACKOFF_TICKS_MAX);
        self.leadership.back_off(self.now, wait);
    }

    /// A refusal by `from` of `ballot` (a campaign's, a heartbeat's or a leader's Accept)
    /// because of `promised`: a candidate gives up once no majority is left; a leader steps
    /// down if another peer's ballot is higher.
    pub(crate) fn on_refusal(&mut self, from: NodeId, ballot: Ballot, promised: Option<Ballot>) {
        let (peer_count, majority) = (self.peer_count as usize, self.majority());
        if let Role::Candidate(c) = &mut self.leadership.role
            && c.ballot == ballot
            && c.on_refusal(from, peer_count, majority)
        {
            tracing::debug!(peer = %self.me, %ballot, ?promised, "campaign refused");
            self.give_up();
        }
        if let Role::Leader { ballot: led, .. } = &self.leadership.role
            && *led == ballot
            && promised.is_some_and(|p| p > ballot && p.node != self.me)
        {
            tracing::debug!(peer = %self.me, %ballot, ?promised, "step down: outbid");
            self.leadership.role = Role::Follower;
        }
    }

    /// A leader's heartbeat: believe it if its ballot is at least our promise, refuse it
    /// otherwise (so a deposed leader learns it was deposed).
    pub(crate) fn on_heartbeat(&mut self, leader: NodeId, ballot: Ballot, out: &mut PaxosOutbox) {
        if self.floor.is_some_and(|f| ballot < f) {
            out.respond(
                leader,
                self.envelope(Body::Refused {
                    ballot,
                    promised: self.floor,
                }),
            );
            return;
        }
        // A heartbeat proves a majority promised `ballot` for every instance; promising it
        // here too only restricts this acceptor, which is always safe.
        self.raise_floor(ballot);
        self.leadership.heard = Some((leader, self.now));
        // Sent as a message of its own, not an answer: a leader that cannot receive messages
        // (deaf) must not count it, and then it steps down.
        out.send(leader, self.envelope(Body::Follow { ballot }));
        let deposed = match &self.leadership.role {
            Role::Leader { ballot: led, .. } => *led < ballot,
            Role::Candidate(c) => c.ballot < ballot,
            Role::Follower => false,
        };
        if deposed {
            tracing::debug!(peer = %self.me, %ballot, "a higher leader is heard: follow it");
            self.leadership.role = Role::Follower;
        }
    }

    /// Per tick: a leader sends its heartbeat; a candidate repeats or abandons its round.
    pub(crate) fn tick_role(&mut self, out: &mut PaxosOutbox) {
        let (now, me, majority) = (self.now, self.me, self.majority());
        let lead = &mut self.leadership;
        match &mut lead.role {
            Role::Leader { ballot, .. } => {
                let ballot = *ballot;
                // Raft's check-quorum: a deaf or cut-off leader whose heartbeats still arrive
                // would otherwise keep followers from electing another one.
                if !lead.hears_majority(me, now, majority) {
                    tracing::debug!(peer = %me, %ballot, "step down: no majority heard");
                    lead.role = Role::Follower;
                    return;
                }
                lead.heard = Some((me, now));
                self.broadcast(
                    Body::Heartbeat {
                        ballot,
                        max: self.max(),
                    },
                    out,
                );
            }
            Role::Candidate(campaign) if now >= campaign.retry_at => {
                campaign.silent_rounds += 1;
                if campaign.silent_rounds >= CAMPAIGN_ROUNDS_MAX {
                    tracing::debug!(peer = %self.me, "campaign unanswered: give up");
                    self.give_up();
                    return;
                }
                let (from, ballot) = (campaign.round_from, campaign.ballot);
                campaign.retry_at = Ticks(now.0 + ROUND_TIMEOUT_TICKS);
                self.broadcast(Body::PrepareAll { from, ballot }, out);
            }
            _ => {}
        }
    }

    /// A follower's answer to our heartbeat.
    pub(crate) fn on_follow(&mut self, from: NodeId, ballot: Ballot) {
        self.leadership.on_follow(from, ballot, self.now);
    }

    /// A leader's phase-2 round that timed out is sent again at the same ballot rather than
    /// restarted with phase 1 (messages were lost, the leadership was not). Returns whether it
    /// was.
    pub(crate) fn resend_accept(&mut self, seq: Seq, out: &mut PaxosOutbox) -> bool {
        let Role::Leader { ballot, .. } = self.leadership.role else {
            return false;
        };
        let now = self.now;
        let Some(proposer) = self
            .instances
            .get_mut(&seq)
            .and_then(|i| i.proposer.as_mut())
        else {
            return false;
        };
        let Some((at, value)) = proposer.accepting() else {
            return false;
        };
        if at != ballot {
            return false;
        }
        let value = value.clone();
        proposer.extend(now);
        self.broadcast(Body::Accept { seq, ballot, value }, out);
        true
    }
}
