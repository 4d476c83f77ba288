//! A shardkv server: a replica of its group's [`ShardKvMachine`] plus what moves the group
//! between configurations: proposing the next configuration, pulling the shards it gains from
//! their previous owners in chunks, serving the shards it loses to their new owners, and
//! deleting them once the new owners have them. Sans-IO, like every core.
//!
//! ```text
//!  driver ──offer_config(c)──▶ propose Reconfigure(c) ──▶ group log
//!  gained shard s: Pull(s, n, offset) ──SendTo──▶ old owner ──Chunk──▶ propose Install
//!  lost shard s:   Confirm(s, n) ──SendTo──▶ new owner ──Confirmed──▶ propose Delete
//! ```
//!
//! Only the group's Paxos leader drives a hand-off (one set of pulls, not one per replica);
//! any replica answers another group's `Pull` or `Confirm` from its applied state, which is
//! the same on every replica that reached the configuration (a shard being offered no longer
//! changes).
//!
//! # Driver contract
//! `rsm`'s, plus: messages by address ([`rpc::Effect::SendTo`]) must reach the servers named
//! in configurations, and the driver offers configurations from the shard master: it asks for
//! [`ShardKvNode::wanted_config`] as soon as that names a number it has not asked for (a group
//! catching up moves one configuration per answer), and again every [`POLL_TICKS`] (SPEC
//! §8.1's 250 ms), and hands what it got to [`ShardKvNode::offer_config`] (a configuration
//! that is not the next is ignored).

use crate::machine::ShardKvMachine;
use crate::msg::{Command, Mapping, Request, Response, ShardKvMsg};
use crate::shard::Phase;
use bytes::Bytes;
use rpc::{Effect, Node, NodeId, NodeOutbox, Outbox, ReqId};
use rsm::Replica;
use shardmaster::{Config, ConfigNum, Gid};
use std::collections::BTreeMap;

/// The most bytes of a shard image in one [`ShardKvMsg::Chunk`] (and one log entry). Why
/// 256 KiB: far below the 16 MiB frame and `rsm`'s batch limit, so a chunk never crowds out
/// client commands for long, while a 100 MB shard still moves in 400 round trips.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Ticks between polls of the shard master (SPEC §8.1: 250 ms at 10 ms a tick).
pub const POLL_TICKS: u64 = 25;

/// Ticks before a hand-off step with no answer is tried again (at the next server).
pub const RETRY_TICKS: u64 = 10;

/// What identifies a server to the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Its group.
    pub gid: Gid,
    /// Its own address, as the shard master lists it: where other groups send its answers.
    pub addr: String,
    /// How the cluster maps keys to shards.
    pub mapping: Mapping,
}

/// One hand-off step this leader is waiting on: a pull of a shard from `offset`, or a
/// confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Step {
    /// The configuration it is for.
    num: ConfigNum,
    /// The offset asked for (pulls), or 0.
    offset: u64,
    /// When it was sent.
    at: u64,
    /// Which server it went to, in the group's list; the next retry goes to the next one.
    server: usize,
}

/// A shardkv server (see the module docs).
#[derive(Debug)]
pub struct ShardKvNode {
    replica: Replica<ShardKvMachine>,
    me: Identity,
    now: u64,
    /// The next configuration, once the driver offered it.
    next: Option<Config>,
    /// When this replica last proposed the next configuration.
    proposed_config: Option<(ConfigNum, u64)>,
    /// Pulls in progress, by shard.
    pulls: BTreeMap<u32, Step>,
    /// Confirmations asked for, by shard.
    confirms: BTreeMap<u32, Step>,
    /// Images of shards being offered, by shard: computed once per configuration, since a
    /// shard being offered no longer changes. Only shards offered now are kept.
    images: BTreeMap<u32, (ConfigNum, Bytes)>,
}

impl ShardKvNode {
    /// A server around `replica` (in memory or durable: the caller opens it).
    pub fn new(replica: Replica<ShardKvMachine>, me: Identity) -> Self {
        assert!(me.gid.is_valid(), "a group's gid is above 0");
        ShardKvNode {
            replica,
            me,
            now: 0,
            next: None,
            proposed_config: None,
            pulls: BTreeMap::new(),
            confirms: BTreeMap::new(),
            images: BTreeMap::new(),
        }
    }

