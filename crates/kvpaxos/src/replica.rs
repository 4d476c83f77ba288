//! The replica (was `kvpaxos/server.go`): a Paxos peer plus the state machine it feeds. Sans-IO.
//!
//! A clerk's request becomes a log entry proposed at the lowest slot this replica has not
//! applied; the replica applies decided slots in order and answers a request only once its
//! entry (or an earlier copy of it) has been applied here.

use crate::msg::{Entry, KvError, Msg, Request, Response};
use kvstore::{Applied, KvState};
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
    /// A no-op this replica proposed to learn a slot was just applied: it is catching up, and
    /// proposes the next no-op at once rather than after [`HOLE_TICKS`] more ticks.
    catching_up: bool,
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
            catching_up: false,
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
        let started = self.propose_next(out) || self.catch_up(out);
        if started {
            self.apply_decided(out);
        }
    }

    /// Whether this replica knows of a slot above `next_apply`, so `next_apply` is a hole here
    /// unless it is decided.
    fn is_behind(&self) -> bool {
        self.peer.max().is_some_and(|max| max > self.next_apply)
    }

    /// After a no-op taught this replica one missed slot, learns the next one at once: a
    /// replica back from a minority catches up at one round trip per slot, not one per
    /// [`HOLE_TICKS`]. Returns whether it started a proposal.
    fn catch_up(&mut self, out: &mut ReplicaOutbox) -> bool {
        if !self.catching_up || self.proposal.is_some() {
            return false;
        }
        self.catching_up = false;
        if !self.is_behind() {
            return false;
        }
        self.start(Entry::Noop, out);
        true
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
                match mine {
                    Entry::Noop => self.catching_up = true,
                    // Another replica's entry won the slot: propose ours again, higher.
                    Entry::Op(req) if !matches!(&entry, Entry::Op(won) if *won == req) => {
                        self.queue.push_front(req);
                    }
                    Entry::Op(_) => {}
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
        match &entry {
            Entry::Op(req) => tracing::debug!(%slot, client = req.client, seq = req.seq, "propose"),
            Entry::Noop => tracing::debug!(%slot, "propose a no-op to learn a missed slot"),
        }
        self.proposal = Some((slot, entry));
    }

    /// A hole: `next_apply` is undecided here while a higher slot is known. After
    /// [`HOLE_TICKS`], propose a no-op there; Paxos decides whatever value the slot already
    /// had, if any, so this only learns it (SPEC §6.2).
    fn fill_hole(&mut self, out: &mut ReplicaOutbox) {
        if self.proposal.is_some() || !self.is_behind() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Op;
    use rpc::Effect;

    /// Three replicas and a perfect network: every message is delivered at once, in order.
    /// Returns the replies, in order.
    fn settle(replicas: &mut [Replica], mut queue: Vec<(NodeId, ReplicaOutbox)>) -> Vec<Response> {
        let mut replies = Vec::new();
        while let Some((from, mut out)) = queue.pop() {
            for effect in out.drain() {
                match effect {
                    Effect::Send { to, msg } | Effect::Respond { to, msg } => {
                        let mut next = Outbox::new();
                        replicas[to.index()].on_message(from, msg, &mut next);
                        queue.push((to, next));
                    }
                    Effect::Reply { resp, .. } => replies.push(resp),
                    other => panic!("unexpected effect {other:?}"),
                }
            }
        }
        replies
    }

    fn cluster() -> Vec<Replica> {
        (0..3).map(|i| Replica::new(NodeId(i), 3, 7)).collect()
    }

    fn request(replicas: &mut [Replica], at: u32, id: u64, req: &Request) -> ReplicaOutbox {
        let mut out = Outbox::new();
        replicas[at as usize].on_request(ReqId(id), req.clone(), &mut out);
        out
    }

    fn put(client: u64, seq: u64, value: &str) -> Request {
        let op = Op::Put {
            key: "k".into(),
            value: value.into(),
        };
        Request { client, seq, op }
    }

    /// A request is answered once its entry is applied; a retry of it at another replica is
    /// answered from the dedup table without using another slot.
    #[test]
    fn retry_at_another_replica_is_answered_from_the_table() {
        let mut rs = cluster();
        let req = put(1, 1, "a");
        let out = request(&mut rs, 0, 1, &req);
        let replies = settle(&mut rs, vec![(NodeId(0), out)]);
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].result, Ok(String::new()));
        let before = rs[1].next_apply();
        let out = request(&mut rs, 1, 2, &req);
        let replies = settle(&mut rs, vec![(NodeId(1), out)]);
        assert!(rs[1].next_apply() >= before);
        assert_eq!(
            replies.len(),
            1,
            "answered at once if applied, after one slot otherwise"
        );
        assert_eq!(rs[1].state().get("k"), "a");
        assert!(rs.iter().all(|r| r.peer().instance_count() <= 2));
    }

    /// Two replicas propose different requests for the same slot: one wins, the other is
    /// proposed again at the next slot, and both are answered.
    #[test]
    fn loser_of_a_slot_retries_higher() {
        let mut rs = cluster();
        let a = request(&mut rs, 0, 1, &put(1, 1, "a"));
        let b = request(&mut rs, 1, 2, &put(2, 1, "b"));
        let mut replies = settle(&mut rs, vec![(NodeId(0), a), (NodeId(1), b)]);
        for _ in 0..100 {
            if replies.len() == 2 {
                break;
            }
            let ticks = (0..3)
                .map(|i| {
                    let mut out = Outbox::new();
                    rs[i].on_tick(&mut out);
                    (NodeId(i as u32), out)
                })
                .collect();
            replies.extend(settle(&mut rs, ticks));
        }
        assert_eq!(replies.len(), 2, "both requests answered");
        assert!(rs[0].applied_count() >= 2);
        assert!(matches!(rs[0].state().get("k"), "a" | "b"));
    }

    /// A replica cut off from every peer holds at most WAITING_MAX requests and refuses more.
    #[test]
    fn waiting_requests_are_bounded() {
        let mut r = Replica::new(NodeId(0), 3, 7);
        let mut busy = 0;
        for client in 0..=WAITING_MAX as u64 {
            let mut out = Outbox::new();
            r.on_request(ReqId(client), put(client, 1, "v"), &mut out);
            busy += out
                .effects()
                .iter()
                .filter(|e| {
                    matches!(e, Effect::Reply { resp, .. } if resp.result == Err(KvError::Busy))
                })
                .count();
        }
        assert_eq!(r.waiting_len(), WAITING_MAX);
        assert_eq!(busy, 1);
    }
}
