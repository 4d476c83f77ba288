//! The clerk over TCP: the same [`Clerk`] core of any state machine, driven by
//! [`ClientRunner`]. It opens a session, then sends each command to one replica and, after
//! [`crate::clerk::RETRY_TICKS`] ticks without an answer (or at once on `Busy`), to the next,
//! always with the same `(session, seq)`, until one answers or the caller's deadline passes.

use crate::clerk::{Clerk, SessionExpired};
use crate::machine::StateMachine;
use rpc::{ClientRunner, NodeId, RpcError};
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
    /// Every replica refused the connection: none is running at these addresses. Nothing
    /// was sent (only with [`TcpClerk::fail_fast`]).
    #[error("no replica is running: every one refused the connection ({servers})")]
    Refused {
        /// The replicas tried, comma-separated.
        servers: String,
    },
    /// The clerk's session expired (evicted after many other sessions ran since) before an
    /// answer arrived. The operation may or may not have taken effect; the next one opens a
    /// new session.
    #[error(transparent)]
    SessionExpired(#[from] SessionExpired),
}

/// A clerk of state machine `M` over TCP.
pub struct TcpClerk<M: StateMachine> {
    servers: Vec<SocketAddr>,
    runner: Option<ClientRunner<Clerk<M>>>,
    fail_fast: bool,
}

impl<M: StateMachine> TcpClerk<M> {
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
            fail_fast: false,
        }
    }

    /// Makes [`TcpClerk::run`] give up with [`ClerkError::Refused`] as soon as every replica
    /// refused the connection, instead of waiting out its deadline: what a one-shot command
    /// line client wants (`rpc::ClientRunner::fail_fast`).
    pub fn fail_fast(mut self) -> Self {
        self.fail_fast = true;
        self
    }

    /// Runs `cmd` until a replica answers, or until `deadline` passes.
    ///
    /// # Errors
    /// [`ClerkError::SessionExpired`] if its session expired first (it may have run), or
    /// [`ClerkError::Timeout`] if no replica answered in time. The command may still take
    /// effect; the clerk then continues in a new session (the old one is still inside the
    /// abandoned command), so its next commands stay at most once.
    pub async fn run(
        &mut self,
        cmd: M::Command,
        deadline: Duration,
    ) -> Result<M::Output, ClerkError> {
        let (servers, fail_fast) = (&self.servers, self.fail_fast);
        let runner = self.runner.get_or_insert_with(|| {
            let ids = (0..servers.len())
                .map(|i| NodeId(u32::try_from(i).expect("few replicas")))
                .collect();
            let runner = ClientRunner::new(Clerk::new(ids), servers, super::TICK)
                .with_request_timeout(REQUEST_TIMEOUT);
            if fail_fast {
                runner.fail_fast()
            } else {
                runner
            }
        });
        let result = runner.run_with_deadline(cmd, deadline).await;
        if result.is_err() {
            self.runner = None;
        }
        let servers = || {
            self.servers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match result {
            Ok(answered) => Ok(answered?),
            Err(RpcError::Unreachable { .. }) => Err(ClerkError::Refused { servers: servers() }),
            Err(_) => Err(ClerkError::Timeout {
                waited: deadline,
                servers: servers(),
            }),
        }
    }
}