    /// The group's state as this replica applied it.
    pub fn state(&self) -> &ShardKvMachine {
        self.replica.state()
    }

    /// The replica inside.
    pub fn replica(&self) -> &Replica<ShardKvMachine> {
        &self.replica
    }

    /// Who this server is.
    pub fn identity(&self) -> &Identity {
        &self.me
    }

    /// The configuration the driver should ask the shard master for: the one after the
    /// current, `None` while the current one's hand-off goes on or the next is already here.
    pub fn wanted_config(&self) -> Option<ConfigNum> {
        let state = self.replica.state();
        let wanted = ConfigNum(state.config_num().0 + 1);
        let have = self.next.as_ref().is_some_and(|c| c.num == wanted);
        (state.is_settled() && !have).then_some(wanted)
    }

    /// A configuration from the shard master; only the next one is kept.
    pub fn offer_config(&mut self, config: Config, out: &mut NodeOutbox<Self>) {
        if config.num == ConfigNum(self.replica.state().config_num().0 + 1) {
            self.next = Some(config);
            self.drive(out);
        }
    }

    /// What this server is waiting for, in one line (for logs and failure messages).
    pub fn describe(&self) -> String {
        format!(
            "next {:?} proposed {:?} pulls {:?} confirms {:?}; {}",
            self.next.as_ref().map(|c| c.num.0),
            self.proposed_config,
            self.pulls,
            self.confirms,
            self.replica.describe()
        )
    }

    fn leads(&self) -> bool {
        self.replica.peer().is_leading()
    }

    /// Runs a replica step and carries its effects out.
    fn step(
        &mut self,
        out: &mut NodeOutbox<Self>,
        f: impl FnOnce(&mut Replica<ShardKvMachine>, &mut NodeOutbox<Replica<ShardKvMachine>>),
    ) {
        let mut inner = Outbox::new();
        f(&mut self.replica, &mut inner);
        let gid = self.me.gid;
        for effect in inner.drain() {
            match effect {
                Effect::Send { to, msg } => out.send(to, ShardKvMsg::Rsm(msg)),
                Effect::Respond { to, msg } => out.respond(to, ShardKvMsg::Rsm(msg)),
                Effect::SendTo { addr, msg } => out.send_to(addr, ShardKvMsg::Rsm(msg)),
                Effect::Reply { req, resp } => out.reply(req, Response { gid, resp }),
                Effect::Write { file, bytes } => out.write(file, bytes),
                Effect::Remove { file } => out.remove(file),
                Effect::Append { file, bytes } => out.append(file, bytes),
                Effect::Truncate { file, len } => out.truncate(file, len),
                Effect::Sync => out.sync(),
            }
        }
    }

    fn propose(&mut self, cmd: Command, out: &mut NodeOutbox<Self>) {
        self.step(out, |r, o| {
            r.propose(cmd, o);
        });
    }

    /// After every input: moves the group's reconfiguration and hand-offs on, if this
    /// replica leads.
    fn drive(&mut self, out: &mut NodeOutbox<Self>) {
        self.forget_finished();
        if !self.leads() {
            return;
        }
        self.propose_next_config(out);
        self.pull_gained(out);
        self.confirm_lost(out);
    }

    /// Drops the steps and images of hand-offs that are over.
    fn forget_finished(&mut self) {
        let state = self.replica.state();
        let num = state.config_num();
        let pulling = |s: &u32| {
            matches!(
                state.shard(*s).map(|sh| &sh.phase),
                Some(Phase::Pulling { .. })
            )
        };
        let offering = |s: &u32| {
            matches!(
                state.shard(*s).map(|sh| &sh.phase),
                Some(Phase::Offering { .. })
            )
        };
        self.pulls.retain(|s, step| step.num == num && pulling(s));
        self.confirms
            .retain(|s, step| step.num == num && offering(s));
        self.images.retain(|s, (at, _)| *at == num && offering(s));
        if self.next.as_ref().is_some_and(|c| c.num.0 <= num.0) {
            self.next = None;
        }
    }

