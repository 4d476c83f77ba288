//! A kvpaxos replica as a real network server: the same [`Replica`] core on the TCP runtime,
//! with an optional Redis-protocol (RESP2, or RESP3 for clients that ask) front door.
//!
//! ```text
//!   clerks (TcpClerk) ---- frames ----+                         +---- peers (Paxos frames)
//!                                     v                         v
//!                    peer listener: rpc::runtime (actor owns the Replica)
//!                                     ^
//!   redis-cli, redis-benchmark ---> RESP listener --(NodeHandle::request)--+
//! ```
//!
//! The runtime's listener takes both peer connections and clerk requests. A RESP connection
//! is a client of the local core: it opens sessions and runs each GET/SET/APPEND as a
//! [`Request`], handed to the core with [`NodeHandle::request`], so it goes down the very path
//! a clerk's request takes (the replica's log, its sessions, its linearizability, the
//! runtime's bound on unanswered requests).
//!
//! A replica keeps its state in a directory of its own ([`Storage::Dir`], see [`data_dir`]),
//! or nowhere ([`Storage::InMemory`]). The core writes and syncs its files through the
//! runtime; a failed write or fsync stops the node, which [`KvServer::stopped`] reports.
//!
//! Invariant: sessions come from the log (`rsm` registers them), so two connections, on any
//! replicas and across restarts, never share one.

pub mod data_dir;
pub mod resp_front;
pub mod tcp_clerk;

pub use data_dir::{DataDirError, Storage};
pub use tcp_clerk::{ClerkError, TcpClerk};

use crate::Replica;
use crate::msg::{KvCommand, KvError, KvOutput, Request, Response};
use data_dir::DataDir;
use rpc::runtime::{NodeConfig, NodeHandle, spawn_node};
use rpc::{NodeId, RpcError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The tick of a replica over TCP: the simulator's default, which the core's settings
/// (retries, hole filling) are tuned for.
pub const TICK: Duration = Duration::from_millis(10);

/// The most replicas a cluster may have. Paxos messages go to every peer, so a larger group
/// would only be slower; 128 is far past any sensible cluster.
pub const REPLICAS_MAX: usize = 128;

/// What a replica reports about itself (RESP `INFO`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// This replica's id.
    pub id: NodeId,
    /// The leader it believes in, itself included, if any.
    pub leader: Option<NodeId>,
    /// The next log slot it will apply (every slot below is applied).
    pub next_apply: u64,
    /// Requests waiting for their entry to be applied.
    pub waiting: usize,
    /// Keys in its state.
    pub keys: usize,
    /// Keys with a time to live.
    pub expiring: usize,
}

impl ReplicaStatus {
    /// `INFO`'s replication section: `name:value` lines under its header, as Redis writes;
    /// `role:leader|follower` is what scripts grep.
    pub fn replication_info(&self) -> String {
        let role = if self.leader == Some(self.id) {
            "leader"
        } else {
            "follower"
        };
        let leader = self.leader.map_or("none".to_string(), |l| l.0.to_string());
        format!(
            "# Replication\r\nrole:{role}\r\nreplica_id:{}\r\nleader_id:{leader}\r\n\
             applied_slots:{}\r\nwaiting_requests:{}\r\n",
            self.id.0, self.next_apply, self.waiting
        )
    }

    /// `INFO`'s keyspace section.
    pub fn keyspace_info(&self) -> String {
        let (keys, expiring) = (self.keys, self.expiring);
        format!("# Keyspace\r\nkeys:{keys}\r\ndb0:keys={keys},expires={expiring},avg_ttl=0\r\n")
    }
}

/// Why a locally submitted operation got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// No answer within the deadline. The operation may still take effect.
    #[error("timeout (the operation may still happen)")]
    Timeout,
    /// The replica stopped, or forgot the request under overload (past
    /// [`rpc::runtime::MAX_PENDING_REPLIES`] unanswered). The operation may have taken effect.
    #[error("the replica has stopped or dropped the request")]
    Shutdown,
}

