//! The clerk over TCP: the same [`Clerk`] core, driven by [`ClientRunner`]. It opens a session,
//! then sends each operation to one replica and, after [`rsm::clerk::RETRY_TICKS`] ticks
//! without an answer (or at once on `Busy`), to the next, always with the same
//! `(session, seq)`, until one answers or the caller's deadline passes.

use crate::Clerk;
use crate::msg::{KvCommand, KvOutput, Op};
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
    /// The clerk's session expired (evicted after many other sessions ran since) before an
    /// answer arrived. The operation may or may not have taken effect; the next one opens a
    /// new session.
    #[error(transparent)]
    SessionExpired(#[from] rsm::clerk::SessionExpired),
}

/// A kvpaxos clerk over TCP.
pub struct TcpClerk {
    servers: Vec<SocketAddr>,
    runner: Option<ClientRunner<Clerk>>,
}

impl TcpClerk {
    /// A clerk for the replicas at `servers`, tried in this order. Its session is opened
    /// through the log with its first operation.
    ///
    /// # Panics
    /// If `servers` is empty.
    pub fn new(servers: &[SocketAddr]) -> Self {
        assert!(!servers.is_empty(), "a clerk needs at least one replica");
        TcpClerk {
            servers: servers.to_vec(),
            runner: None,
        }
    }

    /// Runs `cmd` (a lab operation or a Redis batch) until a replica answers, or until
    /// `deadline` passes.
    ///
    /// # Errors
    /// [`ClerkError::SessionExpired`] if its session expired first (it may have run), or
    /// [`ClerkError::Timeout`] if no replica answered in time. The operation may still take
    /// effect; the clerk then continues in a new session (the old one is still inside the
    /// abandoned operation), so its next operations stay at most once.
    pub async fn run(
        &mut self,
        cmd: impl Into<KvCommand>,
        deadline: Duration,
    ) -> Result<KvOutput, ClerkError> {
        let servers = &self.servers;
        let runner = self.runner.get_or_insert_with(|| {
            let ids = (0..servers.len())
                .map(|i| NodeId(u32::try_from(i).expect("few replicas")))
                .collect();
            ClientRunner::new(Clerk::new(ids), servers, super::TICK)
                .with_request_timeout(REQUEST_TIMEOUT)
        });
        match runner.run_with_deadline(cmd.into(), deadline).await {
            Ok(answered) => Ok(answered?),
            Err(_) => {
                self.runner = None;
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

    /// Runs the lab operation `op` and returns the lab's answer: the value for a Get ("" if
    /// missing), "" for a Put, the new length for an Append.
    ///
    /// # Errors
    /// As [`TcpClerk::run`].
    pub async fn run_lab(&mut self, op: Op, deadline: Duration) -> Result<String, ClerkError> {
        match self.run(op, deadline).await? {
            KvOutput::Lab(text) => Ok(text),
            KvOutput::Redis(values) => Ok(format!("{values:?}")),
        }
    }
}
