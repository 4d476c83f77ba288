//! The Paxos peer as a real network server: the same [`Peer`] core, driven by the TCP runtime.
//!
//! [`PaxosServer`] is the SPEC §5.1 API in async form. Each call runs on the core inside its actor
//! task (so calls and protocol messages never race), and `start`'s messages leave over TCP.

use crate::msg::{Fate, Seq, Value};
use crate::peer::Peer;
use rpc::runtime::{NodeConfig, NodeHandle, Stats, spawn_node};
use rpc::{NodeId, RpcError};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// The tick of a Paxos server. Proposers retry after 3 ticks, so a round lost to a dead peer
/// costs 30 ms; a shorter tick would only add wake-ups.
pub const TICK: Duration = Duration::from_millis(10);

/// The longest pause between two polls in [`PaxosServer::wait_decided`] (the original test's
/// `waitn` doubled from 10 ms; we start lower because loopback decides in well under 1 ms).
const POLL_PAUSE_MAX: Duration = Duration::from_millis(50);

/// A running Paxos peer. Dropping it kills the peer.
pub struct PaxosServer {
    node: NodeHandle<Peer>,
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
        let core = Peer::new(me, count, seed);
        let config = NodeConfig {
            id: me,
            listener,
            peers,
            tick: TICK,
            data_dir: None,
        };
        PaxosServer {
            node: spawn_node(core, config),
        }
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
            .call(move |peer, out| peer.start(seq, value, out))
            .await
    }

    /// What this peer knows of `seq` (SPEC §5.1 `Status`).
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server has stopped.
    pub async fn status(&self, seq: Seq) -> Result<(Fate, Option<Value>), RpcError> {
        self.node.call(move |peer, _| peer.status(seq)).await
    }

    /// The application is done with every instance `<= seq` (SPEC §5.1 `Done`).
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server has stopped.
    pub async fn done(&self, seq: Seq) -> Result<(), RpcError> {
        self.node.call(move |peer, _| peer.done(seq)).await
    }

    /// The highest instance known here (SPEC §5.1 `Max`).
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server has stopped.
    pub async fn max(&self) -> Result<Option<Seq>, RpcError> {
        self.node.call(|peer, _| peer.max()).await
    }

    /// The lowest instance not forgotten (SPEC §5.1 `Min`).
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server has stopped.
    pub async fn min(&self) -> Result<Seq, RpcError> {
        self.node.call(|peer, _| peer.min()).await
    }

    /// Bytes the peer retains for its instances.
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server has stopped.
    pub async fn retained_bytes(&self) -> Result<usize, RpcError> {
        self.node.call(|peer, _| peer.retained_bytes()).await
    }

    /// Polls `status(seq)` until it is decided, with a pause that doubles from 100 µs up to
    /// 50 ms, for at most `limit`.
    ///
    /// # Errors
    /// [`WaitError::Timeout`] if not decided in time, [`WaitError::Forgotten`] if forgotten first,
    /// [`WaitError::Stopped`] if the server stopped.
    pub async fn wait_decided(&self, seq: Seq, limit: Duration) -> Result<Value, WaitError> {
        let waiting = async {
            let mut pause = Duration::from_micros(100);
            loop {
                match self.status(seq).await? {
                    (Fate::Decided, Some(value)) => return Ok(value),
                    (Fate::Forgotten, _) => return Err(WaitError::Forgotten(seq)),
                    _ => {}
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(POLL_PAUSE_MAX);
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
