//! Getting proposals into the log: the leader batches its queue into free slots, followers
//! forward to the leader, stale routes are retried, and holes are closed.

use super::{Replica, ReplicaOutbox, proposal_bytes};
use crate::machine::StateMachine;
use crate::msg::{Entry, Msg, Proposal};
use crate::session::Lookup;
use crate::waiting::Sent;
use paxos::Seq;

impl<S: StateMachine> Replica<S> {
    /// Sends a proposal where it can be put in the log: into the queue if this replica leads,
    /// to the leader if another one does; nowhere while no leader is known. `None` if this
    /// replica leads and its queue is full.
    pub(super) fn route(
        &mut self,
        proposal: &Proposal<S::Command>,
        out: &mut ReplicaOutbox<S>,
    ) -> Option<Sent> {
        if self.peer.is_leading() {
            if self.queue.len() >= self.config.queue_max {
                return None;
            }
            self.queue.push_back(proposal.clone());
            return Some(Sent::Queued);
        }
        match self.peer.leader() {
            Some(leader) => {
                out.send(leader, Msg::Forward(vec![proposal.clone()]));
                Some(Sent::Forwarded(self.now))
            }
            None => Some(Sent::Nowhere),
        }
    }

    /// Puts `cmd`, a command of the node driving this replica rather than a client's, on its
    /// way into the log ([`Proposal::Internal`]): queued if this replica leads, forwarded to the
    /// leader otherwise. Nobody is answered and nothing retries it: the caller proposes it again
    /// if it does not see its effect applied in time. False if it went nowhere (no leader is
    /// known, this replica cannot serve, or the leader's queue is full).
    pub fn propose(&mut self, cmd: S::Command, out: &mut ReplicaOutbox<S>) -> bool {
        if self.unavailable {
            return false;
        }
        let sent = self.route(&Proposal::Internal { cmd }, out);
        let routed = matches!(sent, Some(Sent::Queued | Sent::Forwarded(_)));
        if sent == Some(Sent::Queued) {
            self.advance(out);
        }
        routed
    }

    /// Per tick: routes again every waiting request whose route has gone stale: never sent, a
    /// forward unapplied for `forward_retry_ticks`, or queued here while this replica no
    /// longer leads. Forwards go in one message. A full queue leaves the rest stale, for the
    /// next tick.
    pub(super) fn reroute_waiting(&mut self, out: &mut ReplicaOutbox<S>) {
        if self.unavailable {
            return;
        }
        let (now, leading, leader) = (self.now, self.peer.is_leading(), self.peer.leader());
        let (retry, queue_max) = (self.config.forward_retry_ticks, self.config.queue_max);
        let mut forward = Vec::new();
        self.unrouted = false;
        for (_, waiter) in self.waiting.iter_mut() {
            let stale = match waiter.sent {
                Sent::Nowhere => true,
                Sent::Queued => !leading,
                Sent::Forwarded(at) => now.0 >= at.0 + retry,
            };
            if !stale {
                continue;
            }
            if leading {
                if self.queue.len() >= queue_max {
                    self.unrouted |= waiter.sent == Sent::Nowhere;
                    continue;
                }
                self.queue.push_back(waiter.proposal.clone());
                waiter.sent = Sent::Queued;
            } else if leader.is_some() {
                forward.push(waiter.proposal.clone());
                waiter.sent = Sent::Forwarded(now);
            } else {
                self.unrouted |= waiter.sent == Sent::Nowhere;
            }
        }
        assert!(self.queue.len() <= queue_max, "queue bound");
        if let Some(leader) = leader.filter(|_| !forward.is_empty()) {
            out.send(leader, Msg::Forward(forward));
        }
    }

