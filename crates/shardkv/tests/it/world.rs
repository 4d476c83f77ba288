//! One node type and one client type for a whole simulated shardkv cluster: the shard master's
//! replicas and every group's replicas (the simulator drives one node type per run, as
//! pbservice's `PbNode` does), and clerks that ask the shard master for configurations and the
//! groups for keys.
//!
//! Node ids: the shard master's replicas are `0..masters`, then each group's replicas in turn.
//! Each replica's `rsm` core numbers its own group `0..n`, so the group's glue shifts ids by the
//! group's first id; messages between groups go by address (`g<gid>-<i>`) and need no shift.
//! The glue also does what the real server shell does for a shardkv server: every
//! [`POLL_TICKS`] it asks a shard master replica for the configuration the server wants, and
//! offers the answer to it.

use kvpaxos::msg::{KvCommand, KvOutput};
use kvstore::ClerkOutput;
use rpc::{Client, ClientEffect, ClientOutbox, Effect, Node, NodeId, NodeOutbox, Outbox, ReqId};
use shardkv::{Clerk, POLL_TICKS, Refusal, ShardKvMsg, ShardKvNode};
use shardmaster::{Config, ConfigNum, LabMachine, LabReplica};
use std::sync::Arc;

/// The shard master's operation, output, request and message types.
pub type SmOp = shardmaster::Op;
type SmRequest = rsm::Request<SmOp>;
type SmResponse = rsm::Response<shardmaster::Output>;
type SmMsg = rsm::Msg<SmOp>;

/// A node of the simulated cluster.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // A dozen nodes per run: boxing would only add noise.
pub enum WorldNode {
    /// A shard master replica (ids `0..masters`).
    Master(LabReplica),
    /// A group's replica; its group's replicas start at sim id `base`.
    Group {
        /// The server.
        node: ShardKvNode,
        /// The sim id of its group's replica 0.
        base: u32,
        /// Its group's size.
        size: u32,
        /// How many shard master replicas there are (ids `0..masters`).
        masters: u32,
        /// Ticks since start, for polling.
        ticks: u64,
        /// The configuration last asked for, and when.
        asked: Option<(ConfigNum, u64)>,
    },
}

/// A message of the simulated cluster.
#[derive(Clone, Debug)]
pub enum WorldMsg {
    /// Between shard master replicas.
    Master(SmMsg),
    /// Between shardkv servers (in a group by id, between groups by address).
    Group(ShardKvMsg),
    /// A server asks a shard master replica for configuration `num` (the latest if past it).
    Query(ConfigNum),
    /// The answer.
    ConfigIs(Arc<Config>),
}

/// A client request of the simulated cluster.
#[derive(Clone, Debug)]
pub enum WorldReq {
    /// To the shard master.
    Master(SmRequest),
    /// To a group.
    Group(shardkv::Request),
}

/// A server's answer.
#[derive(Debug)]
pub enum WorldResp {
    /// From the shard master.
    Master(SmResponse),
    /// From a group.
    Group(shardkv::Response),
}

impl WorldNode {
    /// The shardkv server, if this is one.
    pub fn server(&self) -> Option<&ShardKvNode> {
        match self {
            WorldNode::Group { node, .. } => Some(node),
            WorldNode::Master(_) => None,
        }
    }

    fn master_step(
        r: &mut LabReplica,
        out: &mut NodeOutbox<WorldNode>,
        f: impl FnOnce(&mut LabReplica, &mut NodeOutbox<LabReplica>),
    ) {
        let mut inner = Outbox::new();
        f(r, &mut inner);
        for effect in inner.drain() {
            match effect {
                Effect::Send { to, msg } => out.send(to, WorldMsg::Master(msg)),
                Effect::Respond { to, msg } => out.respond(to, WorldMsg::Master(msg)),
                Effect::SendTo { addr, msg } => out.send_to(addr, WorldMsg::Master(msg)),
                Effect::Reply { req, resp } => out.reply(req, WorldResp::Master(resp)),
                Effect::Write { file, bytes } => out.write(file, bytes),
                Effect::Remove { file } => out.remove(file),
                Effect::Append { file, bytes } => out.append(file, bytes),
                Effect::Truncate { file, len } => out.truncate(file, len),
                Effect::Sync => out.sync(),
            }
        }
    }
}

