//! The replica (was `kvpaxos/server.go`): a Paxos peer plus the state machine it feeds. Sans-IO.
//!
//! One replica leads (Multi-Paxos, see [`paxos::leader`]): clerk requests that reach a follower
//! are forwarded to it; it batches every request waiting into one log entry and keeps up to
//! [`WINDOW`] entries in flight, each decided by phase 2 alone. Every replica applies decided
//! slots in order and answers a request only once its entry (or an earlier copy of it) has been
//! applied here, so any replica answers the same as any other.

use crate::msg::{Entry, KvError, Msg, Op, Request, Response};
use kvstore::{Applied, KvState};
use paxos::{Fate, PaxosOutbox, Peer, Seq};
use rpc::{Node, NodeId, NodeOutbox, ReqId, Ticks};
use std::collections::{BTreeMap, VecDeque};

/// The most client requests a replica holds while their entries are not yet applied. Beyond
/// it, a request is refused with [`KvError::Busy`] (STYLE §2.8: every queue has a limit).
pub const WAITING_MAX: usize = 4096;

/// The most requests the leader holds to propose (its own clerks' and forwarded ones). Beyond
/// it, forwarded requests are dropped: their replica forwards them again later.
pub const QUEUE_MAX: usize = 8192;

/// Log entries the leader keeps in flight at once. More overlap more round trips; fewer make
/// bigger batches. Eight keeps both cores busy on a 2-core machine with 64 clients.
pub const WINDOW: usize = 8;

/// The most requests in one log entry.
pub const BATCH_MAX: usize = 1024;

/// The most operation bytes (keys and values) in one log entry, well under a 16 MiB frame. An
/// operation larger than this still goes alone in its own entry.
pub const BATCH_BYTES_MAX: usize = 4 << 20;

/// Ticks a forwarded request may stay unapplied before its replica forwards it again (to the
/// leader it knows then): the leader may have changed or the message may have been lost.
pub const FORWARD_RETRY_TICKS: u64 = 3;

/// Ticks the slot after the last applied one may stay undecided, while this replica knows of
/// higher slots, before it acts: a follower asks for the decisions it missed; the leader
/// proposes a no-op there (a slot the previous leader left half done).
pub const HOLE_TICKS: u64 = 3;

/// How many missed slots a follower asks about at once when catching up.
pub const CATCH_UP_SLOTS: u64 = 64;

/// The outbox of a replica.
pub type ReplicaOutbox = NodeOutbox<Replica>;

/// A request waiting for its entry to be applied here.
#[derive(Debug)]
struct Waiting {
    id: ReqId,
    req: Request,
    /// Where this replica sent it.
    sent: Sent,
}

/// Where a waiting request went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    /// Nowhere yet: no leader was known.
    Nowhere,
    /// Into this replica's queue, while it led.
    Queued,
    /// To another replica, the leader then, at this tick.
    Forwarded(Ticks),
}