    /// True if applying `p` again would change nothing: a command its session already ran
    /// (or can never run). A registration always opens a new session, so it never is.
    pub(super) fn is_settled(&self, p: &Proposal<S::Command>) -> bool {
        match p {
            Proposal::Register { .. } | Proposal::Internal { .. } => false,
            Proposal::Command { session, seq, .. } => match self.sessions.lookup(*session, *seq) {
                Lookup::Repeat(_) | Lookup::Stale => true,
                Lookup::Unknown => self.sessions.was_issued(*session),
                Lookup::Fresh => false,
            },
        }
    }

    /// The leader's proposing: while fewer than `window` entries are in flight, puts every
    /// queued proposal (up to a batch) into the next free slot.
    pub(super) fn propose_queued(&mut self, out: &mut ReplicaOutbox<S>) {
        let (batch_max, bytes_max) = (self.config.batch_max, self.config.batch_bytes_max);
        while self.in_flight.len() < self.config.window && !self.queue.is_empty() {
            let mut batch = Vec::new();
            let mut bytes = 0;
            while let Some(p) = self.queue.front() {
                let size = proposal_bytes::<S>(p);
                let full = batch.len() >= batch_max || bytes + size > bytes_max;
                if !batch.is_empty() && full {
                    break;
                }
                let p = self.queue.pop_front().expect("front exists");
                if !self.is_settled(&p) {
                    bytes += size;
                    batch.push(p);
                }
            }
            if batch.is_empty() {
                return;
            }
            let slot = self.next_free_slot();
            tracing::trace!(%slot, proposals = batch.len(), "propose a batch");
            let value = Entry::Batch(batch.clone()).encode();
            self.paxos(out, |peer, o| peer.start(slot, value, o));
            assert!(
                slot >= self.next_apply,
                "a new slot is above every applied one"
            );
            self.in_flight.insert(slot, batch);
        }
        assert!(self.in_flight.len() <= self.config.window, "window bound");
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

    /// Proposals forwarded by a follower: the leader queues those not yet applied; anyone else
    /// drops them (the follower forwards them again to the leader it knows then).
    pub(super) fn on_forward(
        &mut self,
        proposals: Vec<Proposal<S::Command>>,
        out: &mut ReplicaOutbox<S>,
    ) {
        if !self.peer.is_leading() || self.unavailable {
            return;
        }
        for p in proposals {
            if self.queue.len() >= self.config.queue_max {
                tracing::warn!("leader queue full: forwarded proposals dropped");
                break;
            }
            if !self.is_settled(&p) {
                self.queue.push_back(p);
            }
        }
        self.advance(out);
    }

    /// A hole: `next_apply` is undecided here although it is known to exist. After
    /// `hole_ticks`, a follower asks for the decisions it missed; the leader proposes a no-op
    /// in a slot it is not proposing in (Paxos decides whatever value the slot already had,
    /// if any, so this only closes it; SPEC §6.2). A replica the others ignore (it restarted
    /// without its state) cannot ask through Paxos: it pulls a snapshot instead.
    pub(super) fn fill_hole(&mut self, out: &mut ReplicaOutbox<S>) {
        let behind = self.peer.max().is_some_and(|max| max >= self.next_apply);
        if !behind || self.in_flight.contains_key(&self.next_apply) {
            self.stalled_ticks = 0;
            return;
        }
        self.stalled_ticks += 1;
        if self.stalled_ticks < self.config.hole_ticks {
            return;
        }
        self.stalled_ticks = 0;
        let slot = self.next_apply;
        if self.unavailable {
            self.start_transfer(None, out);
        } else if self.peer.is_leading() {
            tracing::debug!(%slot, "propose a no-op to close a hole");
            let noop = Entry::<S::Command>::Noop.encode();
            self.paxos(out, |peer, o| peer.start(slot, noop, o));
        } else {
            let max = self.peer.max().unwrap_or(slot);
            let last = max.0.min(slot.0 + self.config.catch_up_slots - 1);
            self.paxos(out, |peer, o| {
                for seq in slot.0..=last {
                    peer.ask(Seq(seq), o);
                }
            });
        }
    }
}
