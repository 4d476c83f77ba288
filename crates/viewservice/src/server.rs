//! The view service as a real network server: the same [`ViewService`] core on the TCP runtime.
//! Servers ping it and clerks ask it for the view as *clients* ([`VsRequest`](crate::VsRequest)), because over TCP
//! the view service cannot know their addresses in advance: a server registers the address it
//! serves on with every ping, and the view carries those addresses.

use crate::service::ViewService;
use rpc::runtime::{NodeConfig, NodeHandle, spawn_node};
use rpc::{NodeId, RpcError};
use std::time::Duration;
use tokio::net::TcpListener;

/// SPEC §3.1 `PingInterval`: the view service ticks once per interval.
pub const PING_INTERVAL: Duration = Duration::from_millis(100);

/// The identity of the view service in its own one-node runtime (and in a simulated cluster).
pub const VIEW_SERVICE_ID: NodeId = NodeId(0);

/// A running view service. Dropping it kills the service.
pub struct ViewServer {
    node: NodeHandle<ViewService>,
}

impl ViewServer {
    /// Serves a fresh view service on `listener`, ticking every [`PING_INTERVAL`].
    ///
    /// # Errors
    /// If the listener has no local address.
    pub fn spawn(listener: TcpListener) -> std::io::Result<Self> {
        Self::spawn_with_tick(listener, PING_INTERVAL)
    }

    /// As [`ViewServer::spawn`] with another tick (tests).
    ///
    /// # Errors
    /// If the listener has no local address.
    pub fn spawn_with_tick(listener: TcpListener, tick: Duration) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let config = NodeConfig {
            id: VIEW_SERVICE_ID,
            listener,
            peers: vec![addr],
            tick,
            data_dir: None,
        };
        Ok(ViewServer {
            node: spawn_node(ViewService::new(), config),
        })
    }

    /// The current view.
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the service stopped.
    pub async fn view(&self) -> Result<crate::View, RpcError> {
        self.node.call(|core, _| core.view()).await
    }

    /// Pings and gets handled so far (SPEC §3.1 `GetRPCCount`).
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the service stopped.
    pub async fn rpc_count(&self) -> Result<u64, RpcError> {
        self.node.call(|core, _| core.rpc_count()).await
    }

    /// Stops the service abruptly.
    pub fn kill(&self) {
        self.node.kill();
    }

    /// Runs until the service stops (it stops only on [`ViewServer::kill`] or a fatal error).
    pub async fn join(self) {
        self.node.join().await;
    }
}
