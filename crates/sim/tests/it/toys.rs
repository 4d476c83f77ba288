//! Toy cores for the simulator's own tests: a ping/echo peer, a register server with
//! at-most-once Puts, a retrying clerk, and a client that fires one request per tick.

use bytes::Bytes;
use rpc::{
    Client, ClientEffect, ClientOutbox, DiskImage, NoRequest, Node, NodeId, NodeOutbox, ReqId,
};
use sim::{Sim, SimConfig};
use std::collections::BTreeMap;

/// Peer messages of [`Echo`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EchoMsg {
    /// A request: answer with `Pong` of the same number.
    Ping(u64),
    /// The answer.
    Pong(u64),
}

/// A peer that answers every `Ping` with a `Pong`, records what it received, and can ping a
/// target on every tick. `storm` makes it ping again on every `Pong`: an endless exchange.
#[derive(Debug, Default)]
pub struct Echo {
    pub pings: Vec<(NodeId, u64)>,
    pub pongs: Vec<(NodeId, u64)>,
    pub ticks: u64,
    pub ping_on_tick: Option<NodeId>,
    pub storm: bool,
    pub next: u64,
}

impl Echo {
    /// Sends a ping to `to` (called through `Sim::call`).
    pub fn ping(&mut self, to: NodeId, out: &mut NodeOutbox<Self>) {
        out.send(to, EchoMsg::Ping(self.next));
        self.next += 1;
    }
}

impl Node for Echo {
    type Msg = EchoMsg;
    type Req = NoRequest;
    type Resp = NoRequest;

    fn on_message(&mut self, from: NodeId, msg: EchoMsg, out: &mut NodeOutbox<Self>) {
        match msg {
            EchoMsg::Ping(n) => {
                self.pings.push((from, n));
                out.respond(from, EchoMsg::Pong(n));
            }
            EchoMsg::Pong(n) => {
                self.pongs.push((from, n));
                if self.storm {
                    self.ping(from, out);
                }
            }
        }
    }

    fn on_request(&mut self, _: ReqId, body: NoRequest, _: &mut NodeOutbox<Self>) {
        match body {}
    }

    fn on_tick(&mut self, out: &mut NodeOutbox<Self>) {
        self.ticks += 1;
        if let Some(to) = self.ping_on_tick {
            self.ping(to, out);
        }
    }
}

/// `n` echo peers with the default config for `seed`.
pub fn echo_sim(seed: u64, n: usize) -> Sim<Echo> {
    Sim::<Echo>::new(
        SimConfig::new(seed),
        (0..n).map(|_| Echo::default()).collect(),
    )
}

/// A request to [`Register`]: every request names its client and sequence number, and the answer
/// echoes them, so a clerk can tell a stale answer from the one it waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegReq {
    pub client: u64,
    pub seq: u64,
    pub op: RegOp,
}

/// An operation on the register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegOp {
    Put(u64),
    Get,
}

/// The answer to a [`RegReq`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegResp {
    pub seq: u64,
    pub value: u64,
}

/// A one-value register with at-most-once Puts per (client, seq). `durable` makes each applied
/// Put write and sync file "value"; `defer` answers on the next tick instead of at once.
#[derive(Debug, Default)]
pub struct Register {
    pub value: u64,
    pub last_seq: BTreeMap<u64, u64>,
    pub applied: u64,
    pub handled: u64,
    pub durable: bool,
    pub defer: bool,
    pub deferred: Vec<(ReqId, RegResp)>,
}

impl Register {
    /// A durable register rebuilt from its disk.
    pub fn recover(disk: &DiskImage) -> Self {
        let value = disk
            .get("value")
            .map_or(0, |b| u64::from_le_bytes(b[..].try_into().unwrap()));
        Register {
            value,
            durable: true,
            ..Register::default()
        }
    }
}

impl Node for Register {
    type Msg = ();
    type Req = RegReq;
    type Resp = RegResp;

    fn on_message(&mut self, _: NodeId, _: (), _: &mut NodeOutbox<Self>) {}

