//! One Paxos peer: many independent instances, each with an acceptor and (after `start`) a
//! proposer. What is not per instance lives in types of its own: forgetting in
//! [`crate::horizon`], incarnations in [`crate::incarnation`], leadership in
//! [`crate::leader`]'s `Leadership`; the peer routes messages between them.

use crate::acceptor::{Acceptor, Vote};
use crate::compact::SnapshotNeed;
use crate::horizon::Horizon;
use crate::incarnation::{Admission, Incarnations};
use crate::join::Joining;
use crate::journal::{self, Journal, Record};
use crate::leader::{Leadership, Report, Role};
use crate::msg::{Ballot, Body, Fate, Msg, Seq, Value};
use crate::proposer::{Progress, Proposer};
use crate::rejoin::Rejoin;
use rpc::{NoRequest, Node, NodeId, Outbox, ReqId, Rng, Ticks};
use std::collections::{BTreeMap, BTreeSet};

/// The outbox of a Paxos peer.
pub type PaxosOutbox = Outbox<Msg, NoRequest>;

/// Bytes counted for each instance's bookkeeping, besides its values, in
/// [`Peer::retained_bytes`]. An estimate of the map entry and its small fields.
const INSTANCE_OVERHEAD_BYTES: usize = 160;

/// Everything one peer knows about one instance.
#[derive(Clone, Debug, Default)]
pub(crate) struct Instance {
    pub(crate) acceptor: Acceptor,
    /// The chosen value, once this peer knows it. Never changes after that.
    pub(crate) decided: Option<Value>,
    /// Present from `start` until the peer learns the decision.
    pub(crate) proposer: Option<Proposer>,
}

/// A Paxos peer: the sans-IO core behind SPEC §5.1's `Make`.
#[derive(Debug)]
pub struct Peer {
    pub(crate) me: NodeId,
    pub(crate) peer_count: u32,
    pub(crate) rng: Rng,
    pub(crate) now: Ticks,
    pub(crate) instances: BTreeMap<Seq, Instance>,
    /// Every peer's `done` as known here, so `min()`, and the compaction points: nothing
    /// below `first_held()` is held.
    pub(crate) horizon: Horizon,
    /// The instances with an active proposer, so that a tick costs O(proposers), not
    /// O(instances held).
    pub(crate) proposing: BTreeSet<Seq>,
    /// The highest instance this peer has heard of; never goes down.
    max_seen: Option<Seq>,
    /// How many decisions this peer has learned since it started; a driver compares it before
    /// and after an input to learn cheaply that something was decided.
    decisions_learned: u64,
    /// The next instance `take_decided` hands out (see [`crate::drain`]). Only grows, and is
    /// never below the compaction point.
    pub(crate) delivered: Seq,
    /// The snapshot a peer that compacted past `delivered` said this one needs (see
    /// [`crate::compact`]); stale once `delivered` reaches its `upto`.
    pub(crate) snapshot_need: Option<SnapshotNeed>,
    /// The acceptor's promise for every instance at once (Multi-Paxos `PrepareAll`): the floor
    /// under each instance's own promise. Never goes down.
    pub(crate) floor: Option<Ballot>,
    /// Follower, candidate or leader, and what paces campaigns (see [`crate::leader`]).
    pub(crate) leadership: Leadership,
    /// This peer's incarnation and the one known for each other peer.
    pub(crate) incarnations: Incarnations,
    /// The write-ahead log of a durable peer ([`Peer::open`]); `None` keeps everything in
    /// memory (a restart then makes the peer amnesiac).
    pub(crate) journal: Option<Journal>,
    /// Set while a peer that started on an empty directory waits to be welcomed by every
    /// other peer; it does not vote meanwhile (see [`crate::join`]).
    pub(crate) joining: Option<Joining>,
    /// A rejoin after a lost disk, while it runs and after (see [`crate::rejoin`]).
    pub(crate) rejoin: Option<Rejoin>,
    /// When the last round of rejoin requests left.
    pub(crate) rejoin_sent_at: Option<Ticks>,
    /// This peer votes only in instances from here on: above every instance it may have voted
    /// in before it lost its disk (see [`crate::rejoin`]). 0 for a peer that never did.
    pub(crate) votes_from: Seq,
    /// How many times this peer was opened on its directory before this run (0 in memory and
    /// on a fresh directory); with the incarnation it names this run ([`Peer::boot`]).
    pub(crate) boots: u64,
}