    fn propose_next_config(&mut self, out: &mut NodeOutbox<Self>) {
        let state = self.replica.state();
        let Some(next) = self.next.clone() else {
            return;
        };
        let recently = self
            .proposed_config
            .is_some_and(|(num, at)| num == next.num && self.now < at + RETRY_TICKS);
        if !state.is_settled() || recently {
            return;
        }
        self.proposed_config = Some((next.num, self.now));
        let cmd = Command::Reconfigure {
            gid: self.me.gid,
            mapping: self.me.mapping,
            config: next,
        };
        self.propose(cmd, out);
    }

    /// Asks the previous owner of every shard still arriving for the next chunk: when the
    /// last chunk asked for has been applied, or after [`RETRY_TICKS`] with no progress.
    fn pull_gained(&mut self, out: &mut NodeOutbox<Self>) {
        let state = self.replica.state();
        let num = state.config_num();
        let mut sends = Vec::new();
        for (s, shard) in state.shards() {
            let Phase::Pulling {
                servers, received, ..
            } = &shard.phase
            else {
                continue;
            };
            let offset = received.len() as u64;
            let server = match self.pulls.get(&s) {
                Some(step) if step.offset == offset && self.now < step.at + RETRY_TICKS => continue,
                Some(step) if step.offset == offset => step.server + 1,
                Some(step) => step.server,
                None => 0,
            };
            let Some(addr) = pick(servers, server) else {
                continue;
            };
            let step = Step {
                num,
                offset,
                at: self.now,
                server,
            };
            sends.push((s, step, addr.to_string()));
        }
        for (shard, step, addr) in sends {
            self.pulls.insert(shard, step);
            let reply_to = self.me.addr.clone();
            let offset = step.offset;
            out.send_to(
                addr,
                ShardKvMsg::Pull {
                    shard,
                    num,
                    offset,
                    reply_to,
                },
            );
        }
    }

    /// Asks the new owner of every shard moved away whether it has it, every
    /// [`RETRY_TICKS`] until it says so.
    fn confirm_lost(&mut self, out: &mut NodeOutbox<Self>) {
        let state = self.replica.state();
        let num = state.config_num();
        let mut sends = Vec::new();
        for (s, shard) in state.shards() {
            let Phase::Offering { to, servers } = &shard.phase else {
                continue;
            };
            if *to == Gid::NONE {
                continue; // No group is left to take it: it stays parked here.
            }
            let server = match self.confirms.get(&s) {
                Some(step) if self.now < step.at + RETRY_TICKS => continue,
                Some(step) => step.server + 1,
                None => 0,
            };
            if let Some(addr) = pick(servers, server) {
                let step = Step {
                    num,
                    offset: 0,
                    at: self.now,
                    server,
                };
                sends.push((s, step, addr.to_string()));
            }
        }
        for (shard, step, addr) in sends {
            self.confirms.insert(shard, step);
            let reply_to = self.me.addr.clone();
            out.send_to(
                addr,
                ShardKvMsg::Confirm {
                    shard,
                    num,
                    reply_to,
                },
            );
        }
    }

    /// Another group pulls a shard this group offers: send the piece asked for, or "not yet"
    /// if this replica has not reached that configuration. A pull for a shard no longer
    /// offered is from a new owner that already has it: it gets nothing.
    fn answer_pull(
        &mut self,
        shard: u32,
        num: ConfigNum,
        offset: u64,
        reply_to: String,
        out: &mut NodeOutbox<Self>,
    ) {
        let state = self.replica.state();
        if state.config_num() < num {
            out.send_to(reply_to, ShardKvMsg::NotYet { shard, num });
            return;
        }
        let offered = state
            .shard(shard)
            .filter(|sh| matches!(sh.phase, Phase::Offering { .. }));
        let Some(held) = offered.filter(|_| state.config_num() == num) else {
            return;
        };
        let image = match self.images.get(&shard) {
            Some((at, image)) if *at == num => image.clone(),
            _ => {
                let image = held.image();
                self.images.insert(shard, (num, image.clone()));
                image
            }
        };
        let total = image.len() as u64;
        let Ok(start) = usize::try_from(offset) else {
            return;
        };
        if start > image.len() {
            return;
        }
        let end = image.len().min(start + CHUNK_BYTES);
        let bytes = image.slice(start..end);
        out.send_to(
            reply_to,
            ShardKvMsg::Chunk {
                shard,
                num,
                offset,
                total,
                bytes,
            },
        );
    }

