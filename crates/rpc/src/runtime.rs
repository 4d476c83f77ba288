//! The real driver: any [`Node`] core over TCP, on tokio, with a real directory for its files.
//!
//! ```text
//!                 +------------------------- one node (spawn_node) --------------------------+
//!  peers/clients  |  listener --accept--> connection tasks --Input--> [inbox] --> actor       |
//!  ------TCP----> |  (MAX_CONNECTIONS)     decode frames     (bounded)          owns the core |
//!                 |                        <--(id, resp)-- reply queue <--Reply---  |         |
//!                 |                                                      Send/Respond|Write.. |
//!  <-----TCP----- |  peer tasks (one per peer, reconnecting) <--[queue]----------+   v         |
//!                 |                                                           data_dir        |
//!                 +---------------------------------------------------------------------------+
//! ```
//!
//! One **actor** task owns the core. It takes one input at a time (a peer message, a client
//! request, a tick, or a [`NodeHandle::call`]) and carries out the effects in order:
//!
//! 1. `Send`/`Respond` go to the bounded queue of the destination's **peer task**, which keeps
//!    one outbound connection open and redials with capped, jittered backoff. A full queue drops
//!    the message and counts it: the contract allows loss, and a slow peer must not stall the
//!    node. A message to the node itself is delivered locally, after the current input.
//! 2. `Reply` goes back to the client connection the request came on, under the client's
//!    correlation id (the actor maps each [`ReqId`](crate::ReqId) to both).
//! 3. `Write`/`Remove`/`Append`/`Truncate` join the turn's disk batch, which runs on a blocking
//!    thread, in one call, when the turn ends. A turn is one input, unless its effects include a
//!    `Sync` with something to make durable: then the actor holds back every later
//!    `Send`/`Respond`/`Reply` (and a call's answer, and a message to itself) and goes on with
//!    the inputs *already* waiting in the inbox, ticks first (at most [`MAX_TURN_INPUTS`], or
//!    until the batch holds [`MAX_TURN_BATCH_BYTES`]; it never waits for more), adding their
//!    changes to the batch and their effects to the held ones. It then runs the batch, ending
//!    with one `Sync`, and releases what it held in the original order: one fsync serves every
//!    input of the turn (**group commit**), and a `Sync` is still durable before any later
//!    effect leaves. Effects before the turn's first `Sync` leave at once, and an input with
//!    nothing to sync waits for nothing. `Sync`s are merged only while every change since the
//!    last real one appends to a single file (a log), where merging changes nothing a crash may
//!    keep; otherwise the batch keeps a `Sync` between the changes. A disk error stops the node,
//!    as a crash would, and nothing held is released: its promises can no longer be kept.
//!
//! Connection tasks decode frames in parallel and feed the actor through a bounded inbox, so a
//! flood of requests slows the senders (TCP backpressure) instead of growing memory. A malformed,
//! oversized, undecodable or misplaced frame closes only its own connection, with a warning.
//!
//! Stopping: [`NodeHandle::kill`] aborts everything at once (a crashed process: the listener and
//! every connection close, queued messages are lost); [`NodeHandle::shutdown`] asks every task to
//! stop after its current step and waits for all of them (mini-redis style, with a cancellation
//! token as the broadcast, which unlike a broadcast channel is also seen by late subscribers).

mod actor;
mod commit;
mod connection;
mod listener;
mod peer;
mod stats;

pub use actor::{
    LOOPBACK_CAPACITY, MAX_ADDRESS_PEERS, MAX_PENDING_REPLIES, MAX_TURN_BATCH_BYTES,
    MAX_TURN_INPUTS,
};
pub use connection::{FIRST_FRAME_TIMEOUT, RESPONSE_QUEUE_CAPACITY};
pub use listener::{ACCEPT_BACKOFF_BASE, ACCEPT_BACKOFF_MAX, MAX_CONNECTIONS};
pub use peer::{
    CONNECT_TIMEOUT, PEER_QUEUE_CAPACITY, RECONNECT_BACKOFF_BASE, RECONNECT_BACKOFF_MAX,
    WRITE_TIMEOUT,
};
pub use stats::Stats;

use crate::error::RpcError;
use crate::ids::NodeId;
use crate::node::{Node, NodeOutbox};
use crate::wire::Wire;
use actor::{Actor, Input, Job};
use stats::Counters;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Binds `count` listeners on ephemeral ports of 127.0.0.1 and returns them with their
/// addresses, in order: the peer list of a local cluster (tests, benches, demos).
///
/// # Errors
/// If a socket cannot be bound (out of ports or file descriptors).
pub async fn bind_loopback(count: usize) -> std::io::Result<(Vec<TcpListener>, Vec<SocketAddr>)> {
    let mut listeners = Vec::with_capacity(count);
    let mut addrs = Vec::with_capacity(count);
    for _ in 0..count {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        addrs.push(listener.local_addr()?);
        listeners.push(listener);
    }
    Ok((listeners, addrs))
}

/// Inputs waiting for the actor. Why 1024: enough to absorb a burst from every peer and a few
/// hundred clients; beyond it connection tasks wait, which pushes back on the senders over TCP
/// rather than letting a flood grow the node's memory.
pub const INBOX_CAPACITY: usize = 1024;

/// A core that the TCP runtime can drive: its messages, requests and answers travel in frames,
/// and the core moves into the actor task. Implemented for every such [`Node`].
pub trait WireNode: Node<Msg: Wire, Req: Wire, Resp: Wire> + Send + 'static {}

impl<N> WireNode for N where N: Node<Msg: Wire, Req: Wire, Resp: Wire> + Send + 'static {}

