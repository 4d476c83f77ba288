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
use std::collections::{BTreeMap, BTreeSet};
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

/// Servers named by address ([`ClientEffect::RequestTo`]) the runner keeps a connection to.
/// Why 64: a client talks to the servers of the groups its keys live in; past it the runner
/// starts over (connections are redialled on use).
pub const MAX_ADDRESS_SERVERS: usize = 64;

/// Runs operations of a client core against servers over TCP.
pub struct ClientRunner<C: Client<Req: Wire, Resp: Wire>> {
    core: C,
    servers: Vec<RpcClient<C::Req, C::Resp>>,
    /// Servers named by address, at most [`MAX_ADDRESS_SERVERS`].
    by_address: BTreeMap<String, RpcClient<C::Req, C::Resp>>,
    tick: Duration,
    request_timeout: Duration,
    answers_tx: mpsc::Sender<(NodeId, Heard<C::Resp>)>,
    answers: mpsc::Receiver<(NodeId, Heard<C::Resp>)>,
    requests: JoinSet<()>,
    /// True while an operation has been invoked and has not completed.
    busy: bool,
    /// Give up at once when every server refused its connection ([`ClientRunner::fail_fast`]).
    fail_fast: bool,
}

/// What a request task heard back.
enum Heard<R> {
    /// The server's answer.
    Answer(R),
    /// The connection was refused: nothing listens there (now).
    Refused(RpcError),
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
            by_address: BTreeMap::new(),
            tick,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            answers_tx,
            answers,
            requests: JoinSet::new(),
            busy: false,
            fail_fast: false,
        }
    }

    /// Makes [`ClientRunner::run_with_deadline`] give up as soon as every server has refused a
    /// connection (nothing listens on any of them) and none has answered, instead of waiting
    /// for the deadline: what a command-line client wants. Off by default, because a long-lived
    /// client should ride out servers that restart.
    pub fn fail_fast(mut self) -> Self {
        self.fail_fast = true;
        self
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
        match self.drive(op, false).await {
            Ok(output) => output,
            Err(err) => unreachable!("only a fail-fast run gives up, yet: {err}"),
        }
    }

    /// Runs `op`, giving up after `deadline` (or, with [`ClientRunner::fail_fast`], once every
    /// server refused a connection).
    ///
    /// # Errors
    /// [`RpcError::Timeout`] if the operation did not complete in time. It may still take effect
    /// on the servers. [`RpcError::Unreachable`] if every server refused (fail-fast only;
    /// nothing was sent). The core is left inside the operation, so this runner cannot run
    /// another one: build a new runner (with a new client core) to go on.
    pub async fn run_with_deadline(
        &mut self,
        op: C::Op,
        deadline: Duration,
    ) -> Result<C::Output, RpcError> {
        let fail_fast = self.fail_fast;
        tokio::time::timeout(deadline, self.drive(op, fail_fast))
            .await
            .map_err(|_| RpcError::Timeout)?
    }

    /// Runs `op` until the core completes it, or (if `fail_fast`) until every server refused.
    async fn drive(&mut self, op: C::Op, fail_fast: bool) -> Result<C::Output, RpcError> {
        assert!(
            !self.busy,
            "ClientRunner reused after a deadline abandoned an operation; build a new one"
        );
        self.busy = true;
        let mut out = ClientOutbox::<C>::new();
        self.core.invoke(op, &mut out);
        let mut ticker = tokio::time::interval_at(Instant::now() + self.tick, self.tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Servers whose last connection attempt was refused.
        let mut refused = BTreeSet::new();
        loop {
            if let Some(output) = self.execute(&mut out) {
                self.busy = false;
                return Ok(output);
            }
            tokio::select! {
                _ = ticker.tick() => self.core.on_tick(&mut out),
                heard = self.answers.recv() => {
                    let (from, heard) = heard.expect("the runner holds a sender, so the channel stays open");
                    match heard {
                        Heard::Answer(resp) => {
                            refused.remove(&from);
                            self.core.on_response(from, resp, &mut out);
                        }
                        Heard::Refused(_) if from == NodeId::EXTERNAL => {}
                        Heard::Refused(err) => {
                            refused.insert(from);
                            if fail_fast && refused.len() == self.servers.len() {
                                return Err(err);
                            }
                        }
                    }
                }
            }
        }
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
                ClientEffect::RequestTo { addr, req } => self.request_to(&addr, req),
                ClientEffect::Complete(result) => {
                    debug_assert!(output.is_none(), "one invoke completed twice");
                    output = Some(result);
                }
            }
        }
        output
    }

    /// Sends a request to the server at `addr` (a literal `ip:port`); its answer reaches the
    /// core from [`NodeId::EXTERNAL`]. A refused connection there counts for nothing in
    /// [`ClientRunner::fail_fast`], which is about the runner's own server list.
    fn request_to(&mut self, addr: &str, req: C::Req) {
        let Ok(socket) = addr.parse::<SocketAddr>() else {
            tracing::warn!(addr, "request to an address that is not ip:port dropped");
            return;
        };
        if !self.by_address.contains_key(addr) && self.by_address.len() >= MAX_ADDRESS_SERVERS {
            self.by_address.clear();
        }
        let server = self
            .by_address
            .entry(addr.to_string())
            .or_insert_with(|| RpcClient::new(socket))
            .clone();
        self.spawn_request(NodeId::EXTERNAL, server, req);
    }

    fn request(&mut self, to: NodeId, req: C::Req) {
        let Some(server) = self.servers.get(to.index()).cloned() else {
            tracing::warn!(to = %to, "request to a server outside the list dropped");
            return;
        };
        self.spawn_request(to, server, req);
    }

    fn spawn_request(&mut self, to: NodeId, server: RpcClient<C::Req, C::Resp>, req: C::Req) {
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
                    let _ = answers.send((to, Heard::Answer(resp))).await;
                }
                Err(RpcError::Unreachable { addr, source })
                    if source.kind() == std::io::ErrorKind::ConnectionRefused =>
                {
                    let err = RpcError::Unreachable { addr, source };
                    let _ = answers.send((to, Heard::Refused(err))).await;
                }
                Err(err) => tracing::debug!(to = %to, %err, "request failed"),
            }
        });
    }
}