/// Runs a server step and carries its effects out, shifting its group's ids by `base`.
fn group_step(
    node: &mut ShardKvNode,
    base: u32,
    out: &mut NodeOutbox<WorldNode>,
    f: impl FnOnce(&mut ShardKvNode, &mut NodeOutbox<ShardKvNode>),
) {
    let mut inner = Outbox::new();
    f(node, &mut inner);
    let shift = |to: NodeId| NodeId(to.0 + base);
    for effect in inner.drain() {
        match effect {
            Effect::Send { to, msg } => out.send(shift(to), WorldMsg::Group(msg)),
            Effect::Respond { to, msg } => out.respond(shift(to), WorldMsg::Group(msg)),
            Effect::SendTo { addr, msg } => out.send_to(addr, WorldMsg::Group(msg)),
            Effect::Reply { req, resp } => out.reply(req, WorldResp::Group(resp)),
            Effect::Write { file, bytes } => out.write(file, bytes),
            Effect::Remove { file } => out.remove(file),
            Effect::Append { file, bytes } => out.append(file, bytes),
            Effect::Truncate { file, len } => out.truncate(file, len),
            Effect::Sync => out.sync(),
        }
    }
}

impl Node for WorldNode {
    type Msg = WorldMsg;
    type Req = WorldReq;
    type Resp = WorldResp;

    fn on_message(&mut self, from: NodeId, msg: WorldMsg, out: &mut NodeOutbox<Self>) {
        match (self, msg) {
            (WorldNode::Master(r), WorldMsg::Master(msg)) => {
                WorldNode::master_step(r, out, |r, o| r.on_message(from, msg, o));
            }
            (WorldNode::Master(r), WorldMsg::Query(num)) => {
                // Any replica answers from what it applied: configurations never change, so
                // a lagging replica's answer is only older, never wrong.
                let configs = r.state().configs();
                let config = configs
                    .get(num.0 as usize)
                    .or_else(|| configs.last())
                    .expect("config 0 always exists");
                out.respond(from, WorldMsg::ConfigIs(config.clone()));
            }
            (
                WorldNode::Group {
                    node, base, size, ..
                },
                WorldMsg::Group(msg),
            ) => {
                let from = match (&msg, from) {
                    (ShardKvMsg::Rsm(_), NodeId::EXTERNAL) => NodeId::EXTERNAL,
                    (ShardKvMsg::Rsm(_), id) if id.0 >= *base && id.0 < *base + *size => {
                        NodeId(id.0 - *base)
                    }
                    (ShardKvMsg::Rsm(_), _) => return, // not this group's replica
                    (_, id) => id,
                };
                group_step(node, *base, out, |n, o| n.on_message(from, msg, o));
            }
            (WorldNode::Group { node, base, .. }, WorldMsg::ConfigIs(config)) => {
                let config = (*config).clone();
                group_step(node, *base, out, |n, o| n.offer_config(config, o));
            }
            _ => {} // A message for the other kind of node: a stale address.
        }
    }

    fn on_request(&mut self, req: ReqId, body: WorldReq, out: &mut NodeOutbox<Self>) {
        match (self, body) {
            (WorldNode::Master(r), WorldReq::Master(body)) => {
                WorldNode::master_step(r, out, |r, o| r.on_request(req, body, o));
            }
            (WorldNode::Group { node, base, .. }, WorldReq::Group(body)) => {
                group_step(node, *base, out, |n, o| n.on_request(req, body, o));
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, out: &mut NodeOutbox<Self>) {
        match self {
            WorldNode::Master(r) => WorldNode::master_step(r, out, |r, o| r.on_tick(o)),
            WorldNode::Group {
                node,
                base,
                masters,
                ticks,
                asked,
                ..
            } => {
                *ticks += 1;
                group_step(node, *base, out, |n, o| n.on_tick(o));
                let Some(num) = node.wanted_config() else {
                    return;
                };
                // A number not asked for yet is asked at once (a group catching up moves one
                // configuration per answer); the same one again every POLL_TICKS.
                let due = asked.is_none_or(|(n, at)| n != num || *ticks >= at + POLL_TICKS);
                if due {
                    *asked = Some((num, *ticks));
                    let to = NodeId((*ticks % u64::from(*masters)) as u32);
                    out.send(to, WorldMsg::Query(num));
                }
            }
        }
    }
}

/// What a world clerk runs: a key/value operation on the groups, or a shard master operation.
#[derive(Clone, Debug)]
pub enum WorldOp {
    /// On the groups.
    Kv(KvCommand),
    /// On the shard master (Join, Leave, Move, Query).
    Admin(SmOp),
}

impl From<kvstore::Op> for WorldOp {
    fn from(op: kvstore::Op) -> Self {
        WorldOp::Kv(KvCommand::Lab(op))
    }
}

/// What a world clerk's operation answered.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A key/value operation's answer.
    Kv(Result<KvOutput, Refusal>),
    /// A shard master operation's answer.
    Admin(Result<shardmaster::Output, rsm::clerk::SessionExpired>),
}

impl ClerkOutput for Answer {
    fn answer(&self) -> Result<&str, String> {
        match self {
            Answer::Kv(Ok(KvOutput::Lab(text))) => Ok(text),
            Answer::Kv(other) => Err(format!("{other:?}")),
            Answer::Admin(other) => Err(format!("a shard master answer: {other:?}")),
        }
    }
}

/// Ticks between two configuration queries of one clerk.
const QUERY_GAP_TICKS: u64 = 10;

/// A clerk of the simulated cluster: a shardkv clerk plus the shard master clerk that fetches
/// its configurations (what `dsys shardkv`'s client does over TCP).
#[derive(Debug)]
pub struct WorldClerk {
    kv: Clerk,
    master: rsm::Clerk<LabMachine>,
    /// The master clerk runs an operation: a configuration query (`true`) or the caller's.
    master_busy: Option<bool>,
    ticks: u64,
    last_query: u64,
}

impl WorldClerk {
    /// A clerk with id `id` for a cluster whose shard master replicas are `0..masters`.
    pub fn new(id: u64, masters: u32) -> Self {
        WorldClerk {
            kv: Clerk::new(id, shardkv::Mapping::Lab),
            master: rsm::Clerk::new((0..masters).map(NodeId).collect()),
            master_busy: None,
            ticks: 0,
            last_query: 0,
        }
    }

