//! The shard master as a real network server: `rsm`'s generic server shell
//! ([`rsm::server`]) around [`ShardMachine`], with nothing of its own but its file names. A
//! replica keeps its state in a data directory of its own, under [`NAMES`]
//! (`shardmaster-lock`, `shardmaster-cluster`), so a kvpaxos directory given to it by mistake
//! is refused rather than read.

use crate::ShardMachine;
use rpc::NodeId;
use rsm::server::{DirNames, Server, ServerConfig, ServerError, Storage};
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// What the shard master calls its files in a replica's directory.
pub const NAMES: DirNames = DirNames::new("shardmaster");

/// A running shard master replica ([`crate::config::DEFAULT_SHARDS`] shards). Dropping it
/// kills the replica and releases its data directory.
pub type ShardServer = Server<ShardMachine>;

/// A shard master clerk over TCP.
pub type TcpClerk = rsm::server::TcpClerk<ShardMachine>;

/// Starts replica `id` of the cluster `peers`, listening on `listener` (bound to
/// `peers[id]`), keeping its state in `storage`.
///
/// # Errors
/// [`ServerError`] if the id or the peer count is out of range, or the data directory is in
/// use, another cluster's, system's or replica's, damaged, or cannot be read or written.
///
/// # Panics
/// If called outside a tokio runtime.
pub fn spawn(
    id: NodeId,
    peers: Vec<SocketAddr>,
    listener: TcpListener,
    seed: u64,
    storage: Storage,
) -> Result<ShardServer, ServerError> {
    Server::spawn(ServerConfig {
        id,
        peers,
        listener,
        seed,
        storage,
        names: NAMES,
        config: rsm::Config::default(),
    })
}

/// Starts `count` in-memory replicas on ephemeral loopback ports (tests, benches).
///
/// # Errors
/// If sockets cannot be bound.
pub async fn local_cluster(count: usize) -> std::io::Result<Vec<ShardServer>> {
    Server::local_cluster(count, NAMES).await
}
