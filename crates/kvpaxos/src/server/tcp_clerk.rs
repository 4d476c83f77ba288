//! The kvpaxos clerk over TCP: `rsm`'s [`TcpClerk`](rsm::server::TcpClerk) of the key/value
//! store (see [`rsm::server::tcp_clerk`]), taking lab operations and Redis batches alike.

use crate::KvMachine;
use crate::msg::{KvCommand, KvOutput, Op};
use std::net::SocketAddr;
use std::time::Duration;

pub use rsm::server::tcp_clerk::{ClerkError, REQUEST_TIMEOUT};

/// A kvpaxos clerk over TCP.
pub struct TcpClerk {
    inner: rsm::server::TcpClerk<KvMachine>,
}

impl TcpClerk {
    /// A clerk for the replicas at `servers`, tried in this order. Its session is opened
    /// through the log with its first operation.
    ///
    /// # Panics
    /// If `servers` is empty.
    pub fn new(servers: &[SocketAddr]) -> Self {
        TcpClerk {
            inner: rsm::server::TcpClerk::new(servers),
        }
    }

    /// Gives up at once, with [`ClerkError::Refused`], when every replica refused the
    /// connection (see `rsm::server::TcpClerk::fail_fast`).
    pub fn fail_fast(self) -> Self {
        TcpClerk {
            inner: self.inner.fail_fast(),
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
        self.inner.run(cmd.into(), deadline).await
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
