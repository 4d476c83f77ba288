//! The way out: carrying out a core's effects in order, and the fault draws every message
//! takes when it is sent.
//!
//! Partitions, cuts, deafness and crashes are checked twice: here, when a message is sent, and
//! again when it arrives ([`crate::deliver`]), so a fault imposed while a message is in flight
//! still stops it. Loss, duplication and latency are drawn once, here; the SPEC §1.2 unreliable
//! draw happens at the receiver.

use crate::deliver::Answering;
use crate::faults::DiskFault;
use crate::sim::{Event, PeerMsg, Sim};
use crate::stats::DropCause;
use crate::trace::{Endpoint, Kind};
use rpc::{Client, ClientEffect, ClientId, Effect, Node, NodeId, ReqId};

impl<N: Node, C: Client<Req = N::Req, Resp = N::Resp>> Sim<N, C> {
    /// Carries out the effects node `id` just produced, in order. `answering` is the peer
    /// request being handled, if any: answers to it are routed to the process that sent it.
    pub(crate) fn apply_node_effects(&mut self, id: NodeId, answering: Option<Answering>) {
        let mut out = std::mem::take(&mut self.node_out);
        for effect in out.drain() {
            match effect {
                Effect::Send { to, msg } => self.send_peer(id, to, false, msg, None),
                Effect::SendTo { addr, msg } => match self.node_at(&addr) {
                    Some(to) => self.send_peer_inner(id, to, false, msg, None, true),
                    None => self.drop_unaddressed(Endpoint::Node(id), &addr, &msg),
                },
                Effect::Respond { to, msg } => match answering {
                    Some(a) if a.to == to && a.lost => {
                        self.drop_msg(
                            DropCause::UnreliableReply,
                            Endpoint::Node(id),
                            Endpoint::Node(to),
                            &msg,
                        );
                    }
                    Some(a) if a.to == to => {
                        self.send_peer(id, to, true, msg, Some(a.to_incarnation))
                    }
                    _ => self.send_peer(id, to, true, msg, None),
                },
                Effect::Reply { req, resp } => self.send_reply(id, req, resp),
                // The simulated disk acts at once, and events never interleave inside one
                // handler, so Sync trivially precedes every later effect (driver contract 2).
                // A failed disk operation stops the node right there: `break` drops every
                // later effect of this input, so nothing after it leaves.
                Effect::Write { file, bytes } => {
                    self.nodes[id.index()].disk.write(file, bytes);
                    if self.disk_fails(id, DiskFault::Write) {
                        break;
                    }
                }
                Effect::Remove { file } => self.nodes[id.index()].disk.remove(file),
                Effect::Append { file, bytes } => {
                    if let Err(err) = self.nodes[id.index()].disk.append(file, bytes) {
                        panic!("node {id} broke the disk contract: {err}");
                    }
                    if self.disk_fails(id, DiskFault::Write) {
                        break;
                    }
                }
                Effect::Truncate { file, len } => {
                    if let Err(err) = self.nodes[id.index()].disk.truncate(file, len) {
                        panic!("node {id} broke the disk contract: {err}");
                    }
                }
                Effect::Sync => {
                    if self.disk_fails(id, DiskFault::Sync) {
                        break;
                    }
                    self.nodes[id.index()].disk.sync();
                }
            }
        }
        self.node_out = out;
    }

    pub(crate) fn apply_client_effects(&mut self, id: ClientId) {
        let mut out = std::mem::take(&mut self.client_out);
        for effect in out.drain(..) {
            match effect {
                ClientEffect::Request { to, req } => self.send_request(id, to, req, false),
                ClientEffect::RequestTo { addr, req } => match self.node_at(&addr) {
                    Some(to) => self.send_request(id, to, req, true),
                    None => self.drop_unaddressed(Endpoint::Client(id), &addr, &req),
                },
                ClientEffect::Complete(output) => self.complete(id, output),
            }
        }
        self.client_out = out;
    }

    fn complete(&mut self, id: ClientId, output: C::Output) {
        self.trace.record(
            self.now_us,
            Kind::Complete,
            Some(Endpoint::Client(id)),
            None,
            Some(&output),
        );
        let slot = &mut self.clients[id.0 as usize];
        let invoked_at_us = slot.invoked_at_us.take();
        let invoked_at_us = invoked_at_us.unwrap_or_else(|| {
            panic!("client {id} completed with no operation in flight: {output:?}")
        });
        assert!(slot.completion.is_none(), "client {id} completed twice");
        slot.completion = Some(crate::Completion {
            output,
            invoked_at_us,
            completed_at_us: self.now_us,
        });
    }

    /// Drops a message or request sent to an address no node has.
    fn drop_unaddressed(&mut self, from: Endpoint, addr: &str, what: &dyn std::fmt::Debug) {
        self.net.dropped.add(DropCause::UnknownAddress);
        self.trace.record(
            self.now_us,
            Kind::Drop,
            Some(from),
            None,
            Some(&format_args!("to unknown address {addr:?}: {what:?}")),
        );
    }

