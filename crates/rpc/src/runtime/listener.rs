//! The accept loop: at most [`MAX_CONNECTIONS`] inbound connections, each served by its own task.
//!
//! As in mini-redis, a permit is taken *before* `accept`, so past the limit new connections wait
//! in the kernel's backlog instead of costing a task and buffers. Accept errors (out of file
//! descriptors, for example) are retried after a capped, jittered backoff: a node never stops
//! listening on its own.

use super::WireNode;
use super::connection::{self, Shared};
use super::stats::bump;
use crate::backoff::Backoff;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Inbound connections served at once. Why 256: a cluster has a handful of peers and a test or
/// bench a few dozen clients; each connection may buffer up to one frame, so the bound is what
/// keeps a connection flood from exhausting memory or file descriptors.
pub const MAX_CONNECTIONS: usize = 256;

/// The first pause after a failed accept.
pub const ACCEPT_BACKOFF_BASE: Duration = Duration::from_millis(50);

/// The longest pause after failed accepts: errors such as EMFILE clear when connections close,
/// so keep retrying, at worst twice a second.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(500);

/// Accepts connections until the node stops, then waits for their tasks.
pub(crate) async fn run<N: WireNode>(listener: TcpListener, shared: Shared<N>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    let mut backoff = Backoff::new(
        ACCEPT_BACKOFF_BASE,
        ACCEPT_BACKOFF_MAX,
        u64::from(shared.id.0),
    );
    let mut conn_count: u64 = 0;
    loop {
        while let Some(done) = connections.try_join_next() {
            if let Err(err) = done {
                tracing::error!(%err, "connection task failed");
            }
        }
        let permit = tokio::select! {
            () = shared.stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let accepted = tokio::select! {
            () = shared.stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                let delay = backoff.next_delay();
                tracing::warn!(%err, ?delay, "accept failed; retrying");
                tokio::select! {
                    () = shared.stop.cancelled() => break,
                    () = tokio::time::sleep(delay) => continue,
                }
            }
        };
        backoff.reset();
        conn_count += 1;
        bump(&shared.counters.connections_accepted, 1);
        let span = tracing::debug_span!("conn", n = conn_count, %addr);
        connections.spawn(connection::serve(stream, addr, shared.clone(), permit).instrument(span));
    }
    // Close the port first so nobody connects to a node that is going away.
    drop(listener);
    while connections.join_next().await.is_some() {}
}
