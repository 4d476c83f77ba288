//! The replica: a Paxos peer, the state machine it feeds, and everything between them.
//! Sans-IO: messages, requests and ticks in; effects out.
//!
//! The work is cut in three files by concept:
//! - [`route`](self::route): getting a request into the log: the leader's queue, batching and
//!   window, forwarding from followers, re-routing when the leader changes, holes.
//! - [`apply`](self::apply): applying decided slots in order, sessions, answering clients,
//!   taking snapshots.
//! - [`catch_up`](self::catch_up): pulling and installing a peer's snapshot when the log this
//!   replica needs is gone.

mod apply;
mod catch_up;
mod durable;
mod route;

pub use durable::{OpenError, SNAPSHOT_FILE};

use crate::config::{Config, ConfigError};
use crate::machine::StateMachine;
use crate::msg::{Msg, Proposal, Request, Response, RsmError};
use crate::session::{Lookup, Sessions};
use crate::snapshot::{Held, Transfer};
use crate::waiting::{Attempts, Sent, WaitKey, Waiter, Waiting};
use paxos::{PaxosOutbox, Peer, Seq};
use rpc::{Node, NodeId, NodeOutbox, ReqId, Ticks};
use std::collections::{BTreeMap, VecDeque};

/// The outbox of a replica.
pub type ReplicaOutbox<S> = NodeOutbox<Replica<S>>;

/// Counters a replica keeps about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Snapshots taken here.
    pub snapshots_taken: u64,
    /// Snapshots installed from a peer.
    pub snapshots_installed: u64,
    /// Decided values that were not entries, applied as no-ops.
    pub undecodable_entries: u64,
}

/// A replica of state machine `S` (see the crate docs).
#[derive(Debug)]
pub struct Replica<S: StateMachine> {
    config: Config,
    peer: Peer,
    /// Replicas in the cluster (node ids `0..peer_count`).
    peer_count: u32,
    machine: S,
    sessions: Sessions<S::Output>,
    /// The next slot to apply; every slot below it is applied (or in the installed snapshot).
    next_apply: Seq,
    /// Client requests held until their proposal is applied.
    waiting: Waiting<S::Command>,
    /// Proposals to put in the log while this replica leads, oldest first.
    queue: VecDeque<Proposal<S::Command>>,
    /// The leader's entries in flight: slot -> the batch proposed there. Every key is at or
    /// above `next_apply`.
    in_flight: BTreeMap<Seq, Vec<Proposal<S::Command>>>,
    /// Some waiting request may have gone nowhere yet (no leader was known): route it as soon
    /// as a leader is.
    unrouted: bool,
    /// Ticks since start.
    now: Ticks,
    /// Ticks `next_apply` has stayed undecided while a higher slot is known.
    stalled_ticks: u64,
    /// Entries applied since start (no-ops included, snapshots not).
    applied_count: u64,
    /// This replica cannot serve: it restarted without its state (its Paxos peer is
    /// amnesiac). It answers every request [`RsmError::Unavailable`] and takes no part in
    /// leading, but still learns the log, as a non-voting learner, until its peer rejoins
    /// (durable replicas only: [`paxos::rejoin`]).
    unavailable: bool,
    /// The number the next registration waiting here gets.
    next_waiter: u64,
    /// The latest snapshot, which this replica serves to peers that need it.
    snapshot: Option<Held>,
    /// Slots and entry bytes applied since the latest snapshot.
    since_snapshot: (u64, u64),
    /// A snapshot being pulled from a peer.
    transfer: Option<Transfer>,
    /// When this replica last took a snapshot because a peer asked for one.
    on_demand_at: Option<Ticks>,
    stats: Stats,
}

impl<S: StateMachine + Default> Replica<S> {
    /// Replica `me` of a cluster of `peer_count` replicas (node ids `0..peer_count`), with the
    /// default [`Config`]. `seed` drives its Paxos back-off.
    pub fn new(me: NodeId, peer_count: u32, seed: u64) -> Self {
        Self::with_config(me, peer_count, seed, Config::default())
            .expect("the default config is valid")
    }