/// A kvpaxos server core: a [`paxos::Peer`] whose messages travel as [`Msg::Paxos`].
#[derive(Debug)]
pub struct Replica {
    peer: Peer,
    state: KvState,
    /// The next slot to apply; every slot below it is applied and passed to `done`.
    next_apply: Seq,
    /// Requests that wait for their entry to be applied, with the id to answer.
    waiting: Vec<Waiting>,
    /// Requests to put in the log once this replica leads (its own clerks' and, while it
    /// leads, forwarded ones), oldest first.
    queue: VecDeque<Request>,
    /// The leader's entries in flight: slot -> the batch proposed there.
    in_flight: BTreeMap<Seq, Vec<Request>>,
    /// Some waiting request may have gone nowhere yet (no leader was known): route it as soon
    /// as a leader is.
    unrouted: bool,
    /// Ticks since start.
    now: Ticks,
    /// Ticks `next_apply` has stayed undecided while a higher slot is known.
    stalled_ticks: u64,
    /// Entries applied since start (no-ops included).
    applied_count: u64,
    /// This replica cannot serve: it restarted without its state (its peer is amnesiac, or the
    /// slot it must apply next was forgotten by the cluster). It answers every request
    /// [`KvError::Unavailable`] and takes no part in leading.
    unavailable: bool,
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
            in_flight: BTreeMap::new(),
            unrouted: false,
            now: Ticks(0),
            stalled_ticks: 0,
            applied_count: 0,
            unavailable: false,
        }
    }

    /// True if this replica cannot serve (see [`KvError::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// Stops serving for good: answers every waiting request [`KvError::Unavailable`].
    fn become_unavailable(&mut self, why: &str, out: &mut ReplicaOutbox) {
        if !self.unavailable {
            tracing::error!(peer = %self.peer.id(), "replica unavailable: {why}");
        }
        self.unavailable = true;
        self.queue.clear();
        self.in_flight.clear();
        for w in self.waiting.drain(..) {
            let resp = Response {
                client: w.req.client,
                seq: w.req.seq,
                result: Err(KvError::Unavailable),
            };
            out.reply(w.id, resp);
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
            .map(|w| &w.req)
            .chain(self.queue.iter())
            .chain(self.in_flight.values().flatten())
            .map(request_bytes)
            .sum();
        self.peer.retained_bytes() + self.state.retained_bytes() + held
    }

    /// Runs a Paxos step and carries its messages out as [`Msg::Paxos`].
    fn paxos(&mut self, out: &mut ReplicaOutbox, step: impl FnOnce(&mut Peer, &mut PaxosOutbox)) {
        let mut inner = PaxosOutbox::new();
        step(&mut self.peer, &mut inner);
        out.absorb(&mut inner, Msg::Paxos);
    }

    /// Applies every decided slot, then moves queued requests on: into the log if this replica
    /// leads, to the leader if another one does, or starts a campaign if nobody does. Called
    /// after every input: a decision can arrive with any message, so nothing waits for a timer.
    fn advance(&mut self, out: &mut ReplicaOutbox) {
        if self.peer.is_amnesiac() {
            self.become_unavailable("restarted without its Paxos state (no disk)", out);
        }
        if self.unavailable {
            return;
        }
        self.apply_decided(out);
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
        } else {
            // Only a leader proposes; the waiting requests go to the leader on the next tick.
            self.queue.clear();
        }
        if self.unrouted && self.peer.leader().is_some() {
            self.reroute_waiting(out);
            if self.peer.is_leading() {
                self.propose_queued(out);
                self.apply_decided(out);
            }
        }
    }

    /// Sends a request where it can be put in the log: into the queue if this replica leads,
    /// to the leader if another one does; nowhere while no leader is known.
    fn route(&mut self, req: &Request, out: &mut ReplicaOutbox) -> Sent {
        if self.peer.is_leading() {
            self.queue.push_back(req.clone());
            return Sent::Queued;
        }
        match self.peer.leader() {
            Some(leader) => {
                out.send(leader, Msg::Forward(vec![req.clone()]));
                Sent::Forwarded(self.now)
            }
            None => Sent::Nowhere,
        }
    }

    /// Per tick: routes again every waiting request whose route has gone stale: never sent, a
    /// forward unapplied for [`FORWARD_RETRY_TICKS`], or queued here while this replica no
    /// longer leads. Forwards go in one message.
    fn reroute_waiting(&mut self, out: &mut ReplicaOutbox) {
        let (now, leading, leader) = (self.now, self.peer.is_leading(), self.peer.leader());
        let mut forward = Vec::new();
        self.unrouted = false;
        for w in &mut self.waiting {
            let stale = match w.sent {
                Sent::Nowhere => true,
                Sent::Queued => !leading,
                Sent::Forwarded(at) => now.0 >= at.0 + FORWARD_RETRY_TICKS,
            };
            if !stale {
                continue;
            }
            if leading {
                self.queue.push_back(w.req.clone());
                w.sent = Sent::Queued;
            } else if leader.is_some() {
                forward.push(w.req.clone());
                w.sent = Sent::Forwarded(now);
            } else {
                self.unrouted |= w.sent == Sent::Nowhere;
            }
        }
        if let Some(leader) = leader.filter(|_| !forward.is_empty()) {
            out.send(leader, Msg::Forward(forward));
        }
    }

    fn apply_decided(&mut self, out: &mut ReplicaOutbox) {
        loop {
            let (fate, value) = self.peer.status(self.next_apply);
            if fate == Fate::Forgotten {
                // Every replica applied this slot and the cluster forgot it: this replica must
                // have restarted empty, and cannot rebuild its state from the log.
                self.become_unavailable("the log prefix it needs was forgotten", out);
                return;
            }
            let Some(value) = value else { return };
            let slot = self.next_apply;
            let entry = Entry::decode(&value);
            if let Entry::Batch(batch) = &entry {
                for req in batch {
                    self.state.apply(req);
                }
                self.answer_waiting(out);
            }
            if let Some(mine) = self.in_flight.remove(&slot)
                && !matches!(&entry, Entry::Batch(won) if *won == mine)
            {
                // Another leader's entry won the slot: propose ours again, later.
                let state = &self.state;
                for req in mine.into_iter().rev() {
                    if state.cached(&req).is_none() {
                        self.queue.push_front(req);
                    }
                }
            }
            self.peer.done(slot);
            self.next_apply = Seq(slot.0 + 1);
            self.applied_count += 1;
            self.stalled_ticks = 0;
        }
    }

    /// Answers every waiting request that the state now has an answer for.
    fn answer_waiting(&mut self, out: &mut ReplicaOutbox) {
        let state = &self.state;
        self.waiting.retain(|w| match state.cached(&w.req) {
            None => true,
            Some(Applied::Stale) => false,
            Some(Applied::Result(value)) => {
                let resp = Response {
                    client: w.req.client,
                    seq: w.req.seq,
                    result: Ok(value),
                };
                out.reply(w.id, resp);
                false
            }
        });
    }

    /// The leader's proposing: while fewer than [`WINDOW`] entries are in flight, puts every
    /// queued request (up to a batch) into the next free slot.
    fn propose_queued(&mut self, out: &mut ReplicaOutbox) {
        while self.in_flight.len() < WINDOW && !self.queue.is_empty() {
            let mut batch = Vec::new();
            let mut bytes = 0;
            while let Some(req) = self.queue.front() {
                let size = request_bytes(req);
                let full = batch.len() >= BATCH_MAX || bytes + size > BATCH_BYTES_MAX;
                if !batch.is_empty() && full {
                    break;
                }
                let req = self.queue.pop_front().expect("front exists");
                if self.state.cached(&req).is_none() {
                    bytes += size;
                    batch.push(req);
                }
            }
            if batch.is_empty() {
                return;
            }
            let slot = self.next_free_slot();
            tracing::trace!(%slot, ops = batch.len(), "propose a batch");
            let value = Entry::Batch(batch.clone()).encode();
            self.paxos(out, |peer, o| peer.start(slot, value, o));
            self.in_flight.insert(slot, batch);
        }
    }

    /// The lowest slot above every slot this replica applied, proposed or heard of.
    fn next_free_slot(&self) -> Seq {
        let heard = self.peer.max().map_or(Seq(0), |m| Seq(m.0 + 1));
        let proposed = self
            .in_flight
            .last_key_value()
            .map_or(Seq(0), |(s, _)| Seq(s.0 + 1));
        self.next_apply.max(heard).max(proposed)
    }

    /// Requests forwarded by a follower: the leader queues those not yet applied; anyone else
    /// drops them (the follower forwards them again to the leader it knows then).
    fn on_forward(&mut self, reqs: Vec<Request>, out: &mut ReplicaOutbox) {
        if !self.peer.is_leading() || self.unavailable {
            return;
        }
        for req in reqs {
            if self.queue.len() >= QUEUE_MAX {
                tracing::warn!("leader queue full: forwarded requests dropped");
                break;
            }
            if self.state.cached(&req).is_none() {
                self.queue.push_back(req);
            }
        }
        self.advance(out);
    }

    /// A hole: `next_apply` is undecided here although it is known to exist. After
    /// [`HOLE_TICKS`], a follower asks for the decisions it missed; the leader proposes a no-op
    /// in a slot it is not proposing in (Paxos decides whatever value the slot already had, if
    /// any, so this only closes it; SPEC §6.2).
    fn fill_hole(&mut self, out: &mut ReplicaOutbox) {
        if self.unavailable {
            return;
        }
        let behind = self.peer.max().is_some_and(|max| max >= self.next_apply);
        if !behind || self.in_flight.contains_key(&self.next_apply) {
            self.stalled_ticks = 0;
            return;
        }
        self.stalled_ticks += 1;
        if self.stalled_ticks < HOLE_TICKS {
            return;
        }
        self.stalled_ticks = 0;
        let slot = self.next_apply;
        if self.peer.is_leading() {
            tracing::debug!(%slot, "propose a no-op to close a hole");
            self.paxos(out, |peer, o| peer.start(slot, Entry::Noop.encode(), o));
        } else {
            let max = self.peer.max().unwrap_or(slot);
            let last = max.0.min(slot.0 + CATCH_UP_SLOTS - 1);
            self.paxos(out, |peer, o| {
                for seq in slot.0..=last {
                    peer.ask(Seq(seq), o);
                }
            });
        }
    }
}

fn request_bytes(req: &Request) -> usize {
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
        match msg {
            Msg::Paxos(msg) => {
                self.paxos(out, |peer, o| peer.on_message(from, msg, o));
                self.advance(out);
            }
            Msg::Forward(reqs) => self.on_forward(reqs, out),
        }
    }

    fn on_request(&mut self, id: ReqId, req: Request, out: &mut ReplicaOutbox) {
        if self.unavailable {
            let resp = Response {
                client: req.client,
                seq: req.seq,
                result: Err(KvError::Unavailable),
            };
            out.reply(id, resp);
            return;
        }
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
        self.waiting.retain(|w| newer(&w.req));
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
        let sent = self.route(&req, out);
        self.unrouted |= sent == Sent::Nowhere;
        self.waiting.push(Waiting { id, req, sent });
        self.advance(out);
    }

    fn on_tick(&mut self, out: &mut ReplicaOutbox) {
        self.now = Ticks(self.now.0 + 1);
        self.paxos(out, |peer, o| peer.on_tick(o));
        self.fill_hole(out);
        self.advance(out);
        self.reroute_waiting(out);
        self.advance(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Op;
    use rpc::{Effect, Outbox};

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
