//! The actor: the one task that owns a node's core and carries out its effects in order.

use super::WireNode;
use super::peer::{self, PeerLink};
use super::stats::{Counters, bump};
use crate::disk::{DiskDir, DiskOp};
use crate::ids::{NodeId, ReqId};
use crate::node::{Effect, Node, NodeOutbox};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
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

/// A call into the core's local API; it returns what to do once its effects are carried out.
pub(crate) type Job<N> =
    Box<dyn FnOnce(&mut N, &mut NodeOutbox<N>) -> Box<dyn FnOnce() + Send> + Send>;

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
            let step = tokio::select! {
                // Ticks first: a busy inbox must not stop time for the core.
                biased;
                () = self.stop.cancelled() => break,
                _ = ticker.tick() => self.on_tick().await,
                input = self.inbox.recv() => match input {
                    Some(input) => self.on_input(input).await,
                    None => break,
                },
            };
            if let Err(err) = step {
                tracing::error!(%err, "disk failed; stopping the node as a crash would");
                self.stop.cancel();
                break;
            }
        }
        // Closing the queues lets every peer task finish; they also watch `stop`.
        self.peers.clear();
        while self.peer_tasks.join_next().await.is_some() {}
    }

    async fn on_tick(&mut self) -> io::Result<()> {
        // Answers to a closed connection can never be delivered: forget them now.
        self.pending
            .retain(|_, pending| !pending.responder.is_closed());
        self.core.on_tick(&mut self.outbox);
        self.execute().await?;
        self.drain_loopback().await
    }

    async fn on_input(&mut self, input: Input<N>) -> io::Result<()> {
        match input {
            Input::Message { from, msg } => {
                tracing::trace!(from = %from, ?msg, "message");
                self.core.on_message(from, msg, &mut self.outbox);
                self.execute().await?;
            }
            Input::Request {
                responder,
                corr,
                body,
            } => {
                let req = self.register(responder, corr);
                tracing::debug!(req = req.0, ?body, "request");
                self.core.on_request(req, body, &mut self.outbox);
                self.execute().await?;
            }
            Input::Call(job) => {
                let done = job(&mut self.core, &mut self.outbox);
                self.execute().await?;
                done();
            }
        }
        self.drain_loopback().await
    }

    async fn drain_loopback(&mut self) -> io::Result<()> {
        while let Some(msg) = self.loopback.pop_front() {
            self.core.on_message(self.id, msg, &mut self.outbox);
            self.execute().await?;
        }
        Ok(())
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

    /// Carries out the queued effects in order. Disk operations are batched up to each `Sync`
    /// (and the end), and the batch is awaited before the effects after it. The batch goes to
    /// one blocking call, so every `Append` before a `Sync` shares that `Sync`'s one fsync.
    async fn execute(&mut self) -> io::Result<()> {
        let effects: Vec<_> = self.outbox.drain().collect();
        let mut batch = Vec::new();
        for effect in effects {
            match effect {
                Effect::Send { to, msg } | Effect::Respond { to, msg } => self.send(to, msg),
                Effect::Reply { req, resp } => self.reply(req, resp),
                Effect::Write { file, bytes } => batch.push(DiskOp::Write { file, bytes }),
                Effect::Remove { file } => batch.push(DiskOp::Remove { file }),
                Effect::Append { file, bytes } => batch.push(DiskOp::Append { file, bytes }),
                Effect::Truncate { file, len } => batch.push(DiskOp::Truncate { file, len }),
                Effect::Sync => {
                    batch.push(DiskOp::Sync);
                    self.flush_disk(&mut batch).await?;
                }
            }
        }
        self.flush_disk(&mut batch).await
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

    async fn flush_disk(&mut self, batch: &mut Vec<DiskOp>) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(batch);
        let Some(mut disk) = self.disk.take() else {
            if !self.warned_no_disk {
                self.warned_no_disk = true;
                tracing::error!(
                    "the core writes files but the node has no data_dir; ignoring them"
                );
            }
            return Ok(());
        };
        let syncs = ops.iter().filter(|op| matches!(op, DiskOp::Sync)).count() as u64;
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
        result?;
        bump(&self.counters.disk_syncs, syncs);
        Ok(())
    }
}
