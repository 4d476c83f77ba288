//! The replica (was `kvpaxos/server.go`): a Paxos peer plus the state machine it feeds. Sans-IO.
//!
//! A clerk's request becomes a log entry proposed at the lowest slot this replica has not
//! applied; the replica applies decided slots in order and answers a request only once its
//! entry (or an earlier copy of it) has been applied here.

use crate::msg::{Entry, KvError, Msg, Request, Response};
use crate::state::{Applied, KvState};
use paxos::{Fate, PaxosOutbox, Peer, Seq};
use rpc::{Node, NodeId, NodeOutbox, Outbox, ReqId};
use std::collections::VecDeque;

/// The most client requests a replica holds while their entries are not yet applied. Beyond
/// it, a request is refused with [`KvError::Busy`] (STYLE §2.8: every queue has a limit). A
/// clerk has one operation outstanding, so this is far above what the tests' clerks need.
pub const WAITING_MAX: usize = 1024;

/// Ticks the slot after the last applied one may stay undecided, while this replica knows of
/// higher slots, before it proposes a no-op there to learn it (SPEC §6.2 holes). Three: one
/// Paxos round trip plus a message delayed by a tick, so a slot another replica is deciding
/// right now is rarely disturbed.
pub const HOLE_TICKS: u64 = 3;

/// The outbox of a replica.
pub type ReplicaOutbox = NodeOutbox<Replica>;

/// A kvpaxos server core: a [`paxos::Peer`] whose messages travel as [`Msg::Paxos`].
#[derive(Debug)]
pub struct Replica {
    peer: Peer,
    state: KvState,
    /// The next slot to apply; every slot below it is applied and passed to `done`.
    next_apply: Seq,
    /// Requests that wait for their entry to be applied, with the id to answer.
    waiting: Vec<(ReqId, Request)>,
    /// Requests not yet proposed, oldest first; each also waits in `waiting`.
    queue: VecDeque<Request>,
    /// The entry this replica is proposing and its slot (always `next_apply` when it started).
    proposal: Option<(Seq, Entry)>,
    /// Ticks `next_apply` has stayed undecided while a higher slot is known.
    stalled_ticks: u64,
    /// Entries applied since start (no-ops included).
    applied_count: u64,
}

impl Replica {
    /// Replica `me` of a cluster of `peer_count` replicas (node ids `0..peer_count`). `seed`
    /// drives its Paxos back-off.
    pub fn new(me: NodeId, peer_count: u32, seed: u64) -> Self {
        Replica {
            peer: Peer::new(me, peer_count, seed),
            state: KvState::default(),
            next_apply: Seq(0),
            waiting: Vec::new(),
            queue: VecDeque::new(),
            proposal: None,
            stalled_ticks: 0,
            applied_count: 0,
        }
    }

