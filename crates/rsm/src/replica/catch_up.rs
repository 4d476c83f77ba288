//! Catching up past the log: when the slots a replica needs next were compacted away by its
//! peers (or it restarted without its state and the others ignore its Paxos messages), it
//! pulls a peer's snapshot in chunks, installs it, and goes on applying the log after it.

use super::{Replica, ReplicaOutbox};
use crate::machine::StateMachine;
use crate::snapshot::{ChunkOutcome, Held, Image, Transfer};
use bytes::Bytes;
use paxos::Seq;
use rpc::NodeId;

/// Fetches sent to one peer without an answer before a transfer moves to the next peer.
const TRIES_PER_PEER: u32 = 3;

impl<S: StateMachine> Replica<S> {
    /// Starts pulling a snapshot if the peer says the log this replica needs is gone.
    pub(super) fn catch_up(&mut self, out: &mut ReplicaOutbox<S>) {
        if self.transfer.is_some() {
            return;
        }
        let Some(need) = self.peer.snapshot_needed() else {
            return;
        };
        if need.upto > self.next_apply {
            self.start_transfer(need.from, out);
        }
    }

    /// The peer after `node` in id order, skipping this replica (`None` in a cluster of one).
    fn next_peer(&self, node: NodeId) -> Option<NodeId> {
        let count = self.peer_count;
        (1..=count)
            .map(|step| NodeId((node.0 + step) % count))
            .find(|p| *p != self.peer.id())
    }

    /// Starts pulling a snapshot from `from`, else from the leader, else from the next peer.
    pub(super) fn start_transfer(&mut self, from: Option<NodeId>, out: &mut ReplicaOutbox<S>) {
        let me = self.peer.id();
        if self.transfer.is_some() {
            return;
        }
        let source = from
            .or(self.peer.leader())
            .filter(|p| *p != me)
            .or_else(|| self.next_peer(me));
        let Some(source) = source else {
            return;
        };
        tracing::info!(peer = %me, %source, next_apply = %self.next_apply, "pull a snapshot");
        let transfer = Transfer::new(source, self.now);
        out.send(source, transfer.fetch(self.next_apply));
        self.transfer = Some(transfer);
    }

    /// Per tick: asks again for a chunk that did not come, moving to the next peer after
    /// [`TRIES_PER_PEER`] unanswered fetches.
    pub(super) fn tick_transfer(&mut self, out: &mut ReplicaOutbox<S>) {
        let (now, retry, have) = (self.now, self.config.snapshot_retry_ticks, self.next_apply);
        let Some(from) = self.transfer.as_ref().map(|t| t.from) else {
            return;
        };
        let next = self.next_peer(from).unwrap_or(from);
        let transfer = self.transfer.as_mut().expect("checked above");
        if now.0 < transfer.asked_at.0 + retry {
            return;
        }
        transfer.unanswered += 1;
        if transfer.unanswered >= TRIES_PER_PEER {
            *transfer = Transfer::new(next, now);
        }
        transfer.asked_at = now;
        out.send(transfer.from, transfer.fetch(have));
    }

    /// A peer asks for our snapshot. Answered with a chunk if we have state beyond `have`;
    /// if our snapshot is not beyond it, a new one is taken (at most once per retry interval,
    /// so a peer asking often cannot make us snapshot all the time).
    pub(super) fn on_fetch_snapshot(
        &mut self,
        from: NodeId,
        have: Seq,
        slot: Option<Seq>,
        offset: u64,
        out: &mut ReplicaOutbox<S>,
    ) {
        if from == self.peer.id() || from.0 >= self.peer_count {
            return;
        }
        if self.next_apply <= have {
            return;
        }
        let useful = self.snapshot.as_ref().is_some_and(|h| h.slot > have);
        if !useful {
            let retry = self.config.snapshot_retry_ticks;
            if self
                .on_demand_at
                .is_some_and(|at| self.now.0 < at.0 + retry)
            {
                return;
            }
            self.on_demand_at = Some(self.now);
            self.take_snapshot(out);
        }
        let held = self.snapshot.as_ref().expect("taken above if missing");
        out.respond(
            from,
            held.chunk(slot, offset, self.config.snapshot_chunk_bytes),
        );
    }

    /// A chunk of the snapshot being pulled.
    pub(super) fn on_snapshot_chunk(
        &mut self,
        from: NodeId,
        slot: Seq,
        total: u64,
        offset: u64,
        data: &[u8],
        out: &mut ReplicaOutbox<S>,
    ) {
        let (now, have, max) = (self.now, self.next_apply, self.config.snapshot_bytes_max);
        let Some(transfer) = self.transfer.as_mut() else {
            return;
        };
        match transfer.on_chunk(from, slot, total, offset, data, max) {
            ChunkOutcome::Ignored => {}
            ChunkOutcome::More => {
                transfer.asked_at = now;
                out.send(transfer.from, transfer.fetch(have));
            }
            ChunkOutcome::Complete(bytes) => {
                self.transfer = None;
                self.install_snapshot(bytes, out);
            }
            ChunkOutcome::Refused(why) => {
                tracing::warn!(%from, "snapshot transfer refused: {why}");
                self.transfer = None;
                let next = self.next_peer(from);
                self.start_transfer(next, out);
            }
        }
    }

    /// Installs a whole snapshot pulled from a peer, if it is sound and ahead of us.
    fn install_snapshot(&mut self, bytes: Bytes, out: &mut ReplicaOutbox<S>) {
        let me = self.peer.id();
        let image = match Image::<S::Output>::decode(&bytes) {
            Ok(image) => image,
            Err(err) => {
                tracing::warn!(peer = %me, "received snapshot refused: {err}");
                return;
            }
        };
        if image.slot <= self.next_apply {
            tracing::debug!(peer = %me, slot = %image.slot, "received snapshot is not ahead");
            return;
        }
        let machine = match S::restore(&image.machine) {
            Ok(machine) => machine,
            Err(err) => {
                tracing::warn!(peer = %me, "received snapshot refused: {err}");
                return;
            }
        };
        let slot = image.slot;
        let before = self.next_apply;
        self.machine = machine;
        self.sessions = image.sessions;
        self.next_apply = slot;
        self.peer.install_snapshot(slot);
        // Batches proposed below the snapshot were decided one way or the other: the
        // snapshot's sessions say which of their commands ran.
        let above = self.in_flight.split_off(&slot);
        let settled = std::mem::replace(&mut self.in_flight, above);
        for (_, batch) in settled {
            self.requeue(batch);
        }
        self.snapshot = Some(Held { slot, bytes });
        self.since_snapshot = (0, 0);
        self.stalled_ticks = 0;
        self.stats.snapshots_installed += 1;
        self.persist_snapshot(out);
        assert!(
            self.next_apply > before,
            "an installed snapshot moves forward"
        );
        tracing::info!(peer = %me, %slot, from = %before, "snapshot installed");
        self.answer_from_sessions(out);
    }
}