impl Peer {
    /// Peer `me` of a cluster of `peer_count` peers. `seed` drives its random back-off.
    ///
    /// # Panics
    /// If `me` is not a member of the cluster.
    pub fn new(me: NodeId, peer_count: u32, seed: u64) -> Self {
        assert!(
            me.0 < peer_count,
            "peer {me} outside a cluster of {peer_count}"
        );
        let mut rng = Rng::new(seed ^ (u64::from(me.0) << 32));
        let incarnation = rng.next_u64();
        Peer {
            me,
            peer_count,
            rng,
            now: Ticks(0),
            instances: BTreeMap::new(),
            horizon: Horizon::new(me, peer_count),
            proposing: BTreeSet::new(),
            max_seen: None,
            decisions_learned: 0,
            delivered: Seq(0),
            snapshot_need: None,
            floor: None,
            leadership: Leadership::new(peer_count),
            incarnations: Incarnations::new(incarnation, peer_count),
            journal: None,
            joining: None,
            rejoin: None,
            rejoin_sent_at: None,
            votes_from: Seq(0),
            boots: 0,
        }
    }

    /// Replaces the incarnations with those read back from disk.
    pub(crate) fn restore_incarnations(&mut self, mine: u64, known: &[Option<u64>]) {
        assert_eq!(known.len(), self.peer_count as usize, "one entry per peer");
        self.incarnations = Incarnations::restore(mine, known);
    }

    /// True once another peer has told this one that it knew an earlier incarnation of it: this
    /// peer was restarted without the state of the one before (in memory, or on a lost disk),
    /// so the others ignore its messages, and it must not serve anything that depends on its
    /// votes. It still learns decisions others broadcast. A durable peer stops being amnesiac
    /// once it has rejoined ([`crate::rejoin`]).
    pub fn is_amnesiac(&self) -> bool {
        self.incarnations.is_amnesiac()
    }

    /// Names this run of this peer, different at every start: its incarnation (new after a
    /// lost disk) and how many times it was opened on its directory before (on disk, so
    /// durable before anything this run sends). An application keys what one run hands out
    /// with it, so that a log replayed after a restart does not answer the new run.
    pub fn boot(&self) -> (u64, u64) {
        (self.incarnations.mine(), self.boots)
    }

    /// This peer's id.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// Begins agreement on instance `seq` with proposal `value` and returns at once. Ignored when
    /// `seq < min()`, when this peer already knows the decision, or when it is already proposing;
    /// also below [`Peer::first_held`] and below any compaction point another peer reported
    /// (those instances are decided: see [`crate::compact`]).
    pub fn start(&mut self, seq: Seq, value: Value, out: &mut PaxosOutbox) {
        let mark = out.len();
        self.begin(seq, value, out);
        self.flush_journal(mark, out);
    }

    fn begin(&mut self, seq: Seq, value: Value, out: &mut PaxosOutbox) {
        if seq < self.horizon.first_proposable() || !self.votes_in(seq) {
            return;
        }
        self.note_seq(seq);
        let me = self.me;
        let instance = self.instances.entry(seq).or_default();
        if instance.decided.is_some() || instance.proposer.is_some() {
            return;
        }
        instance.proposer = Some(Proposer::new(me, value.clone()));
        self.proposing.insert(seq);
        match &self.leadership.role {
            Role::Leader { ballot, from } if seq >= *from => {
                let ballot = *ballot;
                self.accept_round(seq, ballot, value, out);
            }
            // The campaign will start phase 2 here once won; a classic round now would promise
            // this instance above the campaign's ballot and make our own campaign fail.
            Role::Candidate(_) => {}
            _ => self.begin_round(seq, out),
        }
    }

    /// What this peer knows of instance `seq`. Purely local: sends nothing. An instance below
    /// [`Peer::first_held`] (compacted here) is `Forgotten` too: its state is gone.
    pub fn status(&self, seq: Seq) -> (Fate, Option<Value>) {
        if seq < self.first_held() {
            return (Fate::Forgotten, None);
        }
        match self.instances.get(&seq).and_then(|i| i.decided.clone()) {
            Some(value) => (Fate::Decided, Some(value)),
            None => (Fate::Pending, None),
        }
    }

    /// The application no longer needs instances `<= seq`. Other peers learn it from the
    /// `done` field of this peer's next messages.
    pub fn done(&mut self, seq: Seq) {
        if self.horizon.done(seq) {
            self.drop_unheld();
        }
    }

