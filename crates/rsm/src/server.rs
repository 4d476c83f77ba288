//! A replica of any state machine as a real network server: the [`Replica`] core on the TCP
//! runtime, with its data directory. Every system's server is this shell around its machine
//! (kvpaxos adds its RESP front door, the shard master nothing), so the checks, the directory
//! handling and the stop logic are written once.
//!
//! ```text
//!   clerks (TcpClerk) ---- frames ----+                         +---- peers (Paxos frames)
//!                                     v                         v
//!                    peer listener: rpc::runtime (actor owns the Replica)
//!                                     ^
//!   a front door in the process ------+ (Submitter: NodeHandle::request)
//! ```
//!
//! The runtime's listener takes both peer connections and clerk requests. A front door in the
//! same process (kvpaxos's RESP listener) is a client of the local core through a
//! [`Submitter`]: it opens sessions and submits commands that go down the very path a clerk's
//! request takes (the log, the sessions, the runtime's bound on unanswered requests).
//!
//! A replica keeps its state in a directory of its own ([`Storage::Dir`], see [`data_dir`]),
//! or nowhere ([`Storage::InMemory`]). The core writes and syncs its files through the
//! runtime; a failed write or fsync stops the node, which [`Server::stopped`] reports.
//!
//! Invariant: sessions come from the log, so two clients, on any replicas and across
//! restarts, never share one.

pub mod data_dir;
pub mod tcp_clerk;

pub use data_dir::{DataDir, DataDirError, DirNames, Storage};
pub use tcp_clerk::{ClerkError, TcpClerk};

use crate::config::{Config, ConfigError};
use crate::machine::StateMachine;
use crate::msg::{Request, Response, RsmError};
use crate::replica::{OpenError, Replica};
use rpc::runtime::{NodeConfig, NodeHandle, spawn_node};
use rpc::{NodeId, RpcError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

/// The tick of a replica over TCP: the simulator's default, which the core's settings
/// (retries, hole filling) are tuned for.
pub const TICK: Duration = Duration::from_millis(10);

/// The most replicas a cluster may have. Paxos messages go to every peer, so a larger group
/// would only be slower; 128 is far past any sensible cluster.
pub const REPLICAS_MAX: usize = 128;

/// How often [`Server::stopped`] looks at the node: a stop it reports is a fatal error, so
/// a tenth of a second late costs nothing, and the check is one atomic load.
pub const STOPPED_POLL: Duration = Duration::from_millis(100);

/// Why a locally submitted command got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// No answer within the deadline. The command may still take effect.
    #[error("timeout (the operation may still happen)")]
    Timeout,
    /// The replica stopped, or forgot the request under overload (past
    /// [`rpc::runtime::MAX_PENDING_REPLIES`] unanswered). The command may have taken effect.
    #[error("the replica has stopped or dropped the request")]
    Shutdown,
}

/// How to reach the local core: cheap to clone, shared by a front door's connections.
pub struct Submitter<M: StateMachine + Send + 'static> {
    node: Arc<NodeHandle<Replica<M>>>,
}

impl<M: StateMachine + Send + 'static> Clone for Submitter<M> {
    fn clone(&self) -> Self {
        Submitter {
            node: self.node.clone(),
        }
    }
}