    /// [`Replica::new`] with `config`.
    ///
    /// # Errors
    /// If `config` does not validate.
    pub fn with_config(
        me: NodeId,
        peer_count: u32,
        seed: u64,
        config: Config,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::build(
            Peer::new(me, peer_count, seed),
            peer_count,
            config,
        ))
    }

    /// A replica around `peer`, with nothing applied yet.
    fn build(peer: Peer, peer_count: u32, config: Config) -> Self {
        Replica {
            peer,
            peer_count,
            machine: S::default(),
            sessions: Sessions::new(config.sessions_max),
            next_apply: Seq(0),
            waiting: Waiting::new(config.waiting_max),
            queue: VecDeque::new(),
            in_flight: BTreeMap::new(),
            unrouted: false,
            now: Ticks(0),
            stalled_ticks: 0,
            applied_count: 0,
            unavailable: false,
            next_waiter: 0,
            snapshot: None,
            since_snapshot: (0, 0),
            transfer: None,
            on_demand_at: None,
            stats: Stats::default(),
            config,
        }
    }
}

impl<S: StateMachine> Replica<S> {
    /// The state machine as applied here.
    pub fn state(&self) -> &S {
        &self.machine
    }

    /// The session table as applied here.
    pub fn sessions(&self) -> &Sessions<S::Output> {
        &self.sessions
    }

    /// The next slot to apply (every slot below it is applied).
    pub fn next_apply(&self) -> Seq {
        self.next_apply
    }

    /// Log entries applied since start, no-ops included.
    pub fn applied_count(&self) -> u64 {
        self.applied_count
    }

    /// The embedded Paxos peer.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// The tunables.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Requests waiting for their proposal to be applied.
    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    /// Proposals queued at this replica while it leads.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// True if this replica cannot serve (see [`RsmError::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// The slot of the latest snapshot held (every slot below it is in it), if any.
    pub fn snapshot_slot(&self) -> Option<Seq> {
        self.snapshot.as_ref().map(|h| h.slot)
    }

    /// The bytes of the latest snapshot held, 0 if none.
    pub fn snapshot_bytes(&self) -> usize {
        self.snapshot.as_ref().map_or(0, |h| h.bytes.len())
    }

    /// Counters about this replica.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// This replica's progress in one line, for logs and failure messages.
    pub fn describe(&self) -> String {
        format!(
            "applied to {}, max {:?}, leader {:?}, waiting {}, snapshot {:?}, {:?}{}",
            self.next_apply,
            self.peer.max(),
            self.peer.leader(),
            self.waiting.len(),
            self.snapshot_slot(),
            self.stats,
            if self.unavailable {
                ", unavailable"
            } else {
                ""
            }
        )
    }

    /// The bytes this replica retains: the Paxos instances it holds, the state machine, the
    /// sessions, the requests it holds, its snapshot and any snapshot being received
    /// (SPEC §12: measured by the node itself).
    pub fn retained_bytes(&self) -> usize {
        let held: usize = self
            .waiting
            .proposals()
            .chain(self.queue.iter())
            .chain(self.in_flight.values().flatten())
            .map(proposal_bytes::<S>)
            .sum();
        let snapshot = self.snapshot_bytes();
        let transfer = self.transfer.as_ref().map_or(0, Transfer::buffered);
        self.peer.retained_bytes()
            + self.machine.retained_bytes()
            + self.sessions.retained_bytes(S::output_bytes)
            + held
            + snapshot
            + transfer
    }

    /// Runs a Paxos step and carries its messages out as [`Msg::Paxos`].
    fn paxos(
        &mut self,
        out: &mut ReplicaOutbox<S>,
        step: impl FnOnce(&mut Peer, &mut PaxosOutbox),
    ) {
        let mut inner = PaxosOutbox::new();
        step(&mut self.peer, &mut inner);
        out.absorb(&mut inner, Msg::Paxos);
    }

