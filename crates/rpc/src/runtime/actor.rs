//! The actor: the one task that owns a node's core and carries out its effects in order.
//!
//! It works in turns. A turn handles one input; if that input's effects include a `Sync` with
//! something to make durable, the turn goes on with the inputs already waiting (never waiting
//! for more), holding back every effect that leaves the node from that `Sync` on. Then it runs
//! the turn's disk batch, with one `Sync` at its end, and releases what it held, in order
//! (group commit, see [`super::commit`]). An input with nothing to sync is a turn of its own.

use super::WireNode;
use super::commit::{Batch, GroupCommit};
use super::peer::{self, PeerLink};
use super::stats::{Counters, bump};
use crate::disk::{DiskDir, DiskOp};
use crate::ids::{NodeId, ReqId};
use crate::node::{Effect, Node, NodeOutbox};
use futures::FutureExt as _;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Client requests the core has not answered yet. Why a bound: a core may legitimately never
/// answer (the client times out and retries), so without one the map would grow forever under a
/// retrying client. Past it the oldest request is forgotten; its late reply is dropped, which the
/// client sees as one more timeout.
pub const MAX_PENDING_REPLIES: usize = 4096;

/// Messages a node sends to itself, waiting to be handled after the current input. The bound
/// stops a core that keeps messaging itself from starving every other input.
pub const LOOPBACK_CAPACITY: usize = 1024;

/// Inputs (and ticks) one turn may handle while it holds effects for a `Sync`. Why 64: the
/// first input's answers wait while the others are handled, and handling one takes microseconds
/// against the milliseconds of an fsync, so 64 keeps that extra wait well under one fsync while
/// one fsync serves 64 clients (the largest load the benches drive). Past it the turn commits
/// and the next one starts, so ticks and the inbox's later inputs are never starved.
pub const MAX_TURN_INPUTS: usize = 64;

/// File content (writes and appends) after which a turn stops taking more inputs. Why 1 MiB:
/// every held effect waits for the whole batch to be written, and 1 MiB is written in about a
/// millisecond, the cost of the fsync itself; it also caps what a turn holds in memory beyond
/// the inputs themselves. One input's own effects are never split, so a batch may exceed it.
pub const MAX_TURN_BATCH_BYTES: usize = 1 << 20;

/// A call into the core's local API; it returns what to do once its effects are carried out.
pub(crate) type Job<N> =
    Box<dyn FnOnce(&mut N, &mut NodeOutbox<N>) -> Box<dyn FnOnce() + Send> + Send>;

/// What the actor handles: something from the inbox, or a tick.
enum Next<N: Node> {
    Input(Input<N>),
    Tick,
}

/// An effect that leaves the node, or ends a call: what a turn holds back after a `Sync`.
enum Outgoing<N: Node> {
    /// A `Send` or `Respond` (to a peer, or to the node itself).
    Message { to: NodeId, msg: N::Msg },
    /// A `Reply` to a client request.
    Reply { req: ReqId, resp: N::Resp },
    /// The answer of a [`NodeHandle::call`](super::NodeHandle::call), sent once its effects are done.
    CallDone(Box<dyn FnOnce() + Send>),
}

/// Where to send the answers for one client connection: `(correlation id, answer)`.
pub(crate) type Responder<P> = mpsc::Sender<(u64, P)>;

/// One input for the actor.
pub(crate) enum Input<N: Node> {
    /// A message from a peer.
    Message { from: NodeId, msg: N::Msg },
    /// A client request and how to answer it.
    Request {
        responder: Responder<N::Resp>,
        corr: u64,
        body: N::Req,
    },
    /// A call from the node's handle.
    Call(Job<N>),
}

/// A request the core has not answered yet.
struct Pending<P> {
    responder: Responder<P>,
    corr: u64,
}

