//! The actor: the one task that owns a node's core and carries out its effects in order.
//!
//! Inputs are handled one at a time. When an input's effects include a `Sync` with something to
//! make durable, every effect that leaves the node from that `Sync` on is held back, and the
//! inputs already waiting in the inbox are handled into the same disk batch (never waiting for
//! more). Then the batch goes to a blocking thread, and the actor goes on handling inputs while
//! it runs: their disk operations fill the next batch, their outgoing effects wait. When a batch
//! completes, the effects that waited for it leave, in order, and the next batch starts at once
//! if anything waits for it (group commit with one batch on the disk, see [`super::commit`]).
//! Under load one fsync thus covers every input that arrived while the previous one ran.

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
use tokio::task::{JoinHandle, JoinSet};
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

/// Inputs (and ticks) already waiting that the actor handles into a batch before it starts the
/// batch, when no other batch is on the disk. Why 64: the first input's answers wait while the
/// others are handled, and handling one takes microseconds against the fraction of a millisecond
/// of an fsync, so 64 keeps that extra wait under one fsync while one fsync serves 64 clients
/// (the largest load the benches drive).
pub const MAX_TURN_INPUTS: usize = 64;

/// Inputs one batch may take while another batch is on the disk; past it the actor stops reading
/// its inbox (ticks go on) until the disk is done. Why a bound: every effect of those inputs is
/// held in memory until two batches have run. 1024 is 16 times the load the benches drive.
pub const MAX_BATCH_INPUTS: usize = 1024;

/// File content (writes and appends) after which a batch takes no more inputs. Why 1 MiB: every
/// held effect waits for the whole batch to be written, and 1 MiB is written in about a
/// millisecond, more than the fsync itself; it also caps what a batch holds in memory beyond the
/// inputs themselves. One input's own effects are never split, so a batch may exceed it.
pub const MAX_TURN_BATCH_BYTES: usize = 1 << 20;

/// Outbound links to nodes named by address ([`Effect::SendTo`]) kept at once. Why 64: a node
/// messages the servers of the groups it trades shards with, a handful of groups of a few
/// servers; past it the link used longest ago is closed (a message to it later dials again).
pub const MAX_ADDRESS_PEERS: usize = 64;

/// A call into the core's local API; it returns what to do once its effects are carried out.
pub(crate) type Job<N> =
    Box<dyn FnOnce(&mut N, &mut NodeOutbox<N>) -> Box<dyn FnOnce() + Send> + Send>;

/// What the actor handles: something from the inbox, or a tick.
enum Next<N: Node> {
    Input(Input<N>),
    Tick,
}

/// What a batch's blocking thread hands back: the directory, and how the batch went.
type BatchDone = (DiskDir, io::Result<()>);

