//! The clerk (was `pbservice/client.go`): one operation at a time, retried until a primary
//! answers, with the view cached so that the view service is asked only after a failure.

use crate::msg::{Op, OpRequest, PbError, PbRequest, PbResponse};
use rpc::{Client, ClientEffect, ClientOutbox, NodeId};
use viewservice::{ViewReply, VsRequest};

/// Ticks (ping intervals) without an answer before the clerk asks the view service again and
/// retries (SPEC §4.1: clerks sleep one PingInterval between retries). Two, so one slow answer
/// (a primary waiting on its backup) does not cost a view-service RPC.
pub const RETRY_TICKS: u64 = 2;

/// The outbox of a clerk.
pub type ClerkOutbox = ClientOutbox<Clerk>;

/// A primary/backup clerk. Its `Output` is the value for a Get, "" for a Put, the value's new
/// length (decimal) for an Append.
#[derive(Debug)]
pub struct Clerk {
    id: u64,
    vs: NodeId,
    seq: u64,
    /// The cached view, with addresses.
    view: Option<ViewReply>,
    op: Option<OpRequest>,
    ticks_waiting: u64,
    view_requests: u64,
}

impl Clerk {
    /// A clerk with identity `id` (unique among clerks: a random 62-bit number in practice)
    /// talking to the view service at node `vs`.
    pub fn new(id: u64, vs: NodeId) -> Self {
        Clerk {
            id,
            vs,
            seq: 0,
            view: None,
            op: None,
            ticks_waiting: 0,
            view_requests: 0,
        }
    }

    /// The clerk's identity.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The view the clerk has cached.
    pub fn cached_view(&self) -> Option<&ViewReply> {
        self.view.as_ref()
    }

    /// The address of server `id` in the cached view (TCP).
    pub fn addr_of(&self, id: NodeId) -> Option<&str> {
        let reply = self.view.as_ref()?;
        let addr = if reply.view.primary == Some(id) {
            &reply.primary_addr
        } else if reply.view.backup == Some(id) {
            &reply.backup_addr
        } else {
            return None;
        };
        Some(addr.as_str()).filter(|a| !a.is_empty())
    }

    /// How many times this clerk asked the view service.
    pub fn view_requests(&self) -> u64 {
        self.view_requests
    }

    /// Gives up on the operation in flight (a driver's deadline passed). It may still take
    /// effect; the next operation gets a higher number, so a late retry of this one is ignored.
    pub fn abandon(&mut self) {
        self.op = None;
    }

    /// The view service's identity.
    pub fn view_service(&self) -> NodeId {
        self.vs
    }

    fn ask_view(&mut self, out: &mut ClerkOutbox) {
        self.view_requests += 1;
        out.push(ClientEffect::Request {
            to: self.vs,
            req: PbRequest::View(VsRequest::Get),
        });
    }

    /// Sends the operation to the cached primary. Without one, the view is asked for: at once
    /// if nothing is cached, else on the next retry tick (a view without a primary, asked again
    /// at once, would be a storm of requests at the view service).
    fn send(&mut self, out: &mut ClerkOutbox) {
        let Some(op) = &self.op else { return };
        match self.view.as_ref().map(|r| r.view.primary) {
            Some(Some(primary)) => out.push(ClientEffect::Request {
                to: primary,
                req: PbRequest::Op(op.clone()),
            }),
            Some(None) => {}
            None => self.ask_view(out),
        }
    }
}

impl Client for Clerk {
    type Op = Op;
    type Output = String;
    type Req = PbRequest;
    type Resp = PbResponse;

    fn invoke(&mut self, op: Op, out: &mut ClerkOutbox) {
        assert!(self.op.is_none(), "one operation at a time per clerk");
        self.seq += 1;
        self.op = Some(OpRequest {
            client: self.id,
            seq: self.seq,
            op,
        });
        self.ticks_waiting = 0;
        self.send(out);
    }

    fn on_response(&mut self, _from: NodeId, resp: PbResponse, out: &mut ClerkOutbox) {
        match resp {
            PbResponse::View(reply) => {
                let newer = self
                    .view
                    .as_ref()
                    .is_none_or(|cached| reply.view.num >= cached.view.num);
                if newer {
                    self.view = Some(reply);
                    self.send(out);
                }
            }
            PbResponse::Op { clerk, seq, result } => {
                if clerk != self.id || seq != self.seq || self.op.is_none() {
                    return;
                }
                match result {
                    Ok(value) => {
                        self.op = None;
                        out.push(ClientEffect::Complete(value));
                    }
                    Err(PbError::WrongServer) => {
                        self.view = None;
                    }
                }
            }
            PbResponse::Peer(_) => {}
        }
    }

    fn on_tick(&mut self, out: &mut ClerkOutbox) {
        if self.op.is_none() {
            return;
        }
        self.ticks_waiting += 1;
        if self.ticks_waiting >= RETRY_TICKS {
            self.ticks_waiting = 0;
            self.ask_view(out);
        }
    }
}
