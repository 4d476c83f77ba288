//! The clerk over TCP: the same [`Clerk`] core, its requests sent to the view service's
//! address or to the address the cached view gives for a server.

use crate::clerk::Clerk;
use crate::msg::{Op, PbRequest, PbResponse};
use rpc::{Client, ClientEffect, ClientOutbox, NodeId, RpcClient};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use viewservice::{PING_INTERVAL, VIEW_SERVICE_ID, View, ViewReply, VsRequest};

/// How long one request may wait for its answer. The core retries on its own schedule (every
/// [`crate::RETRY_TICKS`] ticks), so this only reclaims tasks whose server went silent.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Requests in flight at once; past it new ones are dropped (lost, to the core).
pub const REQUESTS_IN_FLIGHT_MAX: usize = 64;

/// Why an operation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ClerkError {
    /// No primary answered in time. The operation may still take effect later.
    #[error("no primary answered within {waited:?} (last view known: {view})")]
    Timeout {
        /// How long we waited.
        waited: Duration,
        /// The last view the clerk learnt, if any.
        view: String,
    },
}

/// A clerk over TCP.
pub struct TcpClerk {
    core: Clerk,
    vs: RpcClient<VsRequest, ViewReply>,
    servers: HashMap<SocketAddr, RpcClient<PbRequest, PbResponse>>,
    answers_tx: mpsc::Sender<(NodeId, PbResponse)>,
    answers: mpsc::Receiver<(NodeId, PbResponse)>,
    requests: JoinSet<()>,
}

impl TcpClerk {
    /// A clerk with identity `id` (unique among clerks) for the service whose view service
    /// listens at `vs`.
    pub fn new(id: u64, vs: SocketAddr) -> Self {
        let (answers_tx, answers) = mpsc::channel(REQUESTS_IN_FLIGHT_MAX);
        TcpClerk {
            core: Clerk::new(id, VIEW_SERVICE_ID),
            vs: RpcClient::new(vs),
            servers: HashMap::new(),
            answers_tx,
            answers,
            requests: JoinSet::new(),
        }
    }

    /// The view the clerk has cached.
    pub fn cached_view(&self) -> Option<View> {
        self.core.cached_view().map(|r| r.view)
    }

    /// The address of the primary in the cached view, if any.
    pub fn primary_addr(&self) -> Option<&str> {
        let primary = self.core.cached_view()?.view.primary?;
        self.core.addr_of(primary)
    }

    /// Runs `op` until a primary answers, or until `deadline` passes.
    ///
    /// # Errors
    /// [`ClerkError::Timeout`] if no primary answered in time; the operation may still take
    /// effect, and the next operation of this clerk is still at most once.
    pub async fn run(&mut self, op: Op, deadline: Duration) -> Result<String, ClerkError> {
        let mut out = ClientOutbox::<Clerk>::new();
        self.core.invoke(op, &mut out);
        let stop = Instant::now() + deadline;
        let mut ticker = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if let Some(value) = self.execute(&mut out) {
                return Ok(value);
            }
            tokio::select! {
                _ = ticker.tick() => self.core.on_tick(&mut out),
                Some((from, resp)) = self.answers.recv() => self.core.on_response(from, resp, &mut out),
                () = tokio::time::sleep_until(stop) => {
                    self.core.abandon();
                    let view = self
                        .cached_view()
                        .map_or_else(|| "none".to_string(), |v| v.to_string());
                    return Err(ClerkError::Timeout { waited: deadline, view });
                }
            }
        }
    }

    fn execute(&mut self, out: &mut ClientOutbox<Clerk>) -> Option<String> {
        while self.requests.try_join_next().is_some() {}
        let mut done = None;
        for effect in out.drain(..) {
            match effect {
                ClientEffect::Request { to, req } => self.request(to, req),
                ClientEffect::RequestTo { .. } => {}
                ClientEffect::Complete(value) => done = Some(value),
            }
        }
        done
    }

    fn request(&mut self, to: NodeId, req: PbRequest) {
        if self.requests.len() >= REQUESTS_IN_FLIGHT_MAX {
            tracing::warn!(%to, "too many requests in flight; dropped");
            return;
        }
        let answers = self.answers_tx.clone();
        if to == VIEW_SERVICE_ID {
            let PbRequest::View(req) = req else { return };
            let vs = self.vs.clone();
            self.requests.spawn(async move {
                if let Ok(reply) = vs.call(req, REQUEST_TIMEOUT).await {
                    let _ = answers.send((to, PbResponse::View(reply))).await;
                }
            });
            return;
        }
        let Some(addr) = self
            .core
            .addr_of(to)
            .and_then(|a| a.parse::<SocketAddr>().ok())
        else {
            tracing::debug!(%to, "no usable address for server; dropped");
            return;
        };
        let server = self
            .servers
            .entry(addr)
            .or_insert_with(|| RpcClient::new(addr))
            .clone();
        self.requests.spawn(async move {
            match server.call(req, REQUEST_TIMEOUT).await {
                Ok(resp) => {
                    let _ = answers.send((to, resp)).await;
                }
                Err(err) => tracing::debug!(%to, %err, "request failed"),
            }
        });
    }
}
