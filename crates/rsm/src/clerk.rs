//! The clerk: a client of any `rsm` system. It opens a session, then runs one command at a
//! time, sent to one replica and, after a timeout, to the next, always with the same
//! `(session, seq)`, until a replica answers.

use crate::machine::StateMachine;
use crate::msg::{Request, Response, RsmError};
use rpc::{Client, ClientEffect, ClientOutbox, NodeId};

/// Ticks without an answer before the clerk retries at the next replica. Ten ticks (100 ms at
/// the default 10 ms tick): an agreement takes a few milliseconds, so a replica that has not
/// answered by then is probably cut off from a majority or lost the request.
pub const RETRY_TICKS: u64 = 10;

/// A command the clerk could not finish: its session expired (evicted after `sessions_max`
/// other sessions ran since) before an answer reached the clerk. An earlier attempt may have
/// run before the eviction with its answer lost, so the command may or may not have run; the
/// clerk's next command opens a new session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("session expired before the command was answered: it may or may not have run")]
pub struct SessionExpired;

/// A clerk of state machine `S`. Its `Output` is what `S` answers for the command, or
/// [`SessionExpired`].
#[derive(Debug)]
pub struct Clerk<S: StateMachine> {
    servers: Vec<NodeId>,
    /// Index into `servers` of the replica tried now.
    current: usize,
    /// The session, once registered.
    session: Option<u64>,
    /// The number of the last command sent in the session.
    seq: u64,
    /// The command in progress.
    op: Option<S::Command>,
    ticks_waiting: u64,
}

impl<S: StateMachine> Clerk<S> {
    /// A clerk that tries `servers` in this order.
    ///
    /// # Panics
    /// If `servers` is empty.
    pub fn new(servers: Vec<NodeId>) -> Self {
        assert!(!servers.is_empty(), "a clerk needs at least one server");
        Clerk {
            servers,
            current: 0,
            session: None,
            seq: 0,
            op: None,
            ticks_waiting: 0,
        }
    }

    /// The clerk's session, once registered.
    pub fn session(&self) -> Option<u64> {
        self.session
    }

    /// The request to send for the command in progress: a registration first.
    fn request(&self) -> Option<Request<S::Command>> {
        let cmd = self.op.as_ref()?;
        Some(match self.session {
            None => Request::Register,
            Some(session) => Request::Command {
                session,
                seq: self.seq,
                cmd: cmd.clone(),
            },
        })
    }

    fn send(&mut self, out: &mut ClientOutbox<Self>) {
        if let Some(req) = self.request() {
            out.push(ClientEffect::Request {
                to: self.servers[self.current],
                req,
            });
        }
    }

    fn next_server(&mut self, out: &mut ClientOutbox<Self>) {
        self.current = (self.current + 1) % self.servers.len();
        self.ticks_waiting = 0;
        self.send(out);
    }

    /// True if `command` names the command in progress.
    fn is_current(&self, command: Option<(u64, u64)>) -> bool {
        match (command, self.session) {
            (None, None) => true,
            (Some(c), Some(session)) => c == (session, self.seq),
            _ => false,
        }
    }
}

impl<S: StateMachine> Client for Clerk<S> {
    type Op = S::Command;
    type Output = Result<S::Output, SessionExpired>;
    type Req = Request<S::Command>;
    type Resp = Response<S::Output>;

    fn invoke(&mut self, op: S::Command, out: &mut ClientOutbox<Self>) {
        assert!(self.op.is_none(), "one operation at a time per clerk");
        self.op = Some(op);
        self.seq += 1;
        self.ticks_waiting = 0;
        self.send(out);
    }

    fn on_response(
        &mut self,
        _from: NodeId,
        resp: Response<S::Output>,
        out: &mut ClientOutbox<Self>,
    ) {
        if self.op.is_none() {
            return;
        }
        match resp {
            Response::Registered { session } => {
                if self.session.is_some() {
                    return; // A late answer to an earlier registration attempt.
                }
                self.session = Some(session);
                self.seq = 1;
                self.ticks_waiting = 0;
                self.send(out);
            }
            Response::Done {
                session,
                seq,
                output,
            } => {
                if self.is_current(Some((session, seq))) {
                    self.op = None;
                    out.push(ClientEffect::Complete(Ok(output)));
                }
            }
            Response::Refused { command, error } => {
                if !self.is_current(command) {
                    return;
                }
                match error {
                    // The replica is full, or cannot serve at all: the next retry tick moves
                    // on to the next replica.
                    RsmError::Busy | RsmError::Unavailable => {
                        self.ticks_waiting = RETRY_TICKS - 1;
                    }
                    // The session is gone. This attempt did not run, but an earlier one may
                    // have, its answer lost: running the command again in a new session could
                    // run it twice. Say so; the next command registers anew.
                    RsmError::SessionExpired => {
                        self.session = None;
                        self.op = None;
                        out.push(ClientEffect::Complete(Err(SessionExpired)));
                    }
                }
            }
        }
    }

    fn on_tick(&mut self, out: &mut ClientOutbox<Self>) {
        if self.op.is_none() {
            return;
        }
        self.ticks_waiting += 1;
        if self.ticks_waiting >= RETRY_TICKS {
            self.next_server(out);
        }
    }
}