impl<M: StateMachine + Send + 'static> Submitter<M> {
    /// Sends `req` to the local replica and waits at most `deadline` for its answer.
    async fn request(
        &self,
        req: Request<M::Command>,
        deadline: Duration,
    ) -> Result<Response<M::Output>, SubmitError> {
        match tokio::time::timeout(deadline, self.node.request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(_)) => Err(SubmitError::Shutdown),
            Err(_) => Err(SubmitError::Timeout),
        }
    }

    /// Opens a session through the log.
    ///
    /// # Errors
    /// [`SubmitError`] if no answer came; a session may still be opened (nobody uses it, and
    /// it ages out).
    pub async fn register(&self, deadline: Duration) -> Result<Result<u64, RsmError>, SubmitError> {
        match self.request(Request::Register, deadline).await? {
            Response::Registered { session } => Ok(Ok(session)),
            Response::Refused { error, .. } => Ok(Err(error)),
            Response::Done { .. } => Ok(Err(RsmError::Unavailable)),
        }
    }

    /// Runs command `seq` of `session` on the local replica and waits at most `deadline` for
    /// its answer.
    ///
    /// # Errors
    /// [`SubmitError::Timeout`] or [`SubmitError::Shutdown`]; the command may have run.
    pub async fn submit(
        &self,
        session: u64,
        seq: u64,
        cmd: M::Command,
        deadline: Duration,
    ) -> Result<Result<M::Output, RsmError>, SubmitError> {
        let req = Request::Command { session, seq, cmd };
        match self.request(req, deadline).await? {
            Response::Done { output, .. } => Ok(Ok(output)),
            Response::Refused { error, .. } => Ok(Err(error)),
            // Not an answer a command gets; treat it as a replica that cannot serve.
            Response::Registered { .. } => Ok(Err(RsmError::Unavailable)),
        }
    }

    /// Runs `f` on the local replica, between its inputs: how a system reads its status.
    ///
    /// # Errors
    /// [`SubmitError::Shutdown`] if the replica stopped.
    pub async fn inspect<T, F>(&self, f: F) -> Result<T, SubmitError>
    where
        T: Send + 'static,
        F: FnOnce(&Replica<M>) -> T + Send + 'static,
    {
        self.node
            .call(move |r: &mut Replica<M>, _out| f(r))
            .await
            .map_err(|_: RpcError| SubmitError::Shutdown)
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The replica id is not an index of the peer list.
    #[error("replica id {id} is not in a cluster of {count} replicas")]
    BadId {
        /// The id given.
        id: u32,
        /// The number of replicas.
        count: usize,
    },
    /// Too many replicas (or none).
    #[error("a cluster has 1 to {REPLICAS_MAX} replicas, not {0}")]
    BadCount(usize),
    /// The replica's tunables do not validate.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory cannot be used: in use, another cluster's or system's, damaged, or
    /// an I/O error.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The replica's files are damaged, incomplete or another member's (the message names the
    /// file and, for a damaged log, the offset).
    #[error("data directory {}: {error}", dir.display())]
    Open {
        /// The data directory.
        dir: PathBuf,
        /// What the replica core found.
        error: OpenError,
    },
}

/// Everything a replica server needs.
#[derive(Debug)]
pub struct ServerConfig {
    /// This replica's id: its index in `peers`.
    pub id: NodeId,
    /// Every replica's peer address, by id.
    pub peers: Vec<SocketAddr>,
    /// Bound to `peers[id]` (or port 0 in tests): peers and clerks connect here.
    pub listener: TcpListener,
    /// Seeds the replica's random choices (back-off jitter).
    pub seed: u64,
    /// Where the replica keeps its state.
    pub storage: Storage,
    /// What the system calls its files in the data directory.
    pub names: DirNames,
    /// The replica's tunables.
    pub config: Config,
}

/// A running replica of `M`. Dropping it kills the replica (and releases its data
/// directory).
pub struct Server<M: StateMachine + Send + 'static> {
    node: Arc<NodeHandle<Replica<M>>>,
    /// Its peer (and clerk) address: its entry of the peer list.
    addr: SocketAddr,
    /// The locked data directory, if the replica has one; unlocked when the server is dropped.
    data_dir: Option<DataDir>,
    /// Set by [`Server::kill`]: a stop that was asked for.
    killed: AtomicBool,
}

impl<M: StateMachine + Default + Send + 'static> Server<M> {
    /// Starts a replica. With [`Storage::Dir`], the directory is created if missing, locked,
    /// checked against this system, replica id and peer list (recorded at its first start),
    /// and the replica restored from it.
    ///
    /// # Errors
    /// [`ServerError`] if the id or the peer count is out of range, or the data directory is
    /// in use, another cluster's, system's or replica's, damaged, or cannot be read or
    /// written.
    ///
    /// # Panics
    /// If called outside a tokio runtime.
    pub fn spawn(config: ServerConfig) -> Result<Server<M>, ServerError> {
        let opened = open::<M>(config)?;
        let addr = opened.addr;
        Ok(Server {
            node: Arc::new(spawn_node(opened.replica, opened.node)),
            addr,
            data_dir: opened.data_dir,
            killed: AtomicBool::new(false),
        })
    }

    /// Starts `count` in-memory replicas on ephemeral loopback ports (tests, benches).
    ///
    /// # Errors
    /// If sockets cannot be bound.
    pub async fn local_cluster(count: usize, names: DirNames) -> std::io::Result<Vec<Server<M>>> {
        let (listeners, addrs) = rpc::bind_loopback(count).await?;
        let mut servers = Vec::with_capacity(count);
        for (i, listener) in listeners.into_iter().enumerate() {
            let id = NodeId(u32::try_from(i).map_err(std::io::Error::other)?);
            let config = ServerConfig {
                id,
                peers: addrs.clone(),
                listener,
                seed: i as u64 + 1,
                storage: Storage::InMemory,
                names,
                config: Config::default(),
            };
            servers.push(Server::spawn(config).map_err(std::io::Error::other)?);
        }
        Ok(servers)
    }

    /// A handle for submitting commands to this replica directly.
    pub fn submitter(&self) -> Submitter<M> {
        Submitter {
            node: self.node.clone(),
        }
    }
}