    /// The highest instance this peer has started or heard of, or `None`. Never goes down.
    pub fn max(&self) -> Option<Seq> {
        self.max_seen
    }

    /// One more than the lowest `done` argument over all peers (a peer that never called `done`
    /// counts as -1), so 0 until every peer has called `done`. Instances below it are forgotten.
    pub fn min(&self) -> Seq {
        self.horizon.min()
    }

    /// The bytes this peer retains for instances: values plus a fixed estimate per instance.
    /// The memory bound of SPEC §5.3 TestForgetMem is checked on this figure.
    pub fn retained_bytes(&self) -> usize {
        self.instances
            .values()
            .map(|i| {
                INSTANCE_OVERHEAD_BYTES
                    + i.acceptor.retained_bytes()
                    + i.decided.as_ref().map_or(0, |v| v.len())
                    + i.proposer.as_ref().map_or(0, |p| p.retained_bytes())
            })
            .sum()
    }

    /// How many decisions this peer has learned since it started (never goes down).
    pub fn decisions_learned(&self) -> u64 {
        self.decisions_learned
    }

    /// The number of instances held in memory.
    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// Every decided instance this peer still holds, in order.
    pub fn decided(&self) -> impl Iterator<Item = (Seq, &Value)> {
        self.instances
            .iter()
            .filter_map(|(seq, i)| i.decided.as_ref().map(|v| (*seq, v)))
    }

    pub(crate) fn majority(&self) -> usize {
        self.peer_count as usize / 2 + 1
    }

    /// Raises the promise made for every instance (a granted `PrepareAll`, or a heartbeat of
    /// a leader whose ballot is at least the floor).
    pub(crate) fn raise_floor(&mut self, ballot: Ballot) {
        assert!(
            self.floor.is_none_or(|f| f <= ballot),
            "the floor {:?} never goes down (to {ballot})",
            self.floor
        );
        if self.floor != Some(ballot) {
            journal::note(&mut self.journal, Record::Floor(ballot));
        }
        self.floor = Some(ballot);
    }

    pub(crate) fn note_seq(&mut self, seq: Seq) {
        if self.max_seen.is_none_or(|m| seq > m) {
            self.max_seen = Some(seq);
        }
    }

    /// Drops every instance below [`Peer::first_held`] (SPEC §5.1: instances below `min()`
    /// must be deleted from memory; below the compaction point the application has them in a
    /// snapshot).
    pub(crate) fn drop_unheld(&mut self) {
        let first = self.first_held();
        if self
            .instances
            .first_key_value()
            .is_some_and(|(seq, _)| *seq < first)
        {
            self.instances = self.instances.split_off(&first);
            self.proposing = self.proposing.split_off(&first);
        }
        assert!(
            self.instances
                .first_key_value()
                .is_none_or(|(s, _)| *s >= first),
            "an instance below {first} is still held"
        );
        assert!(
            self.proposing.first().is_none_or(|s| *s >= first),
            "a proposer below {first} is still active"
        );
    }

    pub(crate) fn envelope(&self, body: Body) -> Msg {
        Msg {
            incarnation: self.incarnations.mine(),
            done: self.horizon.own_done(),
            min: self.min(),
            body,
        }
    }

    pub(crate) fn broadcast(&self, body: Body, out: &mut PaxosOutbox) {
        for peer in (0..self.peer_count).map(NodeId).filter(|p| *p != self.me) {
            out.send(peer, self.envelope(body.clone()));
        }
    }

    /// Starts a new round of the proposer of `seq`: prepares locally by function call (SPEC §5.2)
    /// and at every other peer by message.
    fn begin_round(&mut self, seq: Seq, out: &mut PaxosOutbox) {
        let (me, now, majority) = (self.me, self.now, self.majority());
        let Some(instance) = self.instances.get_mut(&seq) else {
            return;
        };
        let Some(proposer) = instance.proposer.as_mut() else {
            return;
        };
        let floor = self.floor;
        let promised = instance.acceptor.promised().max(floor);
        let ballot = proposer.begin_round(now, promised);
        self.leadership.note_round(ballot.round);
        let vote = instance.acceptor.on_prepare(ballot, floor);
        journal::note_vote(&mut self.journal, seq, ballot, None, &vote);
        let Vote::Promise(accepted) = vote else {
            unreachable!("our acceptor refused ballot {ballot} chosen above its own promise");
        };
        let progress = proposer.on_promise(me, ballot, accepted, majority);
        self.broadcast(Body::Prepare { seq, ballot }, out);
        self.advance(seq, ballot, progress, out);
    }