/// Everything a node needs besides its core.
#[derive(Debug)]
pub struct NodeConfig {
    /// This node's identity: its index in `peers`.
    pub id: NodeId,
    /// A listener already bound to this node's address (tests bind `127.0.0.1:0`).
    pub listener: TcpListener,
    /// Every node's address, indexed by [`NodeId`]. The node's own entry is not dialled.
    pub peers: Vec<SocketAddr>,
    /// How often the core's `on_tick` runs.
    pub tick: Duration,
    /// The node's own directory for `Write`/`Remove`/`Sync`; `None` for a node without a disk
    /// (disk effects are then logged as errors and ignored).
    pub data_dir: Option<PathBuf>,
}

/// A running node. Dropping the handle kills the node.
pub struct NodeHandle<N: WireNode> {
    id: NodeId,
    inbox: mpsc::Sender<Input<N>>,
    stop: CancellationToken,
    counters: Arc<Counters>,
    task: Option<JoinHandle<()>>,
}

/// Starts `core` as node `config.id`: an actor, a listener and one task per peer.
///
/// # Panics
/// If called outside a tokio runtime, if `config.id` is not an index of `config.peers`, or if
/// `config.tick` is zero.
pub fn spawn_node<N: WireNode>(core: N, config: NodeConfig) -> NodeHandle<N> {
    let NodeConfig {
        id,
        listener,
        peers,
        tick,
        data_dir,
    } = config;
    assert!(
        id.index() < peers.len(),
        "node {id} is not in a peer list of {}",
        peers.len()
    );
    assert!(tick > Duration::ZERO, "a zero tick interval would spin");
    let stop = CancellationToken::new();
    let counters = Arc::new(Counters::default());
    let (inbox_tx, inbox_rx) = mpsc::channel(INBOX_CAPACITY);
    let shared = connection::Shared {
        id,
        peer_count: peers.len(),
        cluster: Arc::new(peers.clone()),
        inbox: inbox_tx.clone(),
        stop: stop.clone(),
        counters: counters.clone(),
    };
    let (handle_stop, handle_counters) = (stop.clone(), counters.clone());
    let span = tracing::info_span!("node", id = %id);
    let task = tokio::spawn(
        async move {
            let actor = Actor::new(core, id, &peers, tick, data_dir, inbox_rx, stop, counters);
            tokio::join!(actor.run(), listener::run(listener, shared));
            tracing::debug!("node stopped");
        }
        .instrument(span),
    );
    NodeHandle {
        id,
        inbox: inbox_tx,
        stop: handle_stop,
        counters: handle_counters,
        task: Some(task),
    }
}

impl<N: WireNode> NodeHandle<N> {
    /// The node's identity.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Runs `f` on the core inside the actor, carries out the effects it queued, then returns
    /// its result. This is how an application uses a core's local API (`start`, `status`, ...).
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the node has stopped (the closure may or may not have run).
    pub async fn call<T, F>(&self, f: F) -> Result<T, RpcError>
    where
        T: Send + 'static,
        F: FnOnce(&mut N, &mut NodeOutbox<N>) -> T + Send + 'static,
    {
        let (answer_tx, answer_rx) = oneshot::channel();
        let job: Job<N> = Box::new(move |core, out| {
            let answer = f(core, out);
            // Sent only after the actor has carried out the effects, so the caller sees them done.
            Box::new(move || {
                let _ = answer_tx.send(answer);
            })
        });
        self.inbox
            .send(Input::Call(job))
            .await
            .map_err(|_| RpcError::Shutdown)?;
        answer_rx.await.map_err(|_| RpcError::Shutdown)
    }

    /// Hands `body` to the core as a client request from inside this process (a front door
    /// speaking another protocol, say) and waits for the core's `Reply`. It takes the very path
    /// of a request that came over TCP: the same request ids, the same bound
    /// ([`MAX_PENDING_REPLIES`]) and the same forgetting of requesters that gave up.
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the node stopped, or forgot the request (past
    /// [`MAX_PENDING_REPLIES`]) before answering it; the request may have run.
    pub async fn request(&self, body: N::Req) -> Result<N::Resp, RpcError> {
        let (responder, mut answers) = mpsc::channel(1);
        self.inbox
            .send(Input::Request {
                responder,
                corr: 0,
                body,
            })
            .await
            .map_err(|_| RpcError::Shutdown)?;
        let (_, answer) = answers.recv().await.ok_or(RpcError::Shutdown)?;
        Ok(answer)
    }

    /// Counters since the node started.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Stops the node abruptly, like a crashed process: every task is aborted, the listener and
    /// all connections close, queued messages are lost. Returns at once; [`NodeHandle::join`]
    /// waits until the tasks are gone (and the listening port is free again).
    pub fn kill(&self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }

    /// True once every task of the node has stopped.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the node gracefully: no new connections, every task finishes its current step (the
    /// actor completes the effects of the turn it is in, disk included, and takes no more inputs
    /// into it), then this waits for all of them.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        self.wait().await;
    }

    /// Waits until the node has stopped (after [`NodeHandle::kill`], or after it stopped itself
    /// on a disk error). Without either, this waits forever.
    pub async fn join(mut self) {
        self.wait().await;
    }

    async fn wait(&mut self) {
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(()) => {}
                Err(err) if err.is_cancelled() => {}
                Err(err) => tracing::error!(node = %self.id, %err, "node task panicked"),
            }
        }
    }
}

impl<N: WireNode> Drop for NodeHandle<N> {
    fn drop(&mut self) {
        self.kill();
    }
}