/// An effect that leaves the node, or ends a call: what a turn holds back after a `Sync`.
enum Outgoing<N: Node> {
    /// A `Send` or `Respond` (to a peer, or to the node itself).
    Message { to: NodeId, msg: N::Msg },
    /// A `SendTo`: to the node at an address.
    MessageTo { addr: String, msg: N::Msg },
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

/// An outbound link to a node named by address.
struct AddressPeer<M> {
    queue: mpsc::Sender<M>,
    /// Stops this link's task alone (a child of the node's token).
    stop: CancellationToken,
    /// [`Actor::address_uses`] when it was last used.
    used: u64,
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
    /// Links to nodes by address, at most [`MAX_ADDRESS_PEERS`].
    address_peers: BTreeMap<String, AddressPeer<N::Msg>>,
    /// Counts `SendTo`s, to find the link used longest ago.
    address_uses: u64,
    loopback: VecDeque<N::Msg>,
    /// The disk batches and the effects they hold back.
    commit: GroupCommit<Outgoing<N>>,
    /// The batch on the disk: its number and the blocking task running it, which owns the
    /// directory meanwhile.
    in_flight: Option<(Batch, JoinHandle<BatchDone>)>,
    pending: BTreeMap<ReqId, Pending<N::Resp>>,
    next_req: u64,
    /// The node's directory, `None` while a batch runs on it (or if the node has none).
    disk: Option<DiskDir>,
    /// The node has a data directory (`disk` is `None` also while a batch runs).
    has_dir: bool,
    /// fsyncs of the directory already added to the counters.
    fsyncs_counted: u64,
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
            address_peers: BTreeMap::new(),
            address_uses: 0,
            loopback: VecDeque::new(),
            commit: GroupCommit::new(),
            in_flight: None,
            pending: BTreeMap::new(),
            next_req: 0,
            has_dir: data_dir.is_some(),
            disk: data_dir.map(DiskDir::new),
            fsyncs_counted: 0,
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
            let taking_inputs = self.takes_inputs();
            let next = tokio::select! {
                // The disk first, so held effects leave as soon as they may; then ticks: a busy
                // inbox must not stop time for the core.
                biased;
                () = self.stop.cancelled() => break,
                done = in_flight(&mut self.in_flight) => Err(done),
                _ = ticker.tick() => Ok(Next::Tick),
                input = self.inbox.recv(), if taking_inputs => match input {
                    Some(input) => Ok(Next::Input(input)),
                    None => break,
                },
            };
            let result = match next {
                Ok(next) => {
                    self.handle(next);
                    Ok(())
                }
                Err(done) => self.finish_batch(done),
            };
            if let Err(err) = result.and_then(|()| self.start_batch(&mut ticker)) {
                // Whatever was held is dropped unsent: it was never durable.
                tracing::error!(%err, "disk failed; stopping the node as a crash would");
                self.stop.cancel();
                return self.stop_peers().await;
            }
        }
        // A clean stop keeps everything: the batch on the disk completes, and changes kept back
        // for a later batch go to disk now.
        if let Err(err) = self.flush().await {
            tracing::error!(%err, "disk failed while stopping");
        }
        self.stop_peers().await;
    }

    async fn stop_peers(&mut self) {
        // Closing the queues lets every peer task finish; they also watch `stop`.
        self.peers.clear();
        while self.peer_tasks.join_next().await.is_some() {}
    }

    /// Whether to read the inbox now: always, unless a batch is on the disk and the next one is
    /// full, in inputs or bytes (ticks and the disk are still handled).
    fn takes_inputs(&self) -> bool {
        !self.commit.in_flight()
            || (self.commit.batch_inputs() < MAX_BATCH_INPUTS
                && self.commit.batch_bytes() < MAX_TURN_BATCH_BYTES)
    }

    /// Starts the open batch if the disk is free and something waits for it (or it has grown
    /// to [`MAX_TURN_BATCH_BYTES`] of changes nothing waits for yet). First it takes the inputs
    /// already waiting, up to [`MAX_TURN_INPUTS`], so that a burst shares one fsync.
    fn start_batch(&mut self, ticker: &mut Interval) -> io::Result<()> {
        if self.commit.in_flight() {
            return Ok(());
        }
        let mut taken = 0;
        while self.commit.open_batch_awaited()
            && taken < MAX_TURN_INPUTS
            && self.commit.batch_bytes() < MAX_TURN_BATCH_BYTES
            && !self.stop.is_cancelled()
        {
            let Some(next) = self.queued(ticker) else {
                break;
            };
            self.handle(next);
            taken += 1;
        }
        if self.commit.open_batch_awaited() || self.commit.batch_bytes() >= MAX_TURN_BATCH_BYTES {
            self.submit();
        }
        Ok(())
    }

    /// Takes the open batch and hands it to a blocking thread: the actor goes on meanwhile.
    fn submit(&mut self) {
        let mut batch = self.commit.take_batch();
        let ops = std::mem::take(&mut batch.ops);
        let mut disk = self
            .disk
            .take()
            .expect("the directory is back whenever no batch is on the disk");
        let task = tokio::task::spawn_blocking(move || {
            let result = disk.apply(&ops);
            (disk, result)
        });
        self.in_flight = Some((batch, task));
    }

    /// The batch on the disk has run: take the directory back and release what waited for it.
    /// On a disk error nothing held is ever released.
    fn finish_batch(
        &mut self,
        (batch, done): (Batch, Result<BatchDone, tokio::task::JoinError>),
    ) -> io::Result<()> {
        let (disk, result) = done.map_err(io::Error::other)?;
        let fsyncs_before = self.fsyncs_counted;
        self.fsyncs_counted = disk.fsyncs();
        bump(&self.counters.disk_fsyncs, disk.fsyncs() - fsyncs_before);
        self.disk = Some(disk);
        result?;
        if batch.syncs > 0 {
            bump(&self.counters.disk_syncs, batch.syncs);
        }
        if batch.awaited {
            bump(&self.counters.group_commits, 1);
            bump(&self.counters.group_commit_inputs, batch.inputs as u64);
        }
        for effect in self.commit.completed(batch.number) {
            self.carry_out(effect);
        }
        // Messages the node sent itself that were held come back now.
        self.drain_loopback();
        Ok(())
    }

    /// At a clean stop: waits for the batch on the disk, then runs whatever is left, held or
    /// not, and releases every effect.
    async fn flush(&mut self) -> io::Result<()> {
        loop {
            if let Some(done) = self.in_flight.take() {
                let (batch, task) = done;
                let done = task.await;
                self.finish_batch((batch, done))?;
            } else if self.commit.open_batch_awaited() || self.commit.has_changes() {
                self.submit();
            } else {
                return Ok(());
            }
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
        self.commit.input();
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
                // even unsynced ones, so it waits for the batch that holds them.
                self.commit.wait_for_changes();
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
                Effect::SendTo { addr, msg } => self.emit(Outgoing::MessageTo { addr, msg }),
                Effect::Write { file, bytes } => self.disk(DiskOp::Write { file, bytes }),
                Effect::Remove { file } => self.disk(DiskOp::Remove { file }),
                Effect::Append { file, bytes } => self.disk(DiskOp::Append { file, bytes }),
                Effect::Truncate { file, len } => self.disk(DiskOp::Truncate { file, len }),
                Effect::Sync => self.disk(DiskOp::Sync),
            }
        }
        self.outbox = outbox;
    }

    /// Carries out `effect` now, or holds it until the batches it waits for are durable.
    fn emit(&mut self, effect: Outgoing<N>) {
        if self.commit.must_hold() {
            self.commit.hold(effect);
        } else {
            self.carry_out(effect);
        }
    }

    fn carry_out(&mut self, effect: Outgoing<N>) {
        match effect {
            Outgoing::Message { to, msg } => self.send(to, msg),
            Outgoing::MessageTo { addr, msg } => self.send_to(&addr, msg),
            Outgoing::Reply { req, resp } => self.reply(req, resp),
            Outgoing::CallDone(done) => done(),
        }
    }

    fn disk(&mut self, op: DiskOp) {
        if !self.has_dir {
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

    /// Sends `msg` to the node at `addr` over a link by address, opening one (and closing the
    /// one used longest ago, past [`MAX_ADDRESS_PEERS`]) if there is none yet.
    fn send_to(&mut self, addr: &str, msg: N::Msg) {
        self.address_uses += 1;
        let uses = self.address_uses;
        if !self.address_peers.contains_key(addr) {
            // Addresses come from configurations, which other nodes wrote: untrusted. Only a
            // literal `ip:port` is dialled; a name would need DNS, off the actor's path.
            let Ok(socket) = addr.parse::<SocketAddr>() else {
                bump(&self.counters.dropped, 1);
                tracing::warn!(addr, "message to an address that is not ip:port dropped");
                return;
            };
            if self.address_peers.len() >= MAX_ADDRESS_PEERS {
                let oldest = self
                    .address_peers
                    .iter()
                    .min_by_key(|(_, p)| p.used)
                    .map(|(a, _)| a.clone())
                    .expect("the table is full, so not empty");
                if let Some(closed) = self.address_peers.remove(&oldest) {
                    closed.stop.cancel();
                }
                // Reap the tasks of links closed before, so finished ones do not pile up.
                while self.peer_tasks.try_join_next().is_some() {}
            }
            let (tx, rx) = mpsc::channel(peer::PEER_QUEUE_CAPACITY);
            let stop = self.stop.child_token();
            let link = PeerLink {
                me: self.id,
                cluster: Arc::new(Vec::new()),
                to: NodeId::EXTERNAL,
                addr: socket,
                stop: stop.clone(),
                counters: self.counters.clone(),
            };
            let span = tracing::debug_span!("peer by address", %socket);
            self.peer_tasks.spawn(peer::run(link, rx).instrument(span));
            let link = AddressPeer {
                queue: tx,
                stop,
                used: uses,
            };
            self.address_peers.insert(addr.to_string(), link);
        }
        let link = self.address_peers.get_mut(addr).expect("inserted above");
        link.used = uses;
        if link.queue.try_send(msg).is_err() {
            bump(&self.counters.dropped, 1);
            tracing::trace!(addr, "queue to an address full; message dropped");
        }
        assert!(
            self.address_peers.len() <= MAX_ADDRESS_PEERS,
            "address links bound"
        );
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
}

/// Waits for the batch on the disk, if any (never completes otherwise).
async fn in_flight(
    in_flight: &mut Option<(Batch, JoinHandle<BatchDone>)>,
) -> (Batch, Result<BatchDone, tokio::task::JoinError>) {
    match in_flight {
        Some((_, task)) => {
            let done = task.await;
            let (batch, _) = in_flight.take().expect("matched Some");
            (batch, done)
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
