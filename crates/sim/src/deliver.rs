//! Arrivals: running each event (tick, peer message, client request, reply) on its node or
//! client, after the reachability checks and, for requests, the SPEC §1.2 unreliable draw.
//! The way out (effects, loss, duplication, latency) is in [`crate::transmit`].

use crate::sim::{Event, PeerMsg, PendingRequest, Sim};
use crate::stats::DropCause;
use crate::trace::{Endpoint, Kind};
use rpc::{Client, ClientId, Node, NodeId, ReqId};
use std::fmt::Debug;

/// Client requests a node may hold unanswered before the oldest is forgotten (its late reply is
/// then ignored). A core may legally never answer, so without a bound the table would grow for
/// the whole run; 100k is far above any workload's concurrency.
const REQUESTS_PENDING_MAX: usize = 100_000;

/// The peer `Send` being handled, so that the answers to it can be routed (or lost) as a whole.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answering {
    pub(crate) to: NodeId,
    pub(crate) to_incarnation: u32,
    /// Unreliable mode decided every answer to this request is lost.
    pub(crate) lost: bool,
}

/// The outcome of SPEC §1.2's per-request draw.
enum Unreliable {
    Drop,
    LoseReply,
    Serve,
}

impl<N: Node, C: Client<Req = N::Req, Resp = N::Resp>> Sim<N, C> {
    /// Handles one event; returns the node that handled it, for the invariant.
    pub(crate) fn dispatch(&mut self, event: Event<N::Msg, N::Req, N::Resp>) -> Option<NodeId> {
        match event {
            Event::Tick { node, incarnation } => self.node_tick(node, incarnation),
            Event::ClientTick { client } => {
                self.client_tick(client);
                None
            }
            Event::Peer(peer) => self.deliver_peer(peer),
            Event::Request {
                client,
                to,
                to_incarnation,
                by_address,
                req,
            } => self.deliver_request(client, to, to_incarnation, by_address, req),
            Event::Reply { from, client, resp } => {
                self.deliver_reply(from, client, resp);
                None
            }
        }
    }

    fn node_tick(&mut self, id: NodeId, incarnation: u32) -> Option<NodeId> {
        let slot = &mut self.nodes[id.index()];
        // A tick of a process that has since gone down ends that process's tick chain.
        let node = slot
            .node
            .as_mut()
            .filter(|_| slot.incarnation == incarnation)?;
        slot.stats.ticks += 1;
        self.trace.record(
            self.now_us,
            Kind::Tick,
            None,
            Some(Endpoint::Node(id)),
            None,
        );
        self.queue.push(
            self.now_us + self.config.tick_us,
            Event::Tick {
                node: id,
                incarnation,
            },
        );
        let _span =
            tracing::debug_span!("node", seed = self.config.seed, id = %id, now_us = self.now_us)
                .entered();
        node.on_tick(&mut self.node_out);
        self.apply_node_effects(id, None);
        Some(id)
    }

    fn client_tick(&mut self, id: ClientId) {
        self.trace.record(
            self.now_us,
            Kind::ClientTick,
            None,
            Some(Endpoint::Client(id)),
            None,
        );
        self.queue.push(
            self.now_us + self.config.tick_us,
            Event::ClientTick { client: id },
        );
        self.clients[id.0 as usize]
            .client
            .on_tick(&mut self.client_out);
        self.apply_client_effects(id);
    }

    fn deliver_peer(&mut self, peer: PeerMsg<N::Msg>) -> Option<NodeId> {
        let PeerMsg {
            from,
            from_incarnation,
            to,
            to_incarnation,
            respond,
            by_address,
            msg,
        } = peer;
        if let Err(cause) = self.peer_check(from, to, to_incarnation, respond) {
            self.drop_msg(cause, Endpoint::Node(from), Endpoint::Node(to), &msg);
            return None;
        }
        // Answers are not requests: they skip the unreliable draw (SPEC §1.2 acts on accepted
        // connections, and an answer travels on the connection its request opened).
        let mut answering = None;
        if !respond {
            let lost = match self.unreliable_draw(to) {
                Unreliable::Drop => {
                    self.drop_msg(
                        DropCause::UnreliableRequest,
                        Endpoint::Node(from),
                        Endpoint::Node(to),
                        &msg,
                    );
                    return None;
                }
                Unreliable::LoseReply => true,
                Unreliable::Serve => false,
            };
            answering = Some(Answering {
                to: from,
                to_incarnation: from_incarnation,
                lost,
            });
        }
        let kind = if respond { Kind::Respond } else { Kind::Send };
        self.trace.record(
            self.now_us,
            kind,
            Some(Endpoint::Node(from)),
            Some(Endpoint::Node(to)),
            Some(&msg),
        );
        self.net.delivered += 1;
        let slot = &mut self.nodes[to.index()];
        if respond {
            slot.stats.responds_received += 1;
        } else {
            slot.stats.requests_received += 1;
        }
        let node = slot
            .node
            .as_mut()
            .expect("peer_check passed, so the node is up");
        let _span =
            tracing::debug_span!("node", seed = self.config.seed, id = %to, now_us = self.now_us)
                .entered();
        // A message by address names no sender, as over TCP.
        let from_seen = if by_address { NodeId::EXTERNAL } else { from };
        node.on_message(from_seen, msg, &mut self.node_out);
        self.apply_node_effects(to, answering);
        Some(to)
    }

