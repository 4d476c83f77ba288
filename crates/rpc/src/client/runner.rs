//! Driving a client core ([`Client`]) over TCP, the way the simulator drives it in virtual time.
//!
//! The runner invokes an operation, sends each `Request` effect through an [`RpcClient`] in a
//! task of its own, feeds every answer to `on_response`, calls `on_tick` every tick, and returns
//! at `Complete`. The core decides everything else (which server, when to give up on one, when to
//! retry) in ticks; the runner's own per-request timeout only bounds how long a request task lives.
//! A failed or timed-out request produces no input at all: to the core it is a lost message.

use super::RpcClient;
use crate::error::RpcError;
use crate::ids::NodeId;
use crate::node::{Client, ClientEffect, ClientOutbox};
use crate::wire::Wire;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

/// How long a request task waits for its answer unless [`ClientRunner::with_request_timeout`]
/// says otherwise. Why 5 s: longer than any server should take; the core retries on its own
/// schedule long before, so this only reclaims tasks whose server went silent.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Request tasks alive at once. Past it new requests are dropped (with a warning), as a lossy
/// network would: a core retrying every tick against dead servers must not pile up tasks.
pub const MAX_OUTSTANDING_REQUESTS: usize = 256;

/// Runs operations of a client core against servers over TCP.
pub struct ClientRunner<C: Client<Req: Wire, Resp: Wire>> {
    core: C,
    servers: Vec<RpcClient<C::Req, C::Resp>>,
    tick: Duration,
    request_timeout: Duration,
    answers_tx: mpsc::Sender<(NodeId, C::Resp)>,
    answers: mpsc::Receiver<(NodeId, C::Resp)>,
    requests: JoinSet<()>,
    /// True while an operation has been invoked and has not completed.
    busy: bool,
}

impl<C: Client<Req: Wire, Resp: Wire>> ClientRunner<C> {
    /// A runner for `core` talking to `servers` (indexed by [`NodeId`]), ticking every `tick`.
    ///
    /// # Panics
    /// If `tick` is zero.
    pub fn new(core: C, servers: &[SocketAddr], tick: Duration) -> Self {
        assert!(tick > Duration::ZERO, "a zero tick interval would spin");
        let (answers_tx, answers) = mpsc::channel(MAX_OUTSTANDING_REQUESTS);
        ClientRunner {
            core,
            servers: servers.iter().map(|addr| RpcClient::new(*addr)).collect(),
            tick,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            answers_tx,
            answers,
            requests: JoinSet::new(),
            busy: false,
        }
    }

    /// Sets how long one request task waits for its answer.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The client core.
    pub fn core(&self) -> &C {
        &self.core
    }

    /// Runs `op` until the core completes it. Only the core's own retries bound this: against
    /// servers that never answer it waits forever; see [`ClientRunner::run_with_deadline`].
    ///
    /// # Panics
    /// If an earlier operation was abandoned by a deadline: the core is still inside it, and the
    /// client contract forbids a new `invoke` before `Complete`.
    pub async fn run(&mut self, op: C::Op) -> C::Output {
        assert!(
            !self.busy,
            "ClientRunner reused after a deadline abandoned an operation; build a new one"
        );
        self.busy = true;
        let mut out = ClientOutbox::<C>::new();
        self.core.invoke(op, &mut out);
        let mut ticker = tokio::time::interval_at(Instant::now() + self.tick, self.tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if let Some(output) = self.execute(&mut out) {
                self.busy = false;
                return output;
            }
            tokio::select! {
                _ = ticker.tick() => self.core.on_tick(&mut out),
                answer = self.answers.recv() => {
                    let (from, resp) = answer.expect("the runner holds a sender, so the channel stays open");
                    self.core.on_response(from, resp, &mut out);
                }
            }
        }
    }

    /// Runs `op`, giving up after `deadline`.
    ///
    /// # Errors
    /// [`RpcError::Timeout`] if the operation did not complete in time. It may still take effect
    /// on the servers. The core is left inside the operation, so this runner cannot run another
    /// one: build a new runner (with a new client core) to go on.
    pub async fn run_with_deadline(
        &mut self,
        op: C::Op,
        deadline: Duration,
    ) -> Result<C::Output, RpcError> {
        tokio::time::timeout(deadline, self.run(op))
            .await
            .map_err(|_| RpcError::Timeout)
    }

    /// Carries out the core's effects; returns the output if one of them completed the operation.
    fn execute(&mut self, out: &mut ClientOutbox<C>) -> Option<C::Output> {
        while let Some(done) = self.requests.try_join_next() {
            if let Err(err) = done {
                tracing::error!(%err, "request task failed");
            }
        }
        let mut output = None;
        for effect in out.drain(..) {
            match effect {
                ClientEffect::Request { to, req } => self.request(to, req),
                ClientEffect::Complete(result) => {
                    debug_assert!(output.is_none(), "one invoke completed twice");
                    output = Some(result);
                }
            }
        }
        output
    }

    fn request(&mut self, to: NodeId, req: C::Req) {
        let Some(server) = self.servers.get(to.index()).cloned() else {
            tracing::warn!(to = %to, "request to a server outside the list dropped");
            return;
        };
        if self.requests.len() >= MAX_OUTSTANDING_REQUESTS {
            tracing::warn!(to = %to, "too many requests in flight; request dropped");
            return;
        }
        let answers = self.answers_tx.clone();
        let timeout = self.request_timeout;
        self.requests.spawn(async move {
            match server.call(req, timeout).await {
                // Late answers are still delivered: the core must cope with stale ones anyway.
                Ok(resp) => {
                    let _ = answers.send((to, resp)).await;
                }
                Err(err) => tracing::debug!(to = %to, %err, "request failed"),
            }
        });
    }
}
