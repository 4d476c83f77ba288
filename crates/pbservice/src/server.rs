//! A primary/backup server as a real network server: the same [`Replica`] core on the TCP
//! runtime.
//!
//! Over TCP a server knows the view service's address and its own, nothing else: the others
//! register their addresses with the view service, and views carry them. So the shell wraps
//! the core in [`Shell`], which turns every message the core sends into a *request* (a ping to
//! the view service, or a [`PbRequest::Peer`] to the address the view gives for that server),
//! sends it from a sender task, and feeds the answer back into the core as the message it
//! carries. A `Peer` request arriving here is handed to the core as a peer message, and the
//! core's `Respond` to it becomes the request's reply. The core itself stays unchanged.

use crate::msg::{PbMsg, PbRequest, PbResponse};
use crate::replica::{PbOutbox, Replica};
use rpc::runtime::{NodeConfig, NodeHandle, spawn_node};
use rpc::{Effect, Node, NodeId, NodeOutbox, ReqId, RpcClient, RpcError};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use viewservice::{PING_INTERVAL, VIEW_SERVICE_ID, View, ViewReply, VsMsg, VsRequest};

/// How long a server waits for the answer to one of its own requests. Why 1 s: ten ticks;
/// everything the core sends is resent on a later tick anyway, so this only reclaims tasks.
pub const PEER_CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// Outgoing requests queued for the sender task. Why 1024: a few ticks' worth of pings,
/// forwards and transfers; beyond it messages are dropped, which the core tolerates (loss).
pub const OUTGOING_CAPACITY: usize = 1024;

/// Outgoing requests in flight at once (one task each).
pub const OUTGOING_IN_FLIGHT_MAX: usize = 256;

/// A message the core sent, with where it goes.
#[derive(Debug)]
struct Outgoing {
    to: NodeId,
    from: Option<NodeId>,
    msg: PbMsg,
    /// The destination's registered address; `None` for the view service.
    addr: Option<String>,
}

/// The core plus its link to the sender task (shell-side state only).
#[derive(Debug)]
pub struct Shell {
    replica: Replica,
    outgoing: mpsc::Sender<Outgoing>,
}

impl Shell {
    /// Runs `f` on the replica and carries out its effects: replies stay replies, a `Respond`
    /// to the peer request being handled becomes its reply, everything else leaves as requests.
    fn step(
        &mut self,
        answering: Option<(ReqId, NodeId)>,
        out: &mut NodeOutbox<Shell>,
        f: impl FnOnce(&mut Replica, &mut PbOutbox),
    ) {
        let mut inner = PbOutbox::new();
        f(&mut self.replica, &mut inner);
        for effect in inner.drain() {
            match effect {
                Effect::Respond { to, msg } if answering.is_some_and(|(_, from)| from == to) => {
                    let (req, _) = answering.expect("checked by the guard");
                    out.reply(req, PbResponse::Peer(msg));
                }
                Effect::Respond { to, msg } | Effect::Send { to, msg } => self.send(to, msg),
                Effect::Reply { req, resp } => out.reply(req, resp),
                Effect::SendTo { .. }
                | Effect::Write { .. }
                | Effect::Remove { .. }
                | Effect::Append { .. }
                | Effect::Truncate { .. }
                | Effect::Sync => {}
            }
        }
    }

    fn send(&self, to: NodeId, msg: PbMsg) {
        let addr = if to == VIEW_SERVICE_ID {
            None
        } else {
            match self.replica.addr_of(to) {
                Some(addr) => Some(addr.to_string()),
                None => {
                    tracing::debug!(%to, "no address for server; message dropped");
                    return;
                }
            }
        };
        let outgoing = Outgoing {
            to,
            from: self.replica.me(),
            msg,
            addr,
        };
        if self.outgoing.try_send(outgoing).is_err() {
            tracing::warn!(%to, "outgoing queue full; message dropped");
        }
    }
}

impl Node for Shell {
    type Msg = PbMsg;
    type Req = PbRequest;
    type Resp = PbResponse;

    fn on_message(&mut self, from: NodeId, msg: PbMsg, out: &mut NodeOutbox<Self>) {
        self.step(None, out, |r, o| r.on_message(from, msg, o));
    }

    fn on_request(&mut self, req: ReqId, body: PbRequest, out: &mut NodeOutbox<Self>) {
        match body {
            PbRequest::Peer { from, msg } => {
                self.step(Some((req, from)), out, |r, o| r.on_message(from, msg, o));
            }
            body => self.step(None, out, |r, o| r.on_request(req, body, o)),
        }
    }

    fn on_tick(&mut self, out: &mut NodeOutbox<Self>) {
        self.step(None, out, |r, o| r.on_tick(o));
    }
}

/// A running primary/backup server. Dropping it kills the server.
pub struct PbServer {
    node: Arc<NodeHandle<Shell>>,
}

