//! One node type for a whole simulated service: the view service and the servers in one
//! cluster, so that the simulator (one node type per run) drives them together. Node 0 is the
//! view service; nodes 1.. are servers.
//!
//! SPEC §1.2: the view service has no unreliable mode; only the servers do. A simulation says
//! so with `Sim::set_unreliable_at(VIEW_SERVICE_ID, false)` (the test harness does).

use crate::msg::{PbMsg, PbRequest, PbResponse};
use crate::replica::Replica;
use rpc::{Node, NodeId, NodeOutbox, Outbox, ReqId};
use viewservice::{VIEW_SERVICE_ID, ViewService};

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

impl Node for PbNode {
    type Msg = PbMsg;
    type Req = PbRequest;
    type Resp = PbResponse;

    fn on_message(&mut self, from: NodeId, msg: PbMsg, out: &mut NodeOutbox<Self>) {
        match self {
            PbNode::Server(r) => {
                r.on_message(from, msg, out);
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
                r.on_request(req, body, out);
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
                r.on_tick(out);
            }
            PbNode::ViewService(vs) => {
                let mut inner = Outbox::new();
                vs.on_tick(&mut inner);
                out.absorb(&mut inner, PbMsg::Vs);
            }
        }
    }
}