    fn on_request(&mut self, req: ReqId, body: RegReq, out: &mut NodeOutbox<Self>) {
        self.handled += 1;
        let fresh = self
            .last_seq
            .get(&body.client)
            .is_none_or(|&last| last < body.seq);
        if let RegOp::Put(value) = body.op
            && fresh
        {
            self.value = value;
            self.last_seq.insert(body.client, body.seq);
            self.applied += 1;
            if self.durable {
                out.write("value", Bytes::copy_from_slice(&value.to_le_bytes()));
                out.sync();
            }
        }
        let resp = RegResp {
            seq: body.seq,
            value: self.value,
        };
        if self.defer {
            self.deferred.push((req, resp));
        } else {
            out.reply(req, resp);
        }
    }

    fn on_tick(&mut self, out: &mut NodeOutbox<Self>) {
        for (req, resp) in self.deferred.drain(..) {
            out.reply(req, resp);
        }
    }
}

/// A clerk: one operation at a time, resent to the next server after `timeout_ticks` ticks
/// without the answer.
#[derive(Debug)]
pub struct Clerk {
    pub id: u64,
    pub servers: Vec<NodeId>,
    pub timeout_ticks: u32,
    pub attempts: u64,
    seq: u64,
    current: Option<RegReq>,
    waited_ticks: u32,
    target: usize,
}

impl Clerk {
    pub fn new(id: u64, servers: Vec<NodeId>, timeout_ticks: u32) -> Self {
        Clerk {
            id,
            servers,
            timeout_ticks,
            attempts: 0,
            seq: 0,
            current: None,
            waited_ticks: 0,
            target: 0,
        }
    }

    fn send(&mut self, out: &mut ClientOutbox<Self>) {
        let req = self
            .current
            .clone()
            .expect("sending only with an operation in flight");
        self.attempts += 1;
        self.waited_ticks = 0;
        out.push(ClientEffect::Request {
            to: self.servers[self.target],
            req,
        });
    }
}

impl Client for Clerk {
    type Op = RegOp;
    type Output = u64;
    type Req = RegReq;
    type Resp = RegResp;

    fn invoke(&mut self, op: RegOp, out: &mut ClientOutbox<Self>) {
        self.seq += 1;
        self.current = Some(RegReq {
            client: self.id,
            seq: self.seq,
            op,
        });
        self.send(out);
    }

    fn on_response(&mut self, _: NodeId, resp: RegResp, out: &mut ClientOutbox<Self>) {
        if self.current.is_some() && resp.seq == self.seq {
            self.current = None;
            out.push(ClientEffect::Complete(resp.value));
        }
    }

    fn on_tick(&mut self, out: &mut ClientOutbox<Self>) {
        if self.current.is_none() {
            return;
        }
        self.waited_ticks += 1;
        if self.waited_ticks >= self.timeout_ticks {
            self.target = (self.target + 1) % self.servers.len();
            self.send(out);
        }
    }
}

/// A client that sends a `Get` to `to` on every tick until it has sent `limit`, and counts the
/// answers; it never completes an operation. For measuring delivery rates.
#[derive(Debug)]
pub struct Blaster {
    pub to: NodeId,
    pub limit: u64,
    pub sent: u64,
    pub answers: u64,
}

impl Blaster {
    pub fn new(to: NodeId, limit: u64) -> Self {
        Blaster {
            to,
            limit,
            sent: 0,
            answers: 0,
        }
    }
}

impl Client for Blaster {
    type Op = ();
    type Output = ();
    type Req = RegReq;
    type Resp = RegResp;

    fn invoke(&mut self, (): (), _: &mut ClientOutbox<Self>) {}

    fn on_response(&mut self, _: NodeId, _: RegResp, _: &mut ClientOutbox<Self>) {
        self.answers += 1;
    }

    fn on_tick(&mut self, out: &mut ClientOutbox<Self>) {
        if self.sent >= self.limit {
            return;
        }
        self.sent += 1;
        out.push(ClientEffect::Request {
            to: self.to,
            req: RegReq {
                client: 0,
                seq: self.sent,
                op: RegOp::Get,
            },
        });
    }
}