impl PbServer {
    /// Serves a fresh, empty server on `listener`, registered with the view service at `vs`
    /// under `advertise` (the address clerks and other servers reach this one at).
    pub fn spawn(listener: TcpListener, vs: SocketAddr, advertise: String) -> PbServer {
        let (tx, rx) = mpsc::channel(OUTGOING_CAPACITY);
        let shell = Shell {
            replica: Replica::new(None, VIEW_SERVICE_ID),
            outgoing: tx,
        };
        // The runtime needs a peer list; ours is only ourselves (index 0): the shell never
        // emits `Send`s to the runtime, it routes them itself by address.
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let config = NodeConfig {
            id: NodeId(0),
            listener,
            peers: vec![local],
            tick: PING_INTERVAL,
            data_dir: None,
        };
        let node = Arc::new(spawn_node(shell, config));
        tokio::spawn(sender(rx, Arc::downgrade(&node), vs, advertise));
        PbServer { node }
    }

    /// The latest view this server knows.
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server stopped.
    pub async fn view(&self) -> Result<View, RpcError> {
        self.node.call(|shell, _| shell.replica.view()).await
    }

    /// True if this server is primary and holds the data.
    ///
    /// # Errors
    /// [`RpcError::Shutdown`] if the server stopped.
    pub async fn is_serving(&self) -> Result<bool, RpcError> {
        self.node.call(|shell, _| shell.replica.is_serving()).await
    }

    /// Stops the server abruptly.
    pub fn kill(&self) {
        self.node.kill();
    }

    /// True once the server has stopped.
    pub fn is_finished(&self) -> bool {
        self.node.is_finished()
    }
}

impl Drop for PbServer {
    fn drop(&mut self) {
        self.node.kill();
    }
}

/// Sends the core's messages as requests and feeds the answers back to the core. Ends when the
/// node is gone (its core, holding the queue's sender, was dropped).
async fn sender(
    mut rx: mpsc::Receiver<Outgoing>,
    node: Weak<NodeHandle<Shell>>,
    vs_addr: SocketAddr,
    advertise: String,
) {
    let vs: RpcClient<VsRequest, ViewReply> = RpcClient::new(vs_addr);
    let mut peers: HashMap<String, RpcClient<PbRequest, PbResponse>> = HashMap::new();
    let slots = Arc::new(Semaphore::new(OUTGOING_IN_FLIGHT_MAX));
    while let Some(out) = rx.recv().await {
        tracing::trace!(to = %out.to, msg = ?out.msg, "outgoing");
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(to = %out.to, "too many requests in flight; message dropped");
            continue;
        };
        let node = node.clone();
        match (out.addr, out.msg) {
            (None, PbMsg::Vs(VsMsg::Ping { viewnum })) => {
                let (vs, advertise) = (vs.clone(), advertise.clone());
                tokio::spawn(async move {
                    let req = VsRequest::Ping {
                        viewnum,
                        addr: advertise,
                    };
                    match vs.call(req, PEER_CALL_TIMEOUT).await {
                        Ok(reply) => deliver(&node, out.to, PbMsg::Vs(VsMsg::View(reply))).await,
                        Err(err) => tracing::debug!(%err, "ping failed"),
                    }
                    drop(permit);
                });
            }
            (None, _) => {}
            (Some(addr), msg) => {
                let Some(from) = out.from else { continue };
                let Some(client) = peer_client(&mut peers, &addr) else {
                    continue;
                };
                tokio::spawn(async move {
                    let req = PbRequest::Peer { from, msg };
                    if let Ok(PbResponse::Peer(answer)) = client.call(req, PEER_CALL_TIMEOUT).await
                    {
                        deliver(&node, out.to, answer).await;
                    }
                    drop(permit);
                });
            }
        }
    }
}

/// The client for a peer's registered address (parsed, never resolved: servers register the
/// `IP:port` they listen on). A malformed address from the view is dropped with a warning.
fn peer_client(
    peers: &mut HashMap<String, RpcClient<PbRequest, PbResponse>>,
    addr: &str,
) -> Option<RpcClient<PbRequest, PbResponse>> {
    if let Some(client) = peers.get(addr) {
        return Some(client.clone());
    }
    let Ok(socket) = addr.parse::<SocketAddr>() else {
        tracing::warn!(addr, "malformed server address in view");
        return None;
    };
    // Bound the cache: a handful of servers is normal; drop it all if views churn absurdly.
    if peers.len() >= 64 {
        peers.clear();
    }
    let client = RpcClient::new(socket);
    peers.insert(addr.to_string(), client.clone());
    Some(client)
}

async fn deliver(node: &Weak<NodeHandle<Shell>>, from: NodeId, msg: PbMsg) {
    let Some(node) = node.upgrade() else { return };
    let _ = node
        .call(move |shell, out| shell.on_message(from, msg, out))
        .await;
}
