//! The clerk (was `kvpaxos/client.go`): one operation at a time, sent to one server and, after
//! a timeout, to the next, always with the same `(client, seq)`, until a server answers.

use crate::msg::{KvError, Op, Request, Response};
use rpc::{Client, ClientEffect, ClientOutbox, NodeId};

/// Ticks without an answer before the clerk retries at the next server. Ten ticks (100 ms at
/// the default 10 ms tick): an agreement takes a few milliseconds, so a server that has not
/// answered by then is probably cut off from a majority or lost the request.
pub const RETRY_TICKS: u64 = 10;

/// The outbox of a clerk.
pub type ClerkOutbox = ClientOutbox<Clerk>;

/// A kvpaxos clerk. Its `Output` is the value for a Get, "" for a Put, the value's new length
/// (decimal) for an Append.
#[derive(Debug)]
pub struct Clerk {
    id: u64,
    servers: Vec<NodeId>,
    /// Index into `servers` of the server tried now.
    current: usize,
    seq: u64,
    op: Option<Request>,
    ticks_waiting: u64,
}

impl Clerk {
    /// A clerk with identity `id` (unique among clerks: a random 62-bit number in practice)
    /// that tries `servers` in this order.
    ///
    /// # Panics
    /// If `servers` is empty.
    pub fn new(id: u64, servers: Vec<NodeId>) -> Self {
        assert!(!servers.is_empty(), "a clerk needs at least one server");
        Clerk {
            id,
            servers,
            current: 0,
            seq: 0,
            op: None,
            ticks_waiting: 0,
        }
    }

    /// The clerk's identity.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn send(&mut self, out: &mut ClerkOutbox) {
        let Some(req) = &self.op else { return };
        out.push(ClientEffect::Request {
            to: self.servers[self.current],
            req: req.clone(),
        });
    }

    fn next_server(&mut self, out: &mut ClerkOutbox) {
        self.current = (self.current + 1) % self.servers.len();
        self.ticks_waiting = 0;
        self.send(out);
    }
}

impl Client for Clerk {
    type Op = Op;
    type Output = String;
    type Req = Request;
    type Resp = Response;

    fn invoke(&mut self, op: Op, out: &mut ClerkOutbox) {
        assert!(self.op.is_none(), "one operation at a time per clerk");
        self.seq += 1;
        self.op = Some(Request {
            client: self.id,
            seq: self.seq,
            op,
        });
        self.ticks_waiting = 0;
        self.send(out);
    }

    fn on_response(&mut self, _from: NodeId, resp: Response, out: &mut ClerkOutbox) {
        if resp.client != self.id || resp.seq != self.seq || self.op.is_none() {
            return;
        }
        match resp.result {
            Ok(value) => {
                self.op = None;
                out.push(ClientEffect::Complete(value));
            }
            // The server is full, or cannot serve at all: the next retry tick moves on to the
            // next server.
            Err(KvError::Busy | KvError::Unavailable) => self.ticks_waiting = RETRY_TICKS - 1,
        }
    }

    fn on_tick(&mut self, out: &mut ClerkOutbox) {
        if self.op.is_none() {
            return;
        }
        self.ticks_waiting += 1;
        if self.ticks_waiting >= RETRY_TICKS {
            self.next_server(out);
        }
    }
}