    /// Stops serving: answers every waiting request [`RsmError::Unavailable`]. The replica goes
    /// on learning the log; a durable one serves again once it has rejoined.
    fn become_unavailable(&mut self, why: &str, out: &mut ReplicaOutbox<S>) {
        if !self.unavailable {
            tracing::error!(peer = %self.peer.id(), "replica unavailable: {why}");
        }
        self.unavailable = true;
        self.queue.clear();
        self.in_flight.clear();
        for (key, waiter) in self.waiting.drain() {
            for id in waiter.ids {
                out.reply(id, refusal(key, RsmError::Unavailable));
            }
        }
    }

    /// After every input: applies every decided slot, starts a snapshot transfer if the log
    /// this replica needs is gone, then moves queued requests on: into the log if this
    /// replica leads, to the leader if another one does, or starts a campaign if nobody does.
    /// A decision can arrive with any message, so nothing waits for a timer.
    fn advance(&mut self, out: &mut ReplicaOutbox<S>) {
        if self.peer.is_amnesiac() {
            self.become_unavailable("restarted without its Paxos state (no disk)", out);
        } else if self.unavailable {
            // It rejoined after a lost disk (paxos::rejoin): it answers from the log again.
            tracing::info!(peer = %self.peer.id(), "replica rejoined: serving again");
            self.unavailable = false;
        }
        self.apply_decided(out);
        self.catch_up(out);
        if self.unavailable {
            return;
        }
        if self.peer.leader().is_none() {
            self.paxos(out, |peer, o| peer.lead(o));
        }
        if self.peer.is_leading() {
            self.propose_queued(out);
            // A one-replica cluster decides at once.
            self.apply_decided(out);
        } else if !self.queue.is_empty() {
            // Only a leader proposes: what it had queued goes to the new leader instead.
            self.queue.clear();
            for (_, waiter) in self.waiting.iter_mut() {
                if waiter.sent == Sent::Queued {
                    waiter.sent = Sent::Nowhere;
                    self.unrouted = true;
                }
            }
        }
        if self.unrouted && self.peer.leader().is_some() {
            self.reroute_waiting(out);
            if self.peer.is_leading() {
                self.propose_queued(out);
                self.apply_decided(out);
            }
        }
        self.assert_invariants();
    }

    /// What must hold between inputs.
    fn assert_invariants(&self) {
        assert!(
            self.in_flight
                .first_key_value()
                .is_none_or(|(slot, _)| *slot >= self.next_apply),
            "in-flight slots stay at or above next_apply"
        );
        assert!(self.in_flight.len() <= self.config.window, "window bound");
        assert!(self.queue.len() <= self.config.queue_max, "queue bound");
        assert!(
            self.waiting.len() <= self.config.waiting_max,
            "waiting bound"
        );
        assert!(
            self.peer.delivered() >= self.next_apply,
            "the peer hands out each slot once"
        );
    }