    /// Acts on a proposer's progress: phase 2 after a majority of promises, decision after a
    /// majority of acceptances.
    fn advance(&mut self, seq: Seq, ballot: Ballot, progress: Progress, out: &mut PaxosOutbox) {
        match progress {
            Progress::Waiting => {}
            Progress::Propose(value) => self.accept_round(seq, ballot, value, out),
            Progress::Chosen(value) => {
                self.learn(seq, value.clone());
                if matches!(self.leadership.role, Role::Leader { ballot: led, .. } if led == ballot)
                {
                    // Every acceptor that accepted at this ballot holds the value already.
                    self.broadcast(Body::Commit { seq, ballot }, out);
                } else {
                    self.broadcast(Body::Decided { seq, value }, out);
                }
            }
        }
    }

    /// Phase 2 of the proposer of `seq` at `ballot`: accepts locally by function call and asks
    /// every other peer by message. A local refusal (a classic proposer promised this instance
    /// higher) sends the proposer back to phase 1 after a back-off.
    pub(crate) fn accept_round(
        &mut self,
        seq: Seq,
        ballot: Ballot,
        value: Value,
        out: &mut PaxosOutbox,
    ) {
        let (me, now, majority, floor) = (self.me, self.now, self.majority(), self.floor);
        let Some(instance) = self.instances.get_mut(&seq) else {
            return;
        };
        let Some(proposer) = instance.proposer.as_mut() else {
            return;
        };
        if proposer.accepting().is_none_or(|(b, _)| b != ballot) {
            proposer.begin_accepting(now, ballot, value.clone());
        }
        let vote = instance.acceptor.on_accept(ballot, &value, floor);
        journal::note_vote(&mut self.journal, seq, ballot, Some(&value), &vote);
        let local = match vote {
            Vote::Accepted => proposer.on_accepted(me, ballot, majority),
            Vote::Reject(promised) => {
                proposer.on_reject(ballot, promised, now, &mut self.rng);
                return;
            }
            Vote::Promise(_) => unreachable!("an accept is never answered with Promise"),
        };
        self.broadcast(Body::Accept { seq, ballot, value }, out);
        self.advance(seq, ballot, local, out);
    }

    /// Records the decision of `seq`. The acceptor and proposer are no longer needed: Prepares and
    /// Accepts for a decided instance are answered with the decision itself.
    ///
    /// # Panics
    /// If a different value was already decided: that would break Paxos' one safety property.
    pub(crate) fn learn(&mut self, seq: Seq, value: Value) {
        if seq < self.first_held() {
            return;
        }
        self.note_seq(seq);
        let instance = self.instances.entry(seq).or_default();
        if let Some(known) = &instance.decided {
            assert_eq!(
                known, &value,
                "instance {seq} decided twice with different values"
            );
            return;
        }
        let own_vote = instance
            .acceptor
            .accepted()
            .is_some_and(|(_, accepted)| *accepted == value);
        let record = if own_vote {
            Record::Committed { seq }
        } else {
            Record::Decided {
                seq,
                value: value.clone(),
            }
        };
        journal::note(&mut self.journal, record);
        instance.decided = Some(value);
        instance.proposer = None;
        instance.acceptor = Acceptor::default();
        self.proposing.remove(&seq);
        self.decisions_learned += 1;
    }

    /// A decision from a peer. If this peer was still proposing, it passes the decision on to
    /// everybody, as its own proposer would have after winning: the peer that told it may have
    /// been an acceptor answering a Prepare, and peers that never started the instance (SPEC §5.3
    /// TestPartition's peer 4) learn only from a proposer.
    fn on_decided(&mut self, seq: Seq, value: Value, out: &mut PaxosOutbox) {
        let was_proposing = self
            .instances
            .get(&seq)
            .is_some_and(|i| i.proposer.is_some());
        self.learn(seq, value.clone());
        if was_proposing && seq >= self.first_held() {
            self.broadcast(Body::Decided { seq, value }, out);
        }
    }

