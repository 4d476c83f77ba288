//! The Paxos peer as a real network server: the same [`Peer`] core, driven by the TCP runtime.
//!
//! [`PaxosServer`] is the SPEC §5.1 API in async form. Each call runs on the core inside its actor
//! task (so calls and protocol messages never race), and `start`'s messages leave over TCP.
//! Waiting for a decision needs no polling: the shell wraps the core in [`Watched`], which wakes
//! waiters whenever the peer learns a decision.

use crate::msg::{Fate, Msg, Seq, Value};
use crate::peer::{PaxosOutbox, Peer};
use rpc::runtime::{NodeConfig, NodeHandle, Stats, spawn_node};
use rpc::{NoRequest, Node, NodeId, ReqId, RpcError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// The tick of a Paxos server. Proposers retry after 3 ticks, so a round lost to a dead peer
/// costs 30 ms; a shorter tick would only add wake-ups.
pub const TICK: Duration = Duration::from_millis(10);

/// A running Paxos peer. Dropping it kills the peer.
pub struct PaxosServer {
    node: NodeHandle<Watched>,
    decided: Arc<Notify>,
}

/// The peer core plus a shell-side bell rung after any input that taught it a decision. The
/// core stays free of I/O: only this wrapper, which lives in the shell, touches the `Notify`.
#[derive(Debug)]
pub struct Watched {
    peer: Peer,
    decided: Arc<Notify>,
}

impl Watched {
    /// Runs `f` on the peer and rings the bell if the peer learned a decision meanwhile.
    fn watch<T>(&mut self, f: impl FnOnce(&mut Peer) -> T) -> T {
        let before = self.peer.decisions_learned();
        let result = f(&mut self.peer);
        if self.peer.decisions_learned() != before {
            self.decided.notify_waiters();
        }
        result
    }
}

impl Node for Watched {
    type Msg = Msg;
    type Req = NoRequest;
    type Resp = NoRequest;

    fn on_message(&mut self, from: NodeId, msg: Msg, out: &mut PaxosOutbox) {
        self.watch(|peer| peer.on_message(from, msg, out));
    }

    fn on_request(&mut self, req: ReqId, body: NoRequest, out: &mut PaxosOutbox) {
        self.watch(|peer| peer.on_request(req, body, out));
    }

    fn on_tick(&mut self, out: &mut PaxosOutbox) {
        self.watch(|peer| peer.on_tick(out));
    }
}

/// Why [`PaxosServer::wait_decided`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The server stopped.
    #[error("the Paxos server stopped: {0}")]
    Stopped(#[from] RpcError),
    /// The instance was not decided in time (or this peer never learns it).
    #[error("instance {seq} not decided within {waited:?}")]
    Timeout {
        /// The instance.
        seq: Seq,
        /// How long we waited.
        waited: Duration,
    },
    /// The instance was forgotten before this peer learned it.
    #[error("instance {0} was forgotten")]
    Forgotten(Seq),
}

impl PaxosServer {
    /// Starts peer `me` of the cluster whose peer addresses are `peers`, serving on `listener`
    /// (already bound to `peers[me]`, or to port 0 in tests). `seed` drives its back-off jitter.
    pub fn spawn(me: NodeId, peers: Vec<SocketAddr>, listener: TcpListener, seed: u64) -> Self {
        let count = u32::try_from(peers.len()).expect("peer count fits in u32");
        let decided = Arc::new(Notify::new());
        let core = Watched {
            peer: Peer::new(me, count, seed),
            decided: decided.clone(),
        };
        let config = NodeConfig {
            id: me,
            listener,
            peers,
            tick: TICK,
            data_dir: None,
        };
        PaxosServer {
            node: spawn_node(core, config),
            decided,
        }
    }

    /// Starts a cluster of `count` peers on ephemeral loopback ports, talking directly to each
    /// other (tests, benches). Peer `i` is seeded with `seed + i`.
    ///
    /// # Errors
    /// If the sockets cannot be bound.
    pub async fn local_cluster(count: u32, seed: u64) -> std::io::Result<Vec<PaxosServer>> {
        let (listeners, addrs) = rpc::bind_loopback(count as usize).await?;
        Ok(listeners
            .into_iter()
            .zip(0..count)
            .map(|(listener, i)| {
                let seed = seed.wrapping_add(u64::from(i));
                PaxosServer::spawn(NodeId(i), addrs.clone(), listener, seed)
            })
            .collect())
    }

    /// This peer's id.
    pub fn id(&self) -> NodeId {
        self.node.id()
    }

    /// Begins agreement on `seq` with proposal `value` (SPEC §5.1 `Start`); returns at once.
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server has stopped.
    pub async fn start(&self, seq: Seq, value: Value) -> Result<(), RpcError> {
        self.node
            .call(move |core, out| core.watch(|peer| peer.start(seq, value, out)))
            .await
    }

    /// What this peer knows of `seq` (SPEC §5.1 `Status`).
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server has stopped.
    pub async fn status(&self, seq: Seq) -> Result<(Fate, Option<Value>), RpcError> {
        self.node.call(move |core, _| core.peer.status(seq)).await
    }

    /// The application is done with every instance `<= seq` (SPEC §5.1 `Done`).
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server has stopped.
    pub async fn done(&self, seq: Seq) -> Result<(), RpcError> {
        self.node.call(move |core, _| core.peer.done(seq)).await
    }

    /// The highest instance known here (SPEC §5.1 `Max`).
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server has stopped.
    pub async fn max(&self) -> Result<Option<Seq>, RpcError> {
        self.node.call(|core, _| core.peer.max()).await
    }

    /// The lowest instance not forgotten (SPEC §5.1 `Min`).
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server has stopped.
    pub async fn min(&self) -> Result<Seq, RpcError> {
        self.node.call(|core, _| core.peer.min()).await
    }

    /// Bytes the peer retains for its instances.
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server has stopped.
    pub async fn retained_bytes(&self) -> Result<usize, RpcError> {
        self.node.call(|core, _| core.peer.retained_bytes()).await
    }

    /// Waits until this peer knows the decision of `seq`, for at most `limit`. No polling: it
    /// checks `status` each time the peer learns some decision.
    ///
    /// # Errors
    /// [`WaitError::Timeout`] if not decided in time, [`WaitError::Forgotten`] if forgotten first,
    /// [`WaitError::Stopped`] if the server stopped.
    pub async fn wait_decided(&self, seq: Seq, limit: Duration) -> Result<Value, WaitError> {
        let waiting = async {
            loop {
                // Register for the bell before looking, so a decision between the look and the
                // wait still wakes us.
                let bell = self.decided.notified();
                tokio::pin!(bell);
                bell.as_mut().enable();
                match self.status(seq).await? {
                    (Fate::Decided, Some(value)) => return Ok(value),
                    (Fate::Forgotten, _) => return Err(WaitError::Forgotten(seq)),
                    _ => bell.await,
                }
            }
        };
        match tokio::time::timeout(limit, waiting).await {
            Ok(result) => result,
            Err(_) => Err(WaitError::Timeout { seq, waited: limit }),
        }
    }

    /// Transport counters since the peer started.
    pub fn stats(&self) -> Stats {
        self.node.stats()
    }

    /// Stops the peer abruptly, as a crashed process (SPEC §5.1 `Kill`).
    pub fn kill(&self) {
        self.node.kill();
    }

    /// Stops the peer gracefully and waits until it has stopped.
    pub async fn shutdown(self) {
        self.node.shutdown().await;
    }
}
