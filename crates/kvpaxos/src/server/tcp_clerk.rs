//! The clerk over TCP: the same [`Clerk`] core, driven by [`ClientRunner`]. It sends each
//! operation to one replica and, after [`crate::clerk::RETRY_TICKS`] ticks without an answer
//! (or at once on `Busy`), to the next, always with the same `(client, seq)`, until one
//! answers or the caller's deadline passes.

use crate::clerk::Clerk;
use crate::msg::Op;
use rpc::{ClientRunner, NodeId};
use std::net::SocketAddr;
use std::time::Duration;

/// How long one request may wait for its answer. The core moves to the next replica after
/// 100 ms on its own, so this only reclaims tasks whose replica went silent.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Why an operation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ClerkError {
    /// No replica answered in time. The operation may still take effect later.
    #[error(
        "no replica answered within {waited:?} (tried {servers}); the operation may still take effect"
    )]
    Timeout {
        /// How long we waited.
        waited: Duration,
        /// The replicas tried, comma-separated.
        servers: String,
    },
}

/// A kvpaxos clerk over TCP.
pub struct TcpClerk {
    servers: Vec<SocketAddr>,
    id: u64,
    runner: Option<ClientRunner<Clerk>>,
}

impl TcpClerk {
    /// A clerk with identity `id` (unique among clerks: a random 62-bit number) for the
    /// replicas at `servers`, tried in this order.
    ///
    /// # Panics
    /// If `servers` is empty.
    pub fn new(id: u64, servers: &[SocketAddr]) -> Self {
        assert!(!servers.is_empty(), "a clerk needs at least one replica");
        TcpClerk {
            servers: servers.to_vec(),
            id,
            runner: None,
        }
    }

    /// The clerk's current identity (it changes after an operation times out).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Runs `op` until a replica answers, or until `deadline` passes.
    ///
    /// # Errors
    /// [`ClerkError::Timeout`] if no replica answered in time. The operation may still take
    /// effect; the clerk then continues under a new identity (the old one is still inside
    /// the abandoned operation), so its next operations stay at most once.
    pub async fn run(&mut self, op: Op, deadline: Duration) -> Result<String, ClerkError> {
        let servers = &self.servers;
        let id = self.id;
        let runner = self.runner.get_or_insert_with(|| {
            let ids = (0..servers.len())
                .map(|i| NodeId(u32::try_from(i).expect("few replicas")))
                .collect();
            ClientRunner::new(Clerk::new(id, ids), servers, super::TICK)
                .with_request_timeout(REQUEST_TIMEOUT)
        });
        match runner.run_with_deadline(op, deadline).await {
            Ok(value) => Ok(value),
            Err(_) => {
                self.runner = None;
                self.id = next_id(self.id);
                let servers = self
                    .servers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                Err(ClerkError::Timeout {
                    waited: deadline,
                    servers,
                })
            }
        }
    }
}

/// The identity after `id`: a 62-bit mix of it (splitmix64), so successive identities of one
/// clerk do not run into other clerks' random ones.
fn next_id(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) >> 2
}