    fn deliver_request(
        &mut self,
        client: ClientId,
        to: NodeId,
        to_incarnation: u32,
        by_address: bool,
        req: N::Req,
    ) -> Option<NodeId> {
        if let Err(cause) = self.request_check(client, to, to_incarnation) {
            self.drop_msg(cause, Endpoint::Client(client), Endpoint::Node(to), &req);
            return None;
        }
        let reply_lost = match self.unreliable_draw(to) {
            Unreliable::Drop => {
                self.drop_msg(
                    DropCause::UnreliableRequest,
                    Endpoint::Client(client),
                    Endpoint::Node(to),
                    &req,
                );
                return None;
            }
            Unreliable::LoseReply => true,
            Unreliable::Serve => false,
        };
        let req_id = ReqId(self.req_next);
        self.req_next += 1;
        let pending = PendingRequest {
            client,
            node: to,
            incarnation: to_incarnation,
            reply_lost,
            by_address,
        };
        self.requests.insert(req_id, pending);
        if self.requests.len() > REQUESTS_PENDING_MAX {
            self.requests.pop_first();
        }
        self.trace.record(
            self.now_us,
            Kind::Request,
            Some(Endpoint::Client(client)),
            Some(Endpoint::Node(to)),
            Some(&req),
        );
        self.net.delivered += 1;
        let slot = &mut self.nodes[to.index()];
        slot.stats.client_requests_received += 1;
        let node = slot
            .node
            .as_mut()
            .expect("request_check passed, so the node is up");
        let _span =
            tracing::debug_span!("node", seed = self.config.seed, id = %to, now_us = self.now_us)
                .entered();
        node.on_request(req_id, req, &mut self.node_out);
        self.apply_node_effects(to, None);
        Some(to)
    }

    fn deliver_reply(&mut self, from: NodeId, client: ClientId, resp: N::Resp) {
        if !self.reach.client_can_talk(client, from) {
            self.drop_msg(
                DropCause::Partition,
                Endpoint::Node(from),
                Endpoint::Client(client),
                &resp,
            );
            return;
        }
        self.trace.record(
            self.now_us,
            Kind::Reply,
            Some(Endpoint::Node(from)),
            Some(Endpoint::Client(client)),
            Some(&resp),
        );
        self.net.delivered += 1;
        self.clients[client.0 as usize]
            .client
            .on_response(from, resp, &mut self.client_out);
        self.apply_client_effects(client);
    }

    /// SPEC §1.2, drawn exactly as the 2015 accept loop did: r in [0,1000) < 100 drops the
    /// request; otherwise a fresh r' < 200 serves it but loses the reply.
    fn unreliable_draw(&mut self, to: NodeId) -> Unreliable {
        let unreliable = self.unreliable_at.get(&to).copied();
        if !unreliable.unwrap_or(self.config.faults.unreliable) {
            return Unreliable::Serve;
        }
        if self.rng.below(1000) < 100 {
            Unreliable::Drop
        } else if self.rng.below(1000) < 200 {
            Unreliable::LoseReply
        } else {
            Unreliable::Serve
        }
    }

    /// Can a peer message from `from` reach process `to_incarnation` of `to` now?
    pub(crate) fn peer_check(
        &self,
        from: NodeId,
        to: NodeId,
        to_incarnation: u32,
        respond: bool,
    ) -> Result<(), DropCause> {
        let slot = &self.nodes[to.index()];
        if slot.node.is_none() || slot.incarnation != to_incarnation {
            return Err(DropCause::Down);
        }
        if !self.reach.can_reach(from, to) {
            return Err(DropCause::Partition);
        }
        // A deaf node accepts no new connection, but an answer comes back on the connection
        // the deaf node itself opened (SPEC §1.4: it "can still send").
        if !respond && self.reach.is_deaf(to) {
            return Err(DropCause::Deaf);
        }
        Ok(())
    }

    /// Can a request from `client` reach process `to_incarnation` of `to` now? Client traffic
    /// ignores server partitions (SPEC §1.3) but not client cuts or deafness.
    pub(crate) fn request_check(
        &self,
        client: ClientId,
        to: NodeId,
        to_incarnation: u32,
    ) -> Result<(), DropCause> {
        let slot = &self.nodes[to.index()];
        if slot.node.is_none() || slot.incarnation != to_incarnation {
            return Err(DropCause::Down);
        }
        if !self.reach.client_can_talk(client, to) {
            return Err(DropCause::Partition);
        }
        if self.reach.is_deaf(to) {
            return Err(DropCause::Deaf);
        }
        Ok(())
    }

    /// Records a message that will not be delivered, against its destination.
    pub(crate) fn drop_msg(
        &mut self,
        cause: DropCause,
        from: Endpoint,
        to: Endpoint,
        msg: &dyn Debug,
    ) {
        self.net.dropped.add(cause);
        if let Endpoint::Node(id) = to {
            self.nodes[id.index()].stats.dropped.add(cause);
        }
        self.trace.record(
            self.now_us,
            Kind::Drop,
            Some(from),
            Some(to),
            Some(&format_args!("{cause:?} {msg:?}")),
        );
        tracing::trace!(%from, %to, ?cause, "message dropped");
    }
}