    /// Whether a message from `from` with `incarnation` counts (see [`crate::incarnation`]): a
    /// message of another incarnation than the first heard is from a restarted peer that lost
    /// its promises and votes: it is ignored, and the peer is told (once per tick).
    fn admit_incarnation(
        &mut self,
        from: NodeId,
        incarnation: u64,
        body: &Body,
        out: &mut PaxosOutbox,
    ) -> bool {
        let is_notice = matches!(body, Body::Restarted { .. });
        let known = self.incarnations.known_of(from);
        if self.is_joining() && known.is_some_and(|k| k != incarnation) && !is_notice {
            // A joining peer never voted nor counted a vote (crate::join), so nothing it
            // holds depends on the incarnation it knew: a peer that restarted (even without
            // its disk) before the cluster formed is simply new. Refusing it would leave a
            // cluster that never formed waiting forever for a peer with state.
            self.incarnations.adopt(from, incarnation);
            self.identity_changed();
        }
        if known.is_none() {
            // Kept from now on, on disk too: after a restart this peer must still tell the
            // incarnation it heard from one that restarted without its disk.
            self.identity_changed();
        }
        let Admission::Ignore {
            known,
            first,
            notify,
        } = self
            .incarnations
            .admit(from, incarnation, self.now, is_notice)
        else {
            return true;
        };
        if first {
            tracing::error!(
                peer = %self.me, %from,
                "peer restarted without its state (no disk): its messages are ignored"
            );
        }
        if notify {
            out.respond(from, self.envelope(Body::Restarted { known }));
        }
        false
    }

    /// Acceptor side: answer a Prepare or an Accept from `from`.
    fn on_ballot(&mut self, from: NodeId, body: Body, out: &mut PaxosOutbox) {
        let seq = body
            .seq()
            .expect("prepares, accepts and votes name their instance");
        // Never a vote below min() or the compaction point (crate::compact, rule 1).
        if let Some(reply) = self.unheld_answer(seq) {
            out.respond(from, self.envelope(reply));
            return;
        }
        let instance = self.instances.entry(seq).or_default();
        if let Some(value) = &instance.decided {
            let reply = Body::Decided {
                seq,
                value: value.clone(),
            };
            out.respond(from, self.envelope(reply));
            return;
        }
        let reply = match body {
            Body::Prepare { ballot, .. } => {
                let vote = instance.acceptor.on_prepare(ballot, self.floor);
                journal::note_vote(&mut self.journal, seq, ballot, None, &vote);
                match vote {
                    Vote::Promise(accepted) => Body::Promise {
                        seq,
                        ballot,
                        accepted,
                    },
                    Vote::Reject(promised) => Body::Reject {
                        seq,
                        ballot,
                        promised,
                    },
                    Vote::Accepted => unreachable!("a prepare is never answered with Accepted"),
                }
            }
            Body::Accept { ballot, value, .. } => {
                let vote = instance.acceptor.on_accept(ballot, &value, self.floor);
                journal::note_vote(&mut self.journal, seq, ballot, Some(&value), &vote);
                match vote {
                    Vote::Accepted => Body::Accepted { seq, ballot },
                    Vote::Reject(promised) => Body::Reject {
                        seq,
                        ballot,
                        promised,
                    },
                    Vote::Promise(_) => unreachable!("an accept is never answered with Promise"),
                }
            }
            other => unreachable!("on_ballot called with {other:?}"),
        };
        out.respond(from, self.envelope(reply));
    }

    /// Proposer side: count a vote from `from` for the proposer of its instance, if any.
    fn on_vote(&mut self, from: NodeId, body: Body, out: &mut PaxosOutbox) {
        let (now, majority) = (self.now, self.majority());
        let seq = body
            .seq()
            .expect("prepares, accepts and votes name their instance");
        let Some(proposer) = self
            .instances
            .get_mut(&seq)
            .and_then(|i| i.proposer.as_mut())
        else {
            return; // Decided or forgotten meanwhile: a late vote.
        };
        let (ballot, progress) = match body {
            Body::Promise {
                ballot, accepted, ..
            } => (
                ballot,
                proposer.on_promise(from, ballot, accepted, majority),
            ),
            Body::Accepted { ballot, .. } => (ballot, proposer.on_accepted(from, ballot, majority)),
            Body::Reject {
                ballot, promised, ..
            } => {
                // A leader does not step down here: a classic proposer may have outbid it on this
                // instance alone. A higher leader shows itself through heartbeats and refusals.
                proposer.on_reject(ballot, promised, now, &mut self.rng);
                return;
            }
            other => unreachable!("on_vote called with {other:?}"),
        };
        self.advance(seq, ballot, progress, out);
    }
}

impl Node for Peer {
    type Msg = Msg;
    type Req = NoRequest;
    type Resp = NoRequest;

