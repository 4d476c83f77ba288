//! Applying the log: decided slots in order, through the session table into the state
//! machine; answering the clients waiting here; taking snapshots.

use super::{Replica, ReplicaOutbox, refusal};
use crate::machine::StateMachine;
use crate::msg::{Entry, Proposal, Response, RsmError};
use crate::session::Lookup;
use crate::snapshot::{self, Held};
use crate::waiting::{Attempts, WaitKey};
use paxos::{Seq, Value};

/// Decided slots taken from the peer at a time.
const DRAIN_SLOTS: usize = 64;

impl<S: StateMachine> Replica<S> {
    /// Applies every slot the peer has decided from `next_apply` on, in order.
    pub(super) fn apply_decided(&mut self, out: &mut ReplicaOutbox<S>) {
        loop {
            let decided = self.peer.take_decided(DRAIN_SLOTS);
            if decided.is_empty() {
                return;
            }
            for (slot, value) in decided {
                self.apply_entry(slot, &value, out);
            }
        }
    }

    /// Applies the entry decided at `slot`.
    fn apply_entry(&mut self, slot: Seq, value: &Value, out: &mut ReplicaOutbox<S>) {
        assert_eq!(slot, self.next_apply, "slots are applied in order, once");
        let entry = Entry::<S::Command>::decode(value);
        match &entry {
            None => {
                // Every replica decodes the same bytes, so every one skips this slot alike.
                tracing::warn!(%slot, bytes = value.len(), "undecodable entry applied as a no-op");
                self.stats.undecodable_entries += 1;
            }
            Some(Entry::Noop) => {}
            Some(Entry::Batch(batch)) => {
                for p in batch {
                    self.apply_proposal(slot, p, out);
                }
            }
        }
        if let Some(mine) = self.in_flight.remove(&slot)
            && !matches!(&entry, Some(Entry::Batch(won)) if *won == mine)
        {
            // Another leader's entry won the slot: propose ours again, first.
            self.requeue(mine);
        }
        self.peer.done(slot);
        self.next_apply = Seq(slot.0 + 1);
        self.applied_count += 1;
        self.stalled_ticks = 0;
        self.since_snapshot.0 += 1;
        self.since_snapshot.1 += value.len() as u64;
        let (slots, bytes) = self.since_snapshot;
        let last = self.snapshot.as_ref().map_or(0, |h| h.bytes.len() as u64);
        if slots >= self.config.snapshot_every_slots
            || bytes >= self.config.snapshot_every_bytes.max(last)
        {
            self.take_snapshot(out);
        }
    }

    /// Puts the proposals of a batch that lost its slot back at the front of the queue, in
    /// order, but those already applied. A follower's queue is dropped at the next step.
    pub(super) fn requeue(&mut self, batch: Vec<crate::msg::Proposal<S::Command>>) {
        for p in batch.into_iter().rev() {
            if !self.is_settled(&p) && self.queue.len() < self.config.queue_max {
                self.queue.push_front(p);
            }
        }
    }

    /// Applies one proposal and answers its waiter here, if any.
    fn apply_proposal(
        &mut self,
        slot: Seq,
        proposal: &Proposal<S::Command>,
        out: &mut ReplicaOutbox<S>,
    ) {
        match proposal {
            Proposal::Register {
                origin,
                boot,
                waiter,
            } => {
                let session = self.sessions.register();
                // Only the replica the client asked holds its waiter; a duplicate of this
                // registration opens a session nobody uses, which ages out. One proposed by an
                // earlier run of this replica (replayed from its log) answers nobody.
                if *origin == self.peer.id()
                    && *boot == self.peer.boot()
                    && let Some(w) = self.waiting.take(&WaitKey::Register(*waiter))
                {
                    for id in w.ids {
                        out.reply(id, Response::Registered { session });
                    }
                }
            }
            Proposal::Command { session, seq, cmd } => {
                let (session, seq) = (*session, *seq);
                let result = match self.sessions.lookup(session, seq) {
                    Lookup::Unknown => Err(RsmError::SessionExpired),
                    Lookup::Stale => Ok(None),
                    Lookup::Repeat(output) => Ok(Some(output.clone())),
                    Lookup::Fresh => {
                        let output = self.machine.apply(slot, cmd);
                        self.sessions.record(session, seq, output.clone());
                        Ok(Some(output))
                    }
                };
                self.waiting.drop_older(session, seq);
                let key = WaitKey::Command { session, seq };
                if let Some(w) = self.waiting.take(&key) {
                    answer(out, key, w.ids, &result);
                }
            }
            Proposal::Internal { cmd } => {
                // Nobody waits for it; what it changed is the node's to read.
                let _ = self.machine.apply(slot, cmd);
            }
        }
    }

    /// Snapshots the state at `next_apply` and forgets the log below the previous snapshot.
    /// One snapshot interval of log stays, so a peer a little behind catches up from the log
    /// instead of pulling a whole snapshot. A durable replica writes it to disk and drops the
    /// log below it there.
    pub(super) fn take_snapshot(&mut self, out: &mut ReplicaOutbox<S>) {
        let slot = self.next_apply;
        let machine = self.machine.snapshot();
        let bytes = snapshot::encode(slot, &self.sessions, &machine);
        tracing::debug!(peer = %self.peer.id(), %slot, bytes = bytes.len(), "snapshot taken");
        let previous = self.snapshot.replace(Held { slot, bytes });
        if let Some(previous) = previous {
            assert!(previous.slot <= slot, "snapshots only move forward");
            self.peer.compact(previous.slot);
        }
        self.since_snapshot = (0, 0);
        self.stats.snapshots_taken += 1;
        self.persist_snapshot(out);
    }

    /// After installing a snapshot: answers every waiter whose command the session table now
    /// settles.
    pub(super) fn answer_from_sessions(&mut self, out: &mut ReplicaOutbox<S>) {
        for key in self.waiting.keys() {
            let WaitKey::Command { session, seq } = key else {
                continue;
            };
            let result = match self.sessions.lookup(session, seq) {
                Lookup::Fresh => continue,
                Lookup::Unknown if !self.sessions.was_issued(session) => continue,
                Lookup::Unknown => Err(RsmError::SessionExpired),
                Lookup::Stale => Ok(None),
                Lookup::Repeat(output) => Ok(Some(output.clone())),
            };
            let waiter = self.waiting.take(&key).expect("key listed");
            answer(out, key, waiter.ids, &result);
        }
    }
}

/// Answers every attempt (`ids`) of command `key` with what the log made of it: its output,
/// nothing (`None`: the client moved past it, nobody waits), or a refusal.
pub(super) fn answer<O: Clone>(
    out: &mut rpc::Outbox<impl Sized, Response<O>>,
    key: WaitKey,
    ids: Attempts,
    result: &Result<Option<O>, RsmError>,
) {
    let WaitKey::Command { session, seq } = key else {
        unreachable!("registrations are answered with their session");
    };
    for id in ids {
        match result {
            Ok(Some(output)) => {
                let output = output.clone();
                out.reply(
                    id,
                    Response::Done {
                        session,
                        seq,
                        output,
                    },
                );
            }
            Ok(None) => {}
            Err(error) => out.reply(id, refusal(key, *error)),
        }
    }
}