    /// The replicated state as applied here.
    pub fn state(&self) -> &KvState {
        &self.state
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

    /// Requests waiting for their entry to be applied.
    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    /// The bytes this replica retains: the Paxos instances it still holds, the state (data and
    /// dedup table), and the requests it holds (SPEC §12: measured by the node itself).
    pub fn retained_bytes(&self) -> usize {
        let held: usize = self
            .waiting
            .iter()
            .map(|(_, r)| r)
            .chain(self.queue.iter())
            .map(request_bytes)
            .sum();
        self.peer.retained_bytes() + self.state.retained_bytes() + held
    }

    /// Applies every decided slot from `next_apply` on, then proposes the oldest queued
    /// request if nothing is being proposed. Called after every input: a decision can arrive
    /// with any message, so nothing waits for a timer.
    fn advance(&mut self, out: &mut ReplicaOutbox) {
        self.apply_decided(out);
        if self.propose_next(out) {
            self.apply_decided(out);
        }
    }

    fn apply_decided(&mut self, out: &mut ReplicaOutbox) {
        loop {
            let (fate, value) = self.peer.status(self.next_apply);
            assert_ne!(
                fate,
                Fate::Forgotten,
                "slot {} forgotten before this replica applied it",
                self.next_apply
            );
            let Some(value) = value else { return };
            let entry = Entry::decode(&value);
            if let Entry::Op(req) = &entry {
                self.state.apply(req);
                self.answer_waiting(req.client, out);
            }
            if let Some((slot, mine)) = self.proposal.take_if(|(s, _)| *s == self.next_apply) {
                assert_eq!(slot, self.next_apply);
                // Another replica's entry won the slot: propose ours again, higher.
                if mine != entry
                    && let Entry::Op(req) = mine
                {
                    self.queue.push_front(req);
                }
            }
            self.peer.done(self.next_apply);
            self.next_apply = Seq(self.next_apply.0 + 1);
            self.applied_count += 1;
            self.stalled_ticks = 0;
        }
    }

    /// Answers every waiting request of `client` that the state now has an answer for.
    fn answer_waiting(&mut self, client: u64, out: &mut ReplicaOutbox) {
        let state = &self.state;
        self.waiting.retain(|(id, req)| {
            if req.client != client {
                return true;
            }
            match state.cached(req) {
                None => true,
                Some(Applied::Stale) => false,
                Some(Applied::Result(value)) => {
                    out.reply(
                        *id,
                        Response {
                            client,
                            seq: req.seq,
                            result: Ok(value),
                        },
                    );
                    false
                }
            }
        });
    }

    /// Starts Paxos on the oldest queued request not yet applied, at `next_apply`. Returns
    /// whether it started one.
    fn propose_next(&mut self, out: &mut ReplicaOutbox) -> bool {
        if self.proposal.is_some() {
            return false;
        }
        while let Some(req) = self.queue.pop_front() {
            if self.state.cached(&req).is_some() {
                continue;
            }
            self.start(Entry::Op(req), out);
            return true;
        }
        false
    }

    fn start(&mut self, entry: Entry, out: &mut ReplicaOutbox) {
        let slot = self.next_apply;
        let mut inner = PaxosOutbox::new();
        self.peer.start(slot, entry.encode(), &mut inner);
        out.absorb(&mut inner, Msg::Paxos);
        tracing::debug!(%slot, ?entry, "propose");
        self.proposal = Some((slot, entry));
    }

    /// A hole: `next_apply` is undecided here while a higher slot is known. After
    /// [`HOLE_TICKS`], propose a no-op there; Paxos decides whatever value the slot already
    /// had, if any, so this only learns it (SPEC §6.2).
    fn fill_hole(&mut self, out: &mut ReplicaOutbox) {
        let behind = self.peer.max().is_some_and(|max| max > self.next_apply);
        if self.proposal.is_some() || !behind {
            self.stalled_ticks = 0;
            return;
        }
        self.stalled_ticks += 1;
        if self.stalled_ticks >= HOLE_TICKS {
            self.stalled_ticks = 0;
            self.start(Entry::Noop, out);
        }
    }
}

fn request_bytes(req: &Request) -> usize {
    use crate::msg::Op;
    let payload = match &req.op {
        Op::Get { key } => key.len(),
        Op::Put { key, value } | Op::Append { key, value } => key.len() + value.len(),
    };
    payload + std::mem::size_of::<Request>()
}

impl Node for Replica {
    type Msg = Msg;
    type Req = Request;
    type Resp = Response;

    fn on_message(&mut self, from: NodeId, msg: Msg, out: &mut ReplicaOutbox) {
        let Msg::Paxos(msg) = msg;
        let mut inner = Outbox::new();
        self.peer.on_message(from, msg, &mut inner);
        out.absorb(&mut inner, Msg::Paxos);
        self.advance(out);
    }

    fn on_request(&mut self, id: ReqId, req: Request, out: &mut ReplicaOutbox) {
        match self.state.cached(&req) {
            Some(Applied::Result(value)) => {
                let resp = Response {
                    client: req.client,
                    seq: req.seq,
                    result: Ok(value),
                };
                out.reply(id, resp);
                return;
            }
            // The clerk has moved on; this is a late copy of an old attempt.
            Some(Applied::Stale) => return,
            None => {}
        }
        // A clerk has one operation outstanding: a higher seq means it gave up on the others.
        let newer = |r: &Request| r.client != req.client || r.seq >= req.seq;
        self.waiting.retain(|(_, r)| newer(r));
        self.queue.retain(newer);
        if self.waiting.len() >= WAITING_MAX {
            let resp = Response {
                client: req.client,
                seq: req.seq,
                result: Err(KvError::Busy),
            };
            out.reply(id, resp);
            return;
        }
        let proposing = matches!(&self.proposal, Some((_, Entry::Op(r))) if *r == req);
        if !proposing && !self.queue.contains(&req) {
            self.queue.push_back(req.clone());
        }
        self.waiting.push((id, req));
        self.advance(out);
    }

    fn on_tick(&mut self, out: &mut ReplicaOutbox) {
        let mut inner = Outbox::new();
        self.peer.on_tick(&mut inner);
        out.absorb(&mut inner, Msg::Paxos);
        self.fill_hole(out);
        self.advance(out);
    }
}