    /// A client request: answered now if the session table already knows the answer,
    /// otherwise held until its proposal is applied.
    fn on_client_request(
        &mut self,
        id: ReqId,
        req: Request<S::Command>,
        out: &mut ReplicaOutbox<S>,
    ) {
        let (key, proposal) = match req {
            Request::Register => {
                if self.unavailable {
                    out.reply(id, refusal(WaitKey::Register(0), RsmError::Unavailable));
                    return;
                }
                let waiter = self.next_waiter;
                self.next_waiter += 1;
                let (origin, boot) = (self.peer.id(), self.peer.boot());
                (
                    WaitKey::Register(waiter),
                    Proposal::Register {
                        origin,
                        boot,
                        waiter,
                    },
                )
            }
            Request::Command { session, seq, cmd } => {
                let key = WaitKey::Command { session, seq };
                if self.unavailable {
                    out.reply(id, refusal(key, RsmError::Unavailable));
                    return;
                }
                match self.sessions.lookup(session, seq) {
                    Lookup::Repeat(output) => {
                        let repeat = Ok(Some(output.clone()));
                        apply::answer(out, key, Attempts::new(id), &repeat);
                        return;
                    }
                    // The client has moved on; this is a late copy of an old attempt.
                    Lookup::Stale => return,
                    Lookup::Unknown if self.sessions.was_issued(session) => {
                        out.reply(id, refusal(key, RsmError::SessionExpired));
                        return;
                    }
                    // Fresh, or a session registered in a slot not applied here yet.
                    Lookup::Unknown | Lookup::Fresh => {}
                }
                // A retry of a request held here: one entry, answered to every attempt.
                if self.waiting.join(key, id) {
                    return;
                }
                // One command outstanding per session: a higher seq means the client gave up
                // on the older ones. (Any still queued stay: applied, they are stale no-ops,
                // and filtering the queue here cost a scan of it per request.)
                self.waiting.drop_older(session, seq);
                (key, Proposal::Command { session, seq, cmd })
            }
        };
        if self.waiting.is_full() {
            out.reply(id, refusal(key, RsmError::Busy));
            return;
        }
        let Some(sent) = self.route(&proposal, out) else {
            // This replica leads and its queue is full.
            out.reply(id, refusal(key, RsmError::Busy));
            return;
        };
        self.unrouted |= sent == Sent::Nowhere;
        let waiter = Waiter {
            ids: Attempts::new(id),
            proposal,
            sent,
        };
        self.waiting.insert(key, waiter);
        self.advance(out);
    }
}

/// The refusal of the request `key` names.
fn refusal<O>(key: WaitKey, error: RsmError) -> Response<O> {
    let command = match key {
        WaitKey::Register(_) => None,
        WaitKey::Command { session, seq } => Some((session, seq)),
    };
    Response::Refused { command, error }
}

/// The bytes a proposal takes in an entry (and in memory while held).
fn proposal_bytes<S: StateMachine>(p: &Proposal<S::Command>) -> usize {
    let payload = match p {
        Proposal::Register { .. } => 0,
        Proposal::Command { cmd, .. } | Proposal::Internal { cmd } => S::command_bytes(cmd),
    };
    payload + std::mem::size_of::<Proposal<S::Command>>()
}

impl<S: StateMachine> Node for Replica<S> {
    type Msg = Msg<S::Command>;
    type Req = Request<S::Command>;
    type Resp = Response<S::Output>;

    fn on_message(&mut self, from: NodeId, msg: Self::Msg, out: &mut ReplicaOutbox<S>) {
        match msg {
            Msg::Paxos(msg) => {
                self.paxos(out, |peer, o| peer.on_message(from, msg, o));
                self.advance(out);
            }
            Msg::Forward(proposals) => self.on_forward(proposals, out),
            Msg::FetchSnapshot { have, slot, offset } => {
                self.on_fetch_snapshot(from, have, slot, offset, out);
            }
            Msg::SnapshotChunk {
                slot,
                total,
                offset,
                data,
            } => {
                self.on_snapshot_chunk(from, slot, total, offset, &data, out);
                self.advance(out);
            }
        }
    }

    fn on_request(&mut self, id: ReqId, req: Self::Req, out: &mut ReplicaOutbox<S>) {
        self.on_client_request(id, req, out);
    }

    fn on_tick(&mut self, out: &mut ReplicaOutbox<S>) {
        self.now = Ticks(self.now.0 + 1);
        self.paxos(out, |peer, o| peer.on_tick(o));
        self.fill_hole(out);
        self.tick_transfer(out);
        self.advance(out);
        self.reroute_waiting(out);
        self.advance(out);
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod prop_tests;