    /// A piece of a shard this group pulls: into the log, if it is the next piece.
    fn on_chunk(
        &mut self,
        shard: u32,
        num: ConfigNum,
        offset: u64,
        total: u64,
        bytes: Bytes,
        out: &mut NodeOutbox<Self>,
    ) {
        let state = self.replica.state();
        let next = match state.shard(shard).map(|sh| &sh.phase) {
            Some(Phase::Pulling { received, .. }) => received.len() as u64,
            _ => return,
        };
        if state.config_num() != num || offset != next || bytes.len() > CHUNK_BYTES {
            return;
        }
        self.propose(
            Command::Install {
                shard,
                num,
                offset,
                total,
                bytes,
            },
            out,
        );
    }

    /// Another group asks whether this group has a shard it moved here.
    fn answer_confirm(
        &mut self,
        shard: u32,
        num: ConfigNum,
        reply_to: String,
        out: &mut NodeOutbox<Self>,
    ) {
        let state = self.replica.state();
        let here = state.config_num();
        // Past `num`, every shard gained at `num` has arrived: a configuration applies only
        // when nothing is still arriving.
        let has =
            here > num || (here == num && state.shard(shard).is_some_and(|sh| sh.is_serving()));
        if has {
            out.send_to(reply_to, ShardKvMsg::Confirmed { shard, num });
        }
    }

    /// The new owner has a shard this group offered: delete it, through the log.
    fn on_confirmed(&mut self, shard: u32, num: ConfigNum, out: &mut NodeOutbox<Self>) {
        let state = self.replica.state();
        let offering = state
            .shard(shard)
            .is_some_and(|sh| matches!(sh.phase, Phase::Offering { .. }));
        if state.config_num() == num && offering {
            self.propose(Command::Delete { shard, num }, out);
        }
    }
}

/// Server `i` of a list, wrapping around; `None` for an empty list.
fn pick(servers: &[String], i: usize) -> Option<&str> {
    (!servers.is_empty()).then(|| servers[i % servers.len()].as_str())
}

impl Node for ShardKvNode {
    type Msg = ShardKvMsg;
    type Req = Request;
    type Resp = Response;

    fn on_message(&mut self, from: NodeId, msg: ShardKvMsg, out: &mut NodeOutbox<Self>) {
        match msg {
            ShardKvMsg::Rsm(msg) => {
                if from == NodeId::EXTERNAL {
                    tracing::warn!("a group message by address ignored: groups talk by id");
                    return;
                }
                self.step(out, |r, o| r.on_message(from, msg, o));
            }
            ShardKvMsg::Pull {
                shard,
                num,
                offset,
                reply_to,
            } => self.answer_pull(shard, num, offset, reply_to, out),
            ShardKvMsg::Chunk {
                shard,
                num,
                offset,
                total,
                bytes,
            } => self.on_chunk(shard, num, offset, total, bytes, out),
            ShardKvMsg::NotYet { .. } => {} // The pull is tried again after RETRY_TICKS.
            ShardKvMsg::Confirm {
                shard,
                num,
                reply_to,
            } => self.answer_confirm(shard, num, reply_to, out),
            ShardKvMsg::Confirmed { shard, num } => self.on_confirmed(shard, num, out),
        }
        self.drive(out);
    }

    fn on_request(&mut self, req: ReqId, body: Request, out: &mut NodeOutbox<Self>) {
        if body.gid != self.me.gid {
            // A clerk that thinks this address is another group's: its configuration is
            // stale or wrong. Silence sends it to the next server and the shard master.
            return;
        }
        self.step(out, |r, o| r.on_request(req, body.req, o));
        self.drive(out);
    }

    fn on_tick(&mut self, out: &mut NodeOutbox<Self>) {
        self.now += 1;
        self.step(out, |r, o| r.on_tick(o));
        self.drive(out);
    }
}