/// A replica opened on its storage, with what the runtime needs to run it: the first half of
/// [`Server::spawn`], for a system whose node wraps the replica (shardkv's server adds the
/// shard hand-offs around it) and spawns that instead.
#[derive(Debug)]
pub struct Opened<M: StateMachine> {
    /// The replica, restored from its directory if it has one.
    pub replica: Replica<M>,
    /// The runtime's settings for it (listener, peers, tick, directory).
    pub node: NodeConfig,
    /// The locked data directory, if any; keep it alive as long as the node runs.
    pub data_dir: Option<DataDir>,
    /// Its own address, from the peer list.
    pub addr: SocketAddr,
}

/// Checks a server's settings and opens its replica: in memory, or from its directory
/// (created if missing, locked, checked against this system, replica id and peer list).
///
/// # Errors
/// As [`Server::spawn`].
pub fn open<M: StateMachine + Default>(config: ServerConfig) -> Result<Opened<M>, ServerError> {
    let count = config.peers.len();
    if count == 0 || count > REPLICAS_MAX {
        return Err(ServerError::BadCount(count));
    }
    if config.id.index() >= count {
        return Err(ServerError::BadId {
            id: config.id.0,
            count,
        });
    }
    let peer_count = u32::try_from(count).expect("at most REPLICAS_MAX");
    let open_error = |dir: &Path| {
        let dir = dir.to_path_buf();
        move |error| ServerError::Open { dir, error }
    };
    let (replica, data_dir) = match &config.storage {
        Storage::InMemory => {
            let replica = Replica::with_config(config.id, peer_count, config.seed, config.config)?;
            (replica, None)
        }
        Storage::Dir(dir) => {
            let opened = DataDir::open(dir, config.names, config.id, &config.peers)?;
            let replica = Replica::open(
                config.id,
                peer_count,
                config.seed,
                config.config,
                &opened.image,
            )
            .map_err(open_error(dir))?;
            (replica, Some(opened))
        }
    };
    let addr = config.peers[config.id.index()];
    let node = NodeConfig {
        id: config.id,
        listener: config.listener,
        peers: config.peers,
        tick: TICK,
        data_dir: data_dir.as_ref().map(|d| d.dir.clone()),
    };
    Ok(Opened {
        replica,
        node,
        data_dir,
        addr,
    })
}

impl<M: StateMachine + Send + 'static> Server<M> {
    /// Its peer address, where peers and clerks connect (its entry of the peer list).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data directory, if the replica keeps its state on disk.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_ref().map(|d| d.dir.as_path())
    }

    /// Stops the replica abruptly, as a crash would.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.node.kill();
    }

    /// True once the replica has stopped.
    pub fn is_finished(&self) -> bool {
        self.node.is_finished()
    }

    /// Waits until the replica's node stops on its own, which it does when a write or fsync of
    /// its data directory fails (the runtime logs the error): it can no longer keep its
    /// promises, so it stops as a crash would, having acknowledged nothing that is not on disk.
    /// Never returns after [`Server::kill`], or while the replica runs.
    pub async fn stopped(&self) {
        // The runtime offers no stop notification, only `is_finished`; see STOPPED_POLL.
        let mut poll = tokio::time::interval(STOPPED_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            poll.tick().await;
            if self.killed.load(Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
            if self.node.is_finished() {
                return;
            }
        }
    }
}

impl<M: StateMachine + Send + 'static> Drop for Server<M> {
    fn drop(&mut self) {
        self.kill();
    }
}
