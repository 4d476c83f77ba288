//! A kvpaxos replica as a real network server: the same [`Replica`](crate::Replica) core on
//! the TCP runtime, with an optional Redis-protocol (RESP2, or RESP3 for clients that ask)
//! front door.
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
//! is a client of the local core: it opens a session and runs its commands, a batch at a
//! time, as [`Request`](crate::Request)s handed to the core with
//! [`NodeHandle::request`](rpc::runtime::NodeHandle::request), so it goes down the very path
//! a clerk's request takes (the replica's log, its sessions, its linearizability, the
//! runtime's bound on unanswered requests).
//!
//! Everything but the RESP front door is `rsm`'s generic server shell ([`rsm::server`]): the
//! id and peer checks, the data directory ([`data_dir`], under kvpaxos's file names), the
//! runtime node and the stop logic. A replica keeps its state in a directory of its own
//! ([`Storage::Dir`]) or nowhere ([`Storage::InMemory`]); a failed write or fsync stops the
//! node, which [`KvServer::stopped`] reports.
//!
//! Invariant: sessions come from the log (`rsm` registers them), so two connections, on any
//! replicas and across restarts, never share one.

pub mod data_dir;
pub mod resp_front;
pub mod tcp_clerk;

pub use data_dir::{DataDirError, Storage};
pub use rsm::server::{REPLICAS_MAX, STOPPED_POLL, ServerError, SubmitError, TICK};
pub use tcp_clerk::{ClerkError, TcpClerk};

use crate::KvMachine;
use crate::msg::{KvCommand, KvError, KvOutput};
use rpc::NodeId;
use rsm::server::{Server, ServerConfig};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

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

/// How to reach the local core: cheap to clone, shared by RESP connections. `rsm`'s
/// [`Submitter`](rsm::server::Submitter), with the store's status.
#[derive(Clone)]
pub struct Submitter {
    inner: rsm::server::Submitter<KvMachine>,
}

impl Submitter {
    /// Opens a session through the log.
    ///
    /// # Errors
    /// [`SubmitError`] if no answer came; a session may still be opened (nobody uses it, and
    /// it ages out).
    pub async fn register(&self, deadline: Duration) -> Result<Result<u64, KvError>, SubmitError> {
        self.inner.register(deadline).await
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
        self.inner.submit(session, seq, cmd, deadline).await
    }

    /// The local replica's status.
    ///
    /// # Errors
    /// [`SubmitError::Shutdown`] if the replica stopped.
    pub async fn status(&self) -> Result<ReplicaStatus, SubmitError> {
        self.inner
            .inspect(|r| ReplicaStatus {
                id: r.peer().id(),
                leader: r.peer().leader(),
                next_apply: r.next_apply().0,
                waiting: r.waiting_len(),
                keys: r.state().len(),
                expiring: r.state().expiring(),
            })
            .await
    }
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

/// A running replica: `rsm`'s server of the store, and its RESP front door. Dropping it kills
/// the replica and its RESP front door (and releases its data directory).
pub struct KvServer {
    server: Server<KvMachine>,
    resp: Option<JoinHandle<()>>,
    resp_addr: Option<SocketAddr>,
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
        let resp_addr = config.resp.as_ref().and_then(|l| l.local_addr().ok());
        let server = Server::spawn(ServerConfig {
            id: config.id,
            peers: config.peers,
            listener: config.listener,
            seed: config.seed,
            storage: config.storage,
            names: data_dir::NAMES,
            config: rsm::Config::default(),
        })?;
        let resp = config.resp.map(|listener| {
            let submitter = Submitter {
                inner: server.submitter(),
            };
            tokio::spawn(resp_front::serve(
                listener,
                resp_front::LocalReplica::new(submitter),
            ))
        });
        Ok(KvServer {
            server,
            resp,
            resp_addr,
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

    /// Its peer address, where peers and clerks connect.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The RESP front door's address, if it has one.
    pub fn resp_addr(&self) -> Option<SocketAddr> {
        self.resp_addr
    }

    /// A handle for submitting operations to this replica directly.
    pub fn submitter(&self) -> Submitter {
        Submitter {
            inner: self.server.submitter(),
        }
    }

    /// The data directory, if the replica keeps its state on disk.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.server.data_dir()
    }

    /// Stops the replica abruptly, as a crash would (its RESP front door too).
    pub fn kill(&self) {
        if let Some(resp) = &self.resp {
            resp.abort();
        }
        self.server.kill();
    }

    /// True once the replica has stopped.
    pub fn is_finished(&self) -> bool {
        self.server.is_finished()
    }

    /// Waits until the replica's node stops on its own, which it does when a write or fsync of
    /// its data directory fails (the runtime logs the error): see [`Server::stopped`]. Never
    /// returns after [`KvServer::kill`], or while the replica runs.
    pub async fn stopped(&self) {
        self.server.stopped().await;
    }
}

impl Drop for KvServer {
    fn drop(&mut self) {
        self.kill();
    }
}
