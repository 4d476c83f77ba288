//! A shardkv server as a real network server: its group's replica, opened by `rsm`'s server
//! shell ([`rsm::server::open`]), inside a [`ShardKvNode`] on the TCP runtime, plus the task
//! that polls the shard master.
//!
//! ```text
//!  peers (same group, by id) ──┐          ┌── other groups (by address: Pull, Chunk, Confirm)
//!  clerks (Request{gid, ..}) ──┴─▶ runtime: actor owns the ShardKvNode
//!                                    ▲ offer_config
//!  shard master ◀── Query(n) ── poller task (every POLL, a TcpClerk of the shard master)
//!  redis-cli, redis-py ──▶ RESP front door (optional) ── Router ──▶ this replica, other groups
//! ```

use crate::front::ShardedStore;
use crate::machine::ShardKvMachine;
use crate::msg::Mapping;
use crate::node::{Identity, ShardKvNode};
use crate::router::Router;
use kvpaxos::server::resp_front;
use rpc::runtime::{NodeHandle, spawn_node};
use rsm::server::{DataDir, ServerError, TcpClerk};
use shardmaster::{ConfigNum, Gid, Op, Reply, ShardMachine};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How often a server asks the shard master for the next configuration (SPEC §8.1).
pub const POLL: Duration = Duration::from_millis(250);

/// How often the poller looks at what the node wants (a call into the node, cheap).
pub const LOOK: Duration = Duration::from_millis(10);

/// How long one configuration query may take before the poller gives up on it (and asks
/// again at the next poll).
pub const QUERY_DEADLINE: Duration = Duration::from_secs(2);

/// The file names of a shardkv replica's data directory.
pub const DIR_NAMES: rsm::server::DirNames = rsm::server::DirNames::new("shardkv");

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A server must know where the shard master is.
    #[error("no shard master address given")]
    NoShardMaster,
    /// Gids are above 0.
    #[error("invalid gid {0}: gids are above 0")]
    BadGid(Gid),
    /// The replica could not start (its settings or its data directory).
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// What a shardkv server needs besides `rsm`'s settings.
#[derive(Debug)]
pub struct ServerConfig {
    /// The replica's settings (id, the group's peers, listener, storage, tunables).
    pub rsm: rsm::server::ServerConfig,
    /// The group.
    pub gid: Gid,
    /// How the cluster maps keys to shards.
    pub mapping: Mapping,
    /// The shard master's replicas.
    pub shardmasters: Vec<SocketAddr>,
    /// The Redis-protocol front door, if any ([`crate::front`]).
    pub resp: Option<TcpListener>,
}

/// A running shardkv server. Dropping it kills the server.
pub struct Server {
    node: Arc<NodeHandle<ShardKvNode>>,
    addr: SocketAddr,
    data_dir: Option<DataDir>,
    poller: JoinHandle<()>,
    resp: Option<(SocketAddr, JoinHandle<()>)>,
    /// Set by [`Server::kill`]: a stop that was asked for.
    killed: AtomicBool,
}

impl Server {
    /// Starts a server (see [`rsm::server::Server::spawn`] for the directory's checks).
    ///
    /// # Errors
    /// [`SpawnError`]: no shard master, a bad gid, or as [`rsm::server::open`].
    ///
    /// # Panics
    /// If called outside a tokio runtime.
    pub fn spawn(config: ServerConfig) -> Result<Server, SpawnError> {
        if config.shardmasters.is_empty() {
            return Err(SpawnError::NoShardMaster);
        }
        if !config.gid.is_valid() {
            return Err(SpawnError::BadGid(config.gid));
        }
        let opened = rsm::server::open::<ShardKvMachine>(config.rsm)?;
        let me = Identity {
            gid: config.gid,
            addr: opened.addr.to_string(),
            mapping: config.mapping,
        };
        let node = Arc::new(spawn_node(
            ShardKvNode::new(opened.replica, me),
            opened.node,
        ));
        let poller = tokio::spawn(poll_shard_master(node.clone(), config.shardmasters.clone()));
        let resp = config.resp.map(|listener| {
            let addr = listener
                .local_addr()
                .expect("a bound listener has an address");
            let router = Router::new(
                &config.shardmasters,
                config.mapping,
                Some((opened.addr.to_string(), node.clone())),
            );
            let store = ShardedStore::new(router, node.clone());
            (addr, tokio::spawn(resp_front::serve(listener, store)))
        });
        Ok(Server {
            node,
            addr: opened.addr,
            data_dir: opened.data_dir,
            poller,
            resp,
            killed: AtomicBool::new(false),
        })
    }

    /// The Redis front door's address, if it has one.
    pub fn resp_addr(&self) -> Option<SocketAddr> {
        self.resp.as_ref().map(|(addr, _)| *addr)
    }

    /// Its address: where its group's peers, other groups and clerks reach it.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data directory, if the server keeps its state on disk.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_ref().map(|d| d.dir.as_path())
    }

    /// Stops the server abruptly, as a crash would.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.poller.abort();
        if let Some((_, front)) = &self.resp {
            front.abort();
        }
        self.node.kill();
    }

    /// Waits until the server's node stops on its own (a failed write or fsync of its data
    /// directory, or a crash; the runtime logs why). Never returns after [`Server::kill`].
    pub async fn stopped(&self) {
        let mut poll = tokio::time::interval(rsm::server::STOPPED_POLL);
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

    /// True once the server's node has stopped.
    pub fn is_finished(&self) -> bool {
        self.node.is_finished()
    }

    /// Runs `f` on the server's node, between its inputs: how a caller reads its state.
    ///
    /// # Errors
    /// If the node has stopped.
    pub async fn inspect<T, F>(&self, f: F) -> Result<T, rpc::RpcError>
    where
        T: Send + 'static,
        F: FnOnce(&ShardKvNode) -> T + Send + 'static,
    {
        self.node.call(move |n: &mut ShardKvNode, _| f(n)).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Asks the shard master for the configuration the node wants and offers it: at once for a
/// number not asked for yet (a group catching up moves one configuration per answer), again
/// every [`POLL`] otherwise. A failed query is only logged: the next poll asks again, and the
/// group keeps serving the configuration it has meanwhile.
async fn poll_shard_master(node: Arc<NodeHandle<ShardKvNode>>, shardmasters: Vec<SocketAddr>) {
    let mut clerk = TcpClerk::<ShardMachine>::new(&shardmasters);
    let mut look = tokio::time::interval(LOOK);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut asked: Option<(u64, u32)> = None; // (number, looks since)
    loop {
        look.tick().await;
        let Ok(wanted) = node.call(|n: &mut ShardKvNode, _| n.wanted_config()).await else {
            return; // The node stopped.
        };
        let Some(ConfigNum(num)) = wanted else {
            continue;
        };
        let looks_per_poll = (POLL.as_millis() / LOOK.as_millis()) as u32;
        match &mut asked {
            Some((n, since)) if *n == num && *since + 1 < looks_per_poll => {
                *since += 1;
                continue;
            }
            _ => asked = Some((num, 0)),
        }
        let query = Op::Query {
            num: i64::try_from(num).unwrap_or(-1),
        };
        match clerk.run(query, QUERY_DEADLINE).await {
            Ok(Ok(Reply::Config(config))) => {
                let config = (*config).clone();
                if node
                    .call(move |n, out| n.offer_config(config, out))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(other) => tracing::warn!("the shard master answered a query with {other:?}"),
            Err(e) => tracing::warn!("shard master query failed: {e}"),
        }
    }
}