/// How to reach the local core: cheap to clone, shared by RESP connections.
#[derive(Clone)]
pub struct Submitter {
    node: Arc<NodeHandle<Replica>>,
}

impl Submitter {
    /// Sends `req` to the local replica and waits at most `deadline` for its answer.
    async fn call(&self, req: Request, deadline: Duration) -> Result<Response, SubmitError> {
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
    pub async fn register(&self, deadline: Duration) -> Result<Result<u64, KvError>, SubmitError> {
        match self.call(Request::Register, deadline).await? {
            Response::Registered { session } => Ok(Ok(session)),
            Response::Refused { error, .. } => Ok(Err(error)),
            Response::Done { .. } => Ok(Err(KvError::Unavailable)),
        }
    }

    /// Runs command `seq` of `session` on the local replica and waits at most `deadline`
    /// for its answer.
    ///
    /// # Errors
    /// [`SubmitError::Timeout`] or [`SubmitError::Shutdown`]; the operation may have run.
    pub async fn submit(
        &self,
        session: u64,
        seq: u64,
        cmd: KvCommand,
        deadline: Duration,
    ) -> Result<Result<KvOutput, KvError>, SubmitError> {
        let req = Request::Command { session, seq, cmd };
        match self.call(req, deadline).await? {
            Response::Done { output, .. } => Ok(Ok(output)),
            Response::Refused { error, .. } => Ok(Err(error)),
            // Not an answer a command gets; treat it as a replica that cannot serve.
            Response::Registered { .. } => Ok(Err(KvError::Unavailable)),
        }
    }

    /// The local replica's status.
    ///
    /// # Errors
    /// [`SubmitError::Shutdown`] if the replica stopped.
    pub async fn status(&self) -> Result<ReplicaStatus, SubmitError> {
        self.node
            .call(|r: &mut Replica, _out| ReplicaStatus {
                id: r.peer().id(),
                leader: r.peer().leader(),
                next_apply: r.next_apply().0,
                waiting: r.waiting_len(),
                keys: r.state().len(),
                expiring: r.state().expiring(),
            })
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
    /// The data directory cannot be used: in use, another cluster's, damaged, or an I/O error.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The replica's files are damaged, incomplete or another member's (the message names the
    /// file and, for a damaged log, the offset).
    #[error("data directory {}: {error}", dir.display())]
    Open {
        /// The data directory.
        dir: PathBuf,
        /// What the replica core found.
        error: rsm::OpenError,
    },
}

/// Everything a replica server needs.
#[derive(Debug)]
pub struct KvServerConfig {
    /// This replica's id: its index in `peers`.
    pub id: NodeId,
    /// Every replica's peer address, by id.
    pub peers: Vec<SocketAddr>,
    /// Bound to `peers[id]` (or port 0 in tests): peers and clerks connect here.
    pub listener: TcpListener,
    /// The Redis-protocol front door, if any.
    pub resp: Option<TcpListener>,
    /// Seeds the replica's random choices (back-off jitter).
    pub seed: u64,
    /// Where the replica keeps its state.
    pub storage: Storage,
}

/// How often [`KvServer::stopped`] looks at the node: a stop it reports is a fatal error, so
/// a tenth of a second late costs nothing, and the check is one atomic load.
pub const STOPPED_POLL: Duration = Duration::from_millis(100);

/// A running replica. Dropping it kills the replica and its RESP front door (and releases its
/// data directory).
pub struct KvServer {
    node: Arc<NodeHandle<Replica>>,
    resp: Option<JoinHandle<()>>,
    resp_addr: Option<SocketAddr>,
    /// The locked data directory, if the replica has one; unlocked when the server is dropped.
    data_dir: Option<DataDir>,
    /// Set by [`KvServer::kill`]: a stop that was asked for.
    killed: AtomicBool,
}

impl KvServer {
    /// Starts a replica. With [`Storage::Dir`], the directory is created if missing, locked,
    /// checked against this replica's id and peer list (recorded at its first start), and the
    /// replica restored from it.
    ///
    /// # Errors
    /// [`ServerError`] if the id or the peer count is out of range, or the data directory is
    /// in use, another cluster's or replica's, damaged, or cannot be read or written.
    ///
    /// # Panics
    /// If called outside a tokio runtime.
    pub fn spawn(config: KvServerConfig) -> Result<KvServer, ServerError> {
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
        let (replica, data_dir) = match &config.storage {
            Storage::InMemory => (Replica::new(config.id, peer_count, config.seed), None),
            Storage::Dir(dir) => {
                let opened = DataDir::open(dir, config.id, &config.peers)?;
                let replica = Replica::open(
                    config.id,
                    peer_count,
                    config.seed,
                    rsm::Config::default(),
                    &opened.image,
                )
                .map_err(|error| ServerError::Open {
                    dir: dir.clone(),
                    error,
                })?;
                (replica, Some(opened))
            }
        };
        let node_config = NodeConfig {
            id: config.id,
            listener: config.listener,
            peers: config.peers,
            tick: TICK,
            data_dir: data_dir.as_ref().map(|d| d.dir.clone()),
        };
        let resp_addr = config.resp.as_ref().and_then(|l| l.local_addr().ok());
        let node = Arc::new(spawn_node(replica, node_config));
        let resp = config.resp.map(|listener| {
            let submitter = Submitter { node: node.clone() };
            tokio::spawn(resp_front::serve(listener, submitter))
        });
        Ok(KvServer {
            node,
            resp,
            resp_addr,
            data_dir,
            killed: AtomicBool::new(false),
        })
    }

    /// Starts `count` replicas on ephemeral loopback ports, each with a RESP listener if
    /// `resp` (tests, benches).
    ///
    /// # Errors
    /// If sockets cannot be bound.
    pub async fn local_cluster(count: usize, resp: bool) -> std::io::Result<Vec<KvServer>> {
        let (listeners, addrs) = rpc::bind_loopback(count).await?;
        let mut servers = Vec::with_capacity(count);
        for (i, listener) in listeners.into_iter().enumerate() {
            let resp = if resp {
                Some(TcpListener::bind("127.0.0.1:0").await?)
            } else {
                None
            };
            let id = NodeId(u32::try_from(i).map_err(std::io::Error::other)?);
            let config = KvServerConfig {
                id,
                peers: addrs.clone(),
                listener,
                resp,
                seed: i as u64 + 1,
                storage: Storage::InMemory,
            };
            servers.push(KvServer::spawn(config).map_err(std::io::Error::other)?);
        }
        Ok(servers)
    }

    /// The RESP front door's address, if it has one.
    pub fn resp_addr(&self) -> Option<SocketAddr> {
        self.resp_addr
    }

    /// A handle for submitting operations to this replica directly.
    pub fn submitter(&self) -> Submitter {
        Submitter {
            node: self.node.clone(),
        }
    }

    /// The data directory, if the replica keeps its state on disk.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.data_dir.as_ref().map(|d| d.dir.as_path())
    }

    /// Stops the replica abruptly, as a crash would (its RESP front door too).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        if let Some(resp) = &self.resp {
            resp.abort();
        }
        self.node.kill();
    }

    /// True once the replica has stopped.
    pub fn is_finished(&self) -> bool {
        self.node.is_finished()
    }

    /// Waits until the replica's node stops on its own, which it does when a write or fsync of
    /// its data directory fails (the runtime logs the error): it can no longer keep its
    /// promises, so it stops as a crash would, having acknowledged nothing that is not on disk.
    /// Never returns after [`KvServer::kill`], or while the replica runs.
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

impl Drop for KvServer {
    fn drop(&mut self) {
        self.kill();
    }
}