/// The state of the actor task.
pub(crate) struct Actor<N: WireNode> {
    id: NodeId,
    core: N,
    outbox: NodeOutbox<N>,
    inbox: mpsc::Receiver<Input<N>>,
    /// One queue per peer, indexed by node id; `None` at the node's own index.
    peers: Vec<Option<mpsc::Sender<N::Msg>>>,
    peer_tasks: JoinSet<()>,
    loopback: VecDeque<N::Msg>,
    /// The current turn's disk batch and the effects it holds back.
    commit: GroupCommit<Outgoing<N>>,
    pending: BTreeMap<ReqId, Pending<N::Resp>>,
    next_req: u64,
    disk: Option<DiskDir>,
    warned_no_disk: bool,
    tick: Duration,
    stop: CancellationToken,
    counters: Arc<Counters>,
}

impl<N: WireNode> Actor<N> {
    /// Builds the actor and starts one peer task per other node.
    #[allow(clippy::too_many_arguments)] // one call site, which destructures NodeConfig
    pub(crate) fn new(
        core: N,
        id: NodeId,
        peer_addrs: &[SocketAddr],
        tick: Duration,
        data_dir: Option<PathBuf>,
        inbox: mpsc::Receiver<Input<N>>,
        stop: CancellationToken,
        counters: Arc<Counters>,
    ) -> Self {
        let mut peer_tasks = JoinSet::new();
        let cluster = Arc::new(peer_addrs.to_vec());
        let peers = peer_addrs
            .iter()
            .enumerate()
            .map(|(index, addr)| {
                let to = NodeId(u32::try_from(index).expect("peer lists are far below 2^32"));
                if to == id {
                    return None;
                }
                let (tx, rx) = mpsc::channel(peer::PEER_QUEUE_CAPACITY);
                let link = PeerLink {
                    me: id,
                    cluster: cluster.clone(),
                    to,
                    addr: *addr,
                    stop: stop.clone(),
                    counters: counters.clone(),
                };
                let span = tracing::debug_span!("peer", to = %to, %addr);
                peer_tasks.spawn(peer::run(link, rx).instrument(span));
                Some(tx)
            })
            .collect();
        Actor {
            id,
            core,
            outbox: NodeOutbox::<N>::new(),
            inbox,
            peers,
            peer_tasks,
            loopback: VecDeque::new(),
            commit: GroupCommit::new(),
            pending: BTreeMap::new(),
            next_req: 0,
            disk: data_dir.map(DiskDir::new),
            warned_no_disk: false,
            tick,
            stop,
            counters,
        }
    }

