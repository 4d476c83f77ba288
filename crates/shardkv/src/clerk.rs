//! The clerk: runs one command at a time on the group that owns its key's shard (SPEC §8.1).
//!
//! It keeps the configuration it last got (its driver asks the shard master when
//! [`Clerk::wanted_config`] says so, and hands the answer to [`Clerk::offer_config`]), sends
//! the command to a server of the owning group by address, tries the group's next server after
//! a timeout, and on "wrong group" waits for a newer configuration. Each group gets its own
//! `rsm` session (session ids are per log); the command keeps one `(clerk, seq)` across
//! groups, so the shard's client table runs it once even if it moves mid-retry.

use crate::msg::{Command, Mapping, Output, Refusal, Request, Response, shard_of_command};
use kvpaxos::msg::{KvCommand, KvOutput};
use rpc::{Client, ClientEffect, ClientOutbox, NodeId};
use shardmaster::{Config, Gid};
use std::collections::BTreeMap;

/// Ticks without an answer before the clerk tries the group's next server.
pub const RETRY_TICKS: u64 = 10;

/// Ticks to wait before asking again a group that is still receiving the shard, or that
/// said "wrong group" (it may be a configuration behind).
pub const NOT_READY_TICKS: u64 = 5;

/// The clerk's session with one group.
#[derive(Clone, Copy, Debug, Default)]
struct GroupSession {
    /// The session, once registered.
    session: Option<u64>,
    /// The number of the last request sent in the session.
    seq: u64,
    /// Index of the server tried now, in the group's list.
    server: usize,
}

/// The command in progress.
#[derive(Clone, Debug)]
struct Pending {
    cmd: KvCommand,
    /// Its number, the same at every group.
    seq: u64,
    /// The group asked now, if the configuration names one.
    gid: Option<Gid>,
    ticks_waiting: u64,
    /// Ticks to stay silent before sending (a shard still arriving).
    pause: u64,
    /// Servers of the group tried in turn without an answer. After a whole round the clerk
    /// asks for the latest configuration (SPEC §8.1): the group may have left, and died.
    silent: usize,
}

/// A shardkv clerk (see the module docs).
#[derive(Debug)]
pub struct Clerk {
    id: u64,
    mapping: Mapping,
    config: Option<Config>,
    /// A group said "wrong group": the clerk wants the latest configuration (and retries,
    /// after a pause, with whatever it has then: the group may just be behind).
    refresh: bool,
    sessions: BTreeMap<Gid, GroupSession>,
    next_seq: u64,
    op: Option<Pending>,
    /// The address tried first in a group that lists it: a front door on a replica asks its
    /// own replica first.
    preferred: Option<String>,
}

impl Clerk {
    /// A clerk with id `id`, which must be unique in the cluster: draw it at random (64 bits).
    pub fn new(id: u64, mapping: Mapping) -> Self {
        Clerk {
            id,
            mapping,
            config: None,
            refresh: false,
            sessions: BTreeMap::new(),
            next_seq: 1,
            op: None,
            preferred: None,
        }
    }

    /// The clerk's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Tries `addr` first in a group that lists it (then that group's next servers in turn).
    #[must_use]
    pub fn preferring(mut self, addr: String) -> Self {
        self.preferred = Some(addr);
        self
    }

    /// Gives up the command in progress (its caller stopped waiting), so that the clerk can
    /// run the next one. The next command gets a higher number, so if the abandoned one still
    /// runs, it runs before the next on its shard or not at all (the shard's client table
    /// refuses a command older than the clerk's latest).
    pub fn abandon(&mut self) {
        if let Some(op) = self.op.take()
            && let Some(gid) = op.gid
        {
            self.next_request(gid);
        }
    }

    /// True while a command is in progress.
    pub fn is_busy(&self) -> bool {
        self.op.is_some()
    }

    /// The configuration the clerk knows.
    pub fn config(&self) -> Option<&Config> {
        self.config.as_ref()
    }

    /// True if the driver should ask the shard master for the latest configuration: the clerk
    /// has none, or a group told it its own may be stale.
    pub fn wanted_config(&self) -> bool {
        self.config.is_none() || self.refresh
    }

    /// A configuration from the shard master; kept if newer than the clerk's.
    pub fn offer_config(&mut self, config: Config, out: &mut ClientOutbox<Self>) {
        self.refresh = false;
        if self.config.as_ref().is_some_and(|c| c.num >= config.num) {
            return;
        }
        self.config = Some(config);
        if let Some(op) = &mut self.op {
            // The request in flight at the old group, if any, is abandoned: its session's next
            // request must get a new number, or that group would answer it with this one's
            // answer. (If the abandoned one runs after all, the shard's client table stops the
            // command running twice.)
            let abandoned = op.gid.take();
            op.pause = 0;
            if let Some(gid) = abandoned {
                self.next_request(gid);
            }
        }
        self.send(out);
    }

    /// The group that owns the command's shard in the clerk's configuration and its servers;
    /// `Err` if the command cannot go to one shard.
    fn route(&self, cmd: &KvCommand) -> Option<Result<(Gid, &[String]), Refusal>> {
        let config = self.config.as_ref()?;
        let shard = match shard_of_command(cmd, self.mapping, config.shard_count()) {
            Ok(s) => s,
            Err(refusal) => return Some(Err(refusal)),
        };
        let gid = config.shards[shard as usize];
        // A group with no servers cannot be reached: wait for another configuration.
        let servers = config.groups.get(&gid).filter(|s| !s.is_empty())?;
        Some(Ok((gid, servers.as_slice())))
    }