    /// Sends a peer message. `to_incarnation` pins an answer to the process that asked.
    fn send_peer(
        &mut self,
        from: NodeId,
        to: NodeId,
        respond: bool,
        msg: N::Msg,
        to_incarnation: Option<u32>,
    ) {
        self.send_peer_inner(from, to, respond, msg, to_incarnation, false);
    }

    /// [`Sim::send_peer`], or a `SendTo` when `by_address`.
    fn send_peer_inner(
        &mut self,
        from: NodeId,
        to: NodeId,
        respond: bool,
        msg: N::Msg,
        to_incarnation: Option<u32>,
        by_address: bool,
    ) {
        if to == NodeId::EXTERNAL {
            // An answer to a message that came by address: it names nobody (contract, step 6).
            return self.drop_unaddressed(Endpoint::Node(from), "EXTERNAL", &msg);
        }
        assert!(
            to.index() < self.nodes.len(),
            "{from} sent to unknown node {to}: {msg:?}"
        );
        let to_incarnation = to_incarnation.unwrap_or(self.nodes[to.index()].incarnation);
        let outcome = self
            .peer_check(from, to, to_incarnation, respond)
            .and_then(|()| self.loss_draw());
        if let Err(cause) = outcome {
            self.drop_msg(cause, Endpoint::Node(from), Endpoint::Node(to), &msg);
            return;
        }
        let from_incarnation = self.nodes[from.index()].incarnation;
        if self.duplicate_draw() {
            let copy = PeerMsg {
                from,
                from_incarnation,
                to,
                to_incarnation,
                respond,
                by_address,
                msg: msg.clone(),
            };
            self.schedule_message(Event::Peer(copy));
        }
        self.schedule_message(Event::Peer(PeerMsg {
            from,
            from_incarnation,
            to,
            to_incarnation,
            respond,
            by_address,
            msg,
        }));
    }

    fn send_request(&mut self, client: ClientId, to: NodeId, req: N::Req, by_address: bool) {
        assert!(
            to.index() < self.nodes.len(),
            "client {client} sent to unknown node {to}: {req:?}"
        );
        let to_incarnation = self.nodes[to.index()].incarnation;
        let outcome = self
            .request_check(client, to, to_incarnation)
            .and_then(|()| self.loss_draw());
        if let Err(cause) = outcome {
            self.drop_msg(cause, Endpoint::Client(client), Endpoint::Node(to), &req);
            return;
        }
        if self.duplicate_draw() {
            self.schedule_message(Event::Request {
                client,
                to,
                to_incarnation,
                by_address,
                req: req.clone(),
            });
        }
        self.schedule_message(Event::Request {
            client,
            to,
            to_incarnation,
            by_address,
            req,
        });
    }

    fn send_reply(&mut self, from: NodeId, req: ReqId, resp: N::Resp) {
        let incarnation = self.nodes[from.index()].incarnation;
        let pending = match self.requests.get(&req) {
            Some(p) if p.node == from && p.incarnation == incarnation => *p,
            _ => {
                self.net.replies_unroutable += 1;
                self.trace.record(
                    self.now_us,
                    Kind::Drop,
                    Some(Endpoint::Node(from)),
                    None,
                    Some(&format_args!("unroutable {req:?} {resp:?}")),
                );
                return;
            }
        };
        self.requests.remove(&req);
        let client = pending.client;
        let cause = if pending.reply_lost {
            Some(DropCause::UnreliableReply)
        } else if !self.reach.client_can_talk(client, from) {
            Some(DropCause::Partition)
        } else {
            self.loss_draw().err()
        };
        if let Some(cause) = cause {
            self.drop_msg(cause, Endpoint::Node(from), Endpoint::Client(client), &resp);
            return;
        }
        // Replies are never duplicated: the contract does not make `Resp` cloneable. An answer
        // to a request by address names no server, as over TCP.
        let from = if pending.by_address {
            NodeId::EXTERNAL
        } else {
            from
        };
        self.schedule_message(Event::Reply { from, client, resp });
    }

    fn loss_draw(&mut self) -> Result<(), DropCause> {
        if self.rng.chance(self.config.faults.loss) {
            Err(DropCause::Loss)
        } else {
            Ok(())
        }
    }

    fn duplicate_draw(&mut self) -> bool {
        let duplicate = self.rng.chance(self.config.faults.duplicate);
        if duplicate {
            self.net.duplicated += 1;
        }
        duplicate
    }

    /// Queues a message after its latency: the base latency, plus sometimes an extra delay.
    fn schedule_message(&mut self, event: Event<N::Msg, N::Req, N::Resp>) {
        let mut latency_us = self
            .rng
            .range(self.config.latency_us_min, self.config.latency_us_max);
        let faults = &self.config.faults;
        if faults.delay > 0.0 && self.rng.chance(faults.delay) {
            latency_us += self.rng.range(0, self.config.faults.delay_us_max);
        }
        self.net.sent += 1;
        self.queue.push(self.now_us + latency_us, event);
    }
}