    fn kv_effects(inner: ClientOutbox<Clerk>, out: &mut ClientOutbox<Self>) {
        for effect in inner {
            out.push(match effect {
                ClientEffect::Request { to, req } => ClientEffect::Request {
                    to,
                    req: WorldReq::Group(req),
                },
                ClientEffect::RequestTo { addr, req } => ClientEffect::RequestTo {
                    addr,
                    req: WorldReq::Group(req),
                },
                ClientEffect::Complete(result) => ClientEffect::Complete(Answer::Kv(result)),
            });
        }
    }

    fn master_effects(
        &mut self,
        inner: ClientOutbox<rsm::Clerk<LabMachine>>,
        out: &mut ClientOutbox<Self>,
    ) {
        for effect in inner {
            match effect {
                ClientEffect::Request { to, req } => out.push(ClientEffect::Request {
                    to,
                    req: WorldReq::Master(req),
                }),
                ClientEffect::RequestTo { addr, req } => out.push(ClientEffect::RequestTo {
                    addr,
                    req: WorldReq::Master(req),
                }),
                ClientEffect::Complete(result) => {
                    let query = self.master_busy.take() == Some(true);
                    if !query {
                        out.push(ClientEffect::Complete(Answer::Admin(result)));
                    } else if let Ok(Ok(shardmaster::Reply::Config(config))) = result {
                        let mut inner = Vec::new();
                        self.kv.offer_config((*config).clone(), &mut inner);
                        Self::kv_effects(inner, out);
                    }
                }
            }
        }
    }

    /// Starts a configuration query if the shardkv clerk wants one and none runs.
    fn maybe_query(&mut self, out: &mut ClientOutbox<Self>) {
        let due = self.ticks >= self.last_query + QUERY_GAP_TICKS || self.kv.config().is_none();
        if self.master_busy.is_some() || !self.kv.is_busy() || !self.kv.wanted_config() || !due {
            return;
        }
        self.last_query = self.ticks;
        self.master_busy = Some(true);
        let mut inner = Vec::new();
        self.master.invoke(SmOp::Query { num: -1 }, &mut inner);
        self.master_effects(inner, out);
    }
}

impl Client for WorldClerk {
    type Op = WorldOp;
    type Output = Answer;
    type Req = WorldReq;
    type Resp = WorldResp;

    fn invoke(&mut self, op: WorldOp, out: &mut ClientOutbox<Self>) {
        match op {
            WorldOp::Kv(cmd) => {
                let mut inner = Vec::new();
                self.kv.invoke(cmd, &mut inner);
                Self::kv_effects(inner, out);
                self.maybe_query(out);
            }
            WorldOp::Admin(op) => {
                assert!(self.master_busy.is_none(), "an admin clerk runs no queries");
                self.master_busy = Some(false);
                let mut inner = Vec::new();
                self.master.invoke(op, &mut inner);
                self.master_effects(inner, out);
            }
        }
    }

    fn on_response(&mut self, from: NodeId, resp: WorldResp, out: &mut ClientOutbox<Self>) {
        match resp {
            WorldResp::Master(resp) => {
                let mut inner = Vec::new();
                self.master.on_response(from, resp, &mut inner);
                self.master_effects(inner, out);
            }
            WorldResp::Group(resp) => {
                let mut inner = Vec::new();
                self.kv.on_response(from, resp, &mut inner);
                Self::kv_effects(inner, out);
            }
        }
        self.maybe_query(out);
    }

    fn on_tick(&mut self, out: &mut ClientOutbox<Self>) {
        self.ticks += 1;
        let mut inner = Vec::new();
        self.kv.on_tick(&mut inner);
        Self::kv_effects(inner, out);
        let mut inner = Vec::new();
        self.master.on_tick(&mut inner);
        self.master_effects(inner, out);
        self.maybe_query(out);
    }
}