    fn on_message(&mut self, from: NodeId, msg: Msg, out: &mut PaxosOutbox) {
        let mark = out.len();
        self.handle_message(from, msg, out);
        self.flush_journal(mark, out);
    }

    fn on_request(&mut self, _req: ReqId, body: NoRequest, _out: &mut PaxosOutbox) {
        match body {}
    }

    fn on_tick(&mut self, out: &mut PaxosOutbox) {
        let mark = out.len();
        self.tick(out);
        self.flush_journal(mark, out);
    }
}

impl Peer {
    fn handle_message(&mut self, from: NodeId, msg: Msg, out: &mut PaxosOutbox) {
        if from.0 >= self.peer_count || from == self.me {
            tracing::warn!(%from, "message from outside the cluster ignored");
            return;
        }
        // A peer that lost its disk asks before the others know its new incarnation.
        match msg.body {
            Body::RejoinAsk => return self.on_rejoin_ask(from, out),
            Body::RejoinFence { ballot } => {
                return self.on_rejoin_fence(from, msg.incarnation, ballot, out);
            }
            _ => {}
        }
        if !self.admit_incarnation(from, msg.incarnation, &msg.body, out) {
            return;
        }
        if self.horizon.on_report(from, msg.done, msg.min) {
            self.drop_unheld();
        }
        if let Some(seq) = msg.body.seq() {
            self.note_seq(seq);
        }
        self.note_ballots(&msg.body);
        match msg.body {
            // No vote where this peer may not (crate::join, crate::rejoin): no answer, as if
            // the message was lost.
            Body::Prepare { seq, .. } | Body::Accept { seq, .. } if !self.votes_in(seq) => {}
            Body::PrepareAll { from: first, .. } if !self.votes_in(first) => {}
            body @ (Body::Prepare { .. } | Body::Accept { .. }) => self.on_ballot(from, body, out),
            body @ (Body::Promise { .. } | Body::Accepted { .. } | Body::Reject { .. }) => {
                self.on_vote(from, body, out)
            }
            Body::Decided { seq, value } => self.on_decided(seq, value, out),
            // The envelope's `min` has already made this peer forget the instance.
            Body::Forgotten { .. } => {}
            Body::Compacted { seq, below } => self.on_compacted(from, seq, below),
            Body::Commit { seq, ballot } => self.on_commit(from, seq, ballot, out),
            Body::Learn { seq } => self.on_learn(from, seq, out),
            Body::PrepareAll {
                from: first,
                ballot,
            } => self.on_prepare_all(from, first, ballot, out),
            Body::PromiseAll {
                from: first,
                compacted,
                ballot,
                accepted,
                decided,
                upto,
            } => {
                let report = Report {
                    accepted,
                    decided,
                    upto,
                    compacted,
                };
                self.on_promise_all(from, first, ballot, report, out)
            }
            Body::Refused { ballot, promised } => self.on_refusal(from, ballot, promised),
            Body::Restarted { known } => {
                if self.on_restarted(from, known, out) {
                    self.identity_changed();
                    tracing::error!(
                        peer = %self.me, %from,
                        "this peer restarted without its Paxos state: the others ignore it"
                    );
                }
            }
            Body::Heartbeat { ballot, .. } => self.on_heartbeat(from, ballot, out),
            Body::Hello => self.on_hello(from, out),
            Body::Welcome => self.on_welcome(from),
            Body::RejoinRound { round } => self.on_rejoin_round(from, round),
            Body::Fenced { ballot, max } => self.on_fenced(from, ballot, max),
            Body::RejoinAsk | Body::RejoinFence { .. } => {
                unreachable!("handled before the incarnation check")
            }
            Body::Follow { ballot } => self.on_follow(from, ballot),
        }
    }

    fn tick(&mut self, out: &mut PaxosOutbox) {
        self.now = Ticks(self.now.0 + 1);
        let now = self.now;
        self.tick_join(out);
        self.tick_rejoin(out);
        self.tick_role(out);
        let due: Vec<Seq> = self
            .proposing
            .iter()
            .copied()
            .filter(|seq| {
                let proposer = self.instances.get(seq).and_then(|i| i.proposer.as_ref());
                proposer.is_some_and(|p| p.is_due(now))
            })
            .collect();
        for seq in due {
            if !self.resend_accept(seq, out) {
                self.begin_round(seq, out);
            }
        }
    }
}
