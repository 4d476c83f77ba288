//! One node type for a whole simulated service: the view service and the servers in one
//! cluster, so that the simulator (one node type per run) drives them together. Node 0 is the
//! view service; nodes 1.. are servers.
//!
//! SPEC §1.2: the view service has no unreliable mode; only the servers do. The simulator's
//! unreliable mode is global and draws on every peer `Send`, so this adapter sends the
//! servers' pings as `Respond`s, which the draw spares (and so are the view service's answers
//! to them). Loss, partitions and crashes still apply to pings; only the SPEC's unreliable
//! draw does not. The `Replica` core itself is unchanged: it sends its pings as requests.

use crate::msg::{PbMsg, PbRequest, PbResponse};
use crate::replica::{PbOutbox, Replica};
use rpc::{Effect, Node, NodeId, NodeOutbox, Outbox, ReqId};
use viewservice::{VIEW_SERVICE_ID, ViewService, VsMsg};

/// A node of a simulated primary/backup service.
#[derive(Debug)]
pub enum PbNode {
    /// The view service (node 0).
    ViewService(ViewService),
    /// A primary/backup server.
    Server(Replica),
}

impl PbNode {
    /// The nodes of a cluster: the view service, then `servers` fresh servers (nodes 1..).
    pub fn cluster(servers: u32) -> Vec<PbNode> {
        let mut nodes = vec![PbNode::ViewService(ViewService::new())];
        nodes.extend((1..=servers).map(|i| PbNode::fresh_server(NodeId(i))));
        nodes
    }

    /// A fresh, empty server `id` (a start or a restart: SPEC §1.6, pbservice restarts empty).
    pub fn fresh_server(id: NodeId) -> PbNode {
        PbNode::Server(Replica::new(Some(id), VIEW_SERVICE_ID))
    }

    /// The server core, if this node is a server.
    pub fn server(&self) -> Option<&Replica> {
        match self {
            PbNode::Server(r) => Some(r),
            PbNode::ViewService(_) => None,
        }
    }

    /// The view service core, if this node is it.
    pub fn view_service(&self) -> Option<&ViewService> {
        match self {
            PbNode::ViewService(vs) => Some(vs),
            PbNode::Server(_) => None,
        }
    }
}

/// Carries out a server's effects, turning its pings into answers (see the module docs).
fn spare_pings(inner: &mut PbOutbox, out: &mut PbOutbox) {
    for effect in inner.drain() {
        match effect {
            Effect::Send {
                to,
                msg: msg @ PbMsg::Vs(VsMsg::Ping { .. }),
            } if to == VIEW_SERVICE_ID => out.respond(to, msg),
            Effect::Send { to, msg } => out.send(to, msg),
            Effect::Respond { to, msg } => out.respond(to, msg),
            Effect::Reply { req, resp } => out.reply(req, resp),
            Effect::Write { file, bytes } => out.write(file, bytes),
            Effect::Remove { file } => out.remove(file),
            Effect::Sync => out.sync(),
        }
    }
}

impl Node for PbNode {
    type Msg = PbMsg;
    type Req = PbRequest;
    type Resp = PbResponse;

    fn on_message(&mut self, from: NodeId, msg: PbMsg, out: &mut NodeOutbox<Self>) {
        match self {
            PbNode::Server(r) => {
                let mut inner = Outbox::new();
                r.on_message(from, msg, &mut inner);
                spare_pings(&mut inner, out);
            }
            PbNode::ViewService(vs) => {
                if let PbMsg::Vs(msg) = msg {
                    let mut inner = Outbox::new();
                    vs.on_message(from, msg, &mut inner);
                    out.absorb(&mut inner, PbMsg::Vs);
                }
            }
        }
    }

    fn on_request(&mut self, req: ReqId, body: PbRequest, out: &mut NodeOutbox<Self>) {
        match self {
            PbNode::Server(r) => {
                let mut inner = Outbox::new();
                r.on_request(req, body, &mut inner);
                spare_pings(&mut inner, out);
            }
            PbNode::ViewService(vs) => {
                if let PbRequest::View(body) = body {
                    let mut inner = Outbox::new();
                    vs.on_request(req, body, &mut inner);
                    out.absorb(&mut inner, PbMsg::Vs);
                }
            }
        }
    }

    fn on_tick(&mut self, out: &mut NodeOutbox<Self>) {
        match self {
            PbNode::Server(r) => {
                let mut inner = Outbox::new();
                r.on_tick(&mut inner);
                spare_pings(&mut inner, out);
            }
            PbNode::ViewService(vs) => {
                let mut inner = Outbox::new();
                vs.on_tick(&mut inner);
                out.absorb(&mut inner, PbMsg::Vs);
            }
        }
    }
}