    /// Sends the command in progress (or its group's registration) to the server tried now.
    fn send(&mut self, out: &mut ClientOutbox<Self>) {
        let Some(op) = &self.op else {
            return;
        };
        if op.pause > 0 {
            return;
        }
        let (gid, addr) = match self.route(&op.cmd) {
            None => return, // No configuration, or the shard has no group yet: wait for one.
            Some(Err(refusal)) => return self.complete(Err(refusal), out),
            Some(Ok((gid, servers))) => {
                let first = self
                    .preferred
                    .as_ref()
                    .and_then(|p| servers.iter().position(|s| s == p))
                    .unwrap_or(0);
                let server = self.sessions.get(&gid).map_or(0, |s| s.server);
                (gid, servers[(first + server) % servers.len()].clone())
            }
        };
        let session = self.sessions.get(&gid).copied().unwrap_or_default();
        let op = self.op.as_mut().expect("checked above");
        op.gid = Some(gid);
        let req = match session.session {
            None => rsm::Request::Register,
            Some(id) => rsm::Request::Command {
                session: id,
                seq: session.seq,
                cmd: Command::Client {
                    clerk: self.id,
                    seq: op.seq,
                    cmd: op.cmd.clone(),
                },
            },
        };
        out.push(ClientEffect::RequestTo {
            addr,
            req: Request { gid, req },
        });
    }

    fn complete(&mut self, result: Result<KvOutput, Refusal>, out: &mut ClientOutbox<Self>) {
        self.op = None;
        out.push(ClientEffect::Complete(result));
    }

    /// Starts a new request in the session with `gid` (the last one was answered).
    fn next_request(&mut self, gid: Gid) {
        let session = self.sessions.entry(gid).or_default();
        session.seq += 1;
    }

    fn next_server(&mut self, gid: Gid) {
        self.sessions.entry(gid).or_default().server += 1;
    }

    fn on_answer(&mut self, gid: Gid, output: Output, out: &mut ClientOutbox<Self>) {
        self.next_request(gid);
        match output {
            Output::Done(answer) => self.complete(Ok(answer), out),
            Output::Refused(Refusal::WrongGroup) => {
                self.refresh = true;
                if let Some(op) = &mut self.op {
                    op.pause = NOT_READY_TICKS;
                }
            }
            Output::Refused(Refusal::NotReady) => {
                if let Some(op) = &mut self.op {
                    op.pause = NOT_READY_TICKS;
                }
            }
            Output::Refused(refusal) => self.complete(Err(refusal), out),
            // Not an answer to a client's command: a broken server; try the next one.
            Output::Internal => self.next_server(gid),
        }
    }
}

impl Client for Clerk {
    type Op = KvCommand;
    type Output = Result<KvOutput, Refusal>;
    type Req = Request;
    type Resp = Response;

    fn invoke(&mut self, cmd: KvCommand, out: &mut ClientOutbox<Self>) {
        assert!(self.op.is_none(), "one operation at a time per clerk");
        self.op = Some(Pending {
            cmd,
            seq: self.next_seq,
            gid: None,
            ticks_waiting: 0,
            pause: 0,
            silent: 0,
        });
        self.next_seq += 1;
        self.send(out);
    }

    fn on_response(&mut self, _from: NodeId, resp: Response, out: &mut ClientOutbox<Self>) {
        let Some(op) = &self.op else {
            return;
        };
        if op.gid != Some(resp.gid) {
            return; // A late answer from a group the clerk no longer asks.
        }
        let gid = resp.gid;
        let session = self.sessions.entry(gid).or_default();
        match resp.resp {
            rsm::Response::Registered { session: id } => {
                if session.session.is_some() {
                    return; // A late answer to an earlier registration attempt.
                }
                session.session = Some(id);
                session.seq = 1;
                self.send(out);
            }
            rsm::Response::Done {
                session: id,
                seq,
                output,
            } => {
                if session.session == Some(id) && session.seq == seq {
                    self.on_answer(gid, output, out);
                    self.send(out);
                }
            }
            rsm::Response::Refused { command, error } => {
                let current = match (command, session.session) {
                    (None, None) => true,
                    (Some(c), Some(id)) => c == (id, session.seq),
                    _ => false,
                };
                if !current {
                    return;
                }
                match error {
                    rsm::RsmError::Busy | rsm::RsmError::Unavailable => self.next_server(gid),
                    // The group's session is gone, not the command's identity: the shard's
                    // client table still knows `(clerk, seq)`, so a new session can retry it.
                    rsm::RsmError::SessionExpired => *session = GroupSession::default(),
                }
                if let Some(op) = &mut self.op {
                    op.ticks_waiting = 0;
                }
                self.send(out);
            }
        }
    }

    fn on_tick(&mut self, out: &mut ClientOutbox<Self>) {
        let Some(op) = &mut self.op else {
            return;
        };
        if op.pause > 0 {
            op.pause -= 1;
            if op.pause == 0 {
                op.ticks_waiting = 0;
                self.send(out);
            }
            return;
        }
        op.ticks_waiting += 1;
        if op.ticks_waiting < RETRY_TICKS {
            return;
        }
        op.ticks_waiting = 0;
        op.silent += 1;
        let cmd = op.cmd.clone();
        let round = match self.route(&cmd) {
            Some(Ok((_, servers))) => servers.len(),
            _ => 1,
        };
        let op = self.op.as_mut().expect("checked above");
        if op.silent >= round {
            op.silent = 0;
            self.refresh = true;
        }
        if let Some(gid) = op.gid {
            self.next_server(gid);
        }
        self.send(out);
    }
}