    /// Handles inputs until the node stops, then waits for the peer tasks.
    pub(crate) async fn run(mut self) {
        let mut ticker = tokio::time::interval_at(Instant::now() + self.tick, self.tick);
        // After a stall, tick on at the normal rate rather than in a burst: cores count ticks as
        // elapsed time, and a burst would fire their timeouts all at once.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                // Ticks first: a busy inbox must not stop time for the core.
                biased;
                () = self.stop.cancelled() => break,
                _ = ticker.tick() => Next::Tick,
                input = self.inbox.recv() => match input {
                    Some(input) => Next::Input(input),
                    None => break,
                },
            };
            if let Err(err) = self.turn(first, &mut ticker).await {
                // Whatever the turn held is dropped unsent: it was never durable.
                tracing::error!(%err, "disk failed; stopping the node as a crash would");
                self.stop.cancel();
                return self.stop_peers().await;
            }
        }
        // A clean stop keeps everything: changes kept back for a later batch go to disk now.
        if let Err(err) = self.commit(0, true).await {
            tracing::error!(%err, "disk failed while stopping");
        }
        self.stop_peers().await;
    }

    async fn stop_peers(&mut self) {
        // Closing the queues lets every peer task finish; they also watch `stop`.
        self.peers.clear();
        while self.peer_tasks.join_next().await.is_some() {}
    }

    /// Handles `first` and, while effects are held for a `Sync`, whatever is already queued (up
    /// to [`MAX_TURN_INPUTS`] and [`MAX_TURN_BATCH_BYTES`]); then commits. Messages the node sent
    /// itself that were held come back after the commit and may start another round.
    async fn turn(&mut self, first: Next<N>, ticker: &mut Interval) -> io::Result<()> {
        self.handle(first);
        let mut inputs = 1;
        let mut inputs_since_commit = 1;
        loop {
            while self.commit.is_holding()
                && inputs < MAX_TURN_INPUTS
                && self.commit.batch_bytes() < MAX_TURN_BATCH_BYTES
                && !self.stop.is_cancelled()
            {
                let Some(next) = self.queued(ticker) else {
                    break;
                };
                self.handle(next);
                inputs += 1;
                inputs_since_commit += 1;
            }
            self.commit(inputs_since_commit, false).await?;
            if self.loopback.is_empty() {
                return Ok(());
            }
            inputs_since_commit = 0;
            self.drain_loopback();
        }
    }

    /// An input that is already waiting, without waiting for one: a due tick first (as in
    /// [`Actor::run`]), then the inbox.
    fn queued(&mut self, ticker: &mut Interval) -> Option<Next<N>> {
        if ticker.tick().now_or_never().is_some() {
            return Some(Next::Tick);
        }
        self.inbox.try_recv().ok().map(Next::Input)
    }

    /// Feeds one input to the core, then the messages it sent itself, and routes the effects.
    fn handle(&mut self, next: Next<N>) {
        match next {
            Next::Tick => {
                // Answers to a closed connection can never be delivered: forget them now.
                self.pending
                    .retain(|_, pending| !pending.responder.is_closed());
                self.core.on_tick(&mut self.outbox);
                self.execute();
            }
            Next::Input(Input::Message { from, msg }) => {
                tracing::trace!(from = %from, ?msg, "message");
                self.core.on_message(from, msg, &mut self.outbox);
                self.execute();
            }
            Next::Input(Input::Request {
                responder,
                corr,
                body,
            }) => {
                let req = self.register(responder, corr);
                tracing::debug!(req = req.0, ?body, "request");
                self.core.on_request(req, body, &mut self.outbox);
                self.execute();
            }
            Next::Input(Input::Call(job)) => {
                let done = job(&mut self.core, &mut self.outbox);
                self.execute();
                // The answer says the call's effects were carried out: its changes applied too,
                // even unsynced ones, so it waits for the batch if the batch has any.
                if self.commit.has_changes() && !self.commit.is_holding() {
                    self.commit.hold_from_now();
                }
                self.emit(Outgoing::CallDone(done));
            }
        }
        self.drain_loopback();
    }

    fn drain_loopback(&mut self) {
        while let Some(msg) = self.loopback.pop_front() {
            self.core.on_message(self.id, msg, &mut self.outbox);
            self.execute();
        }
    }

    fn register(&mut self, responder: Responder<N::Resp>, corr: u64) -> ReqId {
        if self.pending.len() >= MAX_PENDING_REPLIES
            && let Some((oldest, _)) = self.pending.pop_first()
        {
            bump(&self.counters.dropped, 1);
            tracing::warn!(
                req = oldest.0,
                "too many unanswered requests; forgetting the oldest"
            );
        }
        self.next_req += 1;
        let req = ReqId(self.next_req);
        self.pending.insert(req, Pending { responder, corr });
        req
    }

    /// Routes the queued effects in order: disk operations and `Sync`s into the turn's batch,
    /// and every other effect out at once, or held if a `Sync` of this turn came before it.
    fn execute(&mut self) {
        // Taken out and put back so the outbox keeps its allocation across inputs.
        let mut outbox = std::mem::take(&mut self.outbox);
        for effect in outbox.drain() {
            match effect {
                Effect::Send { to, msg } | Effect::Respond { to, msg } => {
                    self.emit(Outgoing::Message { to, msg });
                }
                Effect::Reply { req, resp } => self.emit(Outgoing::Reply { req, resp }),
                Effect::Write { file, bytes } => self.disk(DiskOp::Write { file, bytes }),
                Effect::Remove { file } => self.disk(DiskOp::Remove { file }),
                Effect::Append { file, bytes } => self.disk(DiskOp::Append { file, bytes }),
                Effect::Truncate { file, len } => self.disk(DiskOp::Truncate { file, len }),
                Effect::Sync => self.disk(DiskOp::Sync),
            }
        }
        self.outbox = outbox;
    }

    /// Carries out `effect` now, or holds it until the turn's batch is durable.
    fn emit(&mut self, effect: Outgoing<N>) {
        if self.commit.is_holding() {
            self.commit.hold(effect);
        } else {
            self.carry_out(effect);
        }
    }

    fn carry_out(&mut self, effect: Outgoing<N>) {
        match effect {
            Outgoing::Message { to, msg } => self.send(to, msg),
            Outgoing::Reply { req, resp } => self.reply(req, resp),
            Outgoing::CallDone(done) => done(),
        }
    }

    fn disk(&mut self, op: DiskOp) {
        if self.disk.is_none() {
            if !self.warned_no_disk {
                self.warned_no_disk = true;
                tracing::error!(
                    "the core writes files but the node has no data_dir; ignoring them"
                );
            }
            return;
        }
        match op {
            DiskOp::Sync => self.commit.sync(),
            op => self.commit.disk(op),
        }
    }

    fn send(&mut self, to: NodeId, msg: N::Msg) {
        if to == self.id {
            if self.loopback.len() < LOOPBACK_CAPACITY {
                self.loopback.push_back(msg);
            } else {
                bump(&self.counters.dropped, 1);
                tracing::warn!("loopback queue full; message to self dropped");
            }
            return;
        }
        let Some(Some(queue)) = self.peers.get(to.index()) else {
            bump(&self.counters.dropped, 1);
            tracing::warn!(to = %to, "message to a node outside the cluster dropped");
            return;
        };
        if queue.try_send(msg).is_err() {
            // Full (the peer is slow or unreachable) or closed (stopping): the contract allows loss.
            bump(&self.counters.dropped, 1);
            tracing::trace!(to = %to, "peer queue full; message dropped");
        }
    }

    fn reply(&mut self, req: ReqId, resp: N::Resp) {
        let Some(Pending { responder, corr }) = self.pending.remove(&req) else {
            tracing::debug!(
                req = req.0,
                "reply to a request that is answered, expired or gone"
            );
            return;
        };
        match responder.try_send((corr, resp)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                bump(&self.counters.dropped, 1);
                tracing::warn!(req = req.0, "client connection not reading; reply dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!(req = req.0, "client connection closed; reply dropped");
            }
        }
    }

    /// Ends the turn: runs its batch (if any) and, once that is durable, releases every effect
    /// held for it, in order. On a disk error the held effects are never released.
    ///
    /// A batch that nothing waits for (changes without a `Sync`, such as a log's records that
    /// need not be durable yet) is kept for a later turn's batch, up to
    /// [`MAX_TURN_BATCH_BYTES`], unless `force`: the contract makes them durable only at a
    /// later `Sync`, and running them now would cost the actor a blocking write per input.
    async fn commit(&mut self, inputs: usize, force: bool) -> io::Result<()> {
        let held = self.commit.is_holding();
        if !held && !force && self.commit.batch_bytes() < MAX_TURN_BATCH_BYTES {
            return Ok(());
        }
        let Batch { ops, syncs } = self.commit.take_batch();
        if !ops.is_empty() {
            self.run_batch(ops).await?;
        }
        if syncs > 0 {
            bump(&self.counters.disk_syncs, syncs);
        }
        if held {
            bump(&self.counters.group_commits, 1);
            bump(&self.counters.group_commit_inputs, inputs as u64);
        }
        for effect in self.commit.release() {
            self.carry_out(effect);
        }
        Ok(())
    }

    /// Runs `ops` on a blocking thread, in one call: every `Append` before a `Sync` shares that
    /// `Sync`'s one fsync per file.
    async fn run_batch(&mut self, ops: Vec<DiskOp>) -> io::Result<()> {
        let mut disk = self
            .disk
            .take()
            .expect("without a data_dir, disk effects never reach a batch");
        let fsyncs_before = disk.fsyncs();
        // The actor waits here: nothing after a Sync may leave before the disk says it is done.
        let (disk, result) = tokio::task::spawn_blocking(move || {
            let result = disk.apply(&ops);
            (disk, result)
        })
        .await
        .map_err(io::Error::other)?;
        bump(&self.counters.disk_fsyncs, disk.fsyncs() - fsyncs_before);
        self.disk = Some(disk);
        result
    }
}

#[cfg(test)]
mod tests;
