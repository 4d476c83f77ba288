//! The contract between a protocol core and whatever drives it.
//!
//! A core is a deterministic state machine: an input goes in (a peer message, a client request, a
//! tick), effects come out into an [`Outbox`]. It owns no socket, clock, thread or random source.
//! Two drivers run the same cores: the simulator (crate `sim`, virtual time, seeded faults) and the
//! TCP runtime ([`crate::runtime`], tokio, a real disk).
//!
//! # Driver contract
//! A driver must, for every node:
//! 1. Feed inputs one at a time (`on_message`, `on_request`, `on_tick`, or a call into the
//!    core's own API) and collect the effects each one produced.
//! 2. Carry out a node's effects in the order they were emitted. A [`Effect::Sync`] must be
//!    complete (every earlier `Write`/`Remove`/`Append`/`Truncate` durable) before any later
//!    `Send`, `Respond` or `Reply` leaves the node: that is what lets a core promise something
//!    only once it is on disk. One `Sync` covers every change before it, so a core that appends
//!    many records and then syncs once pays for one flush (group commit). A driver that cannot
//!    make a `Sync` durable (fsync fails, the disk is full) stops the node as a crash would; it
//!    never retries the fsync and never lets later effects leave.
//! 3. Expect nothing of the network: messages may be lost, duplicated, reordered or delayed, and
//!    a core must stay safe under all of that even though TCP itself is reliable.
//! 4. Call `on_tick` at the cluster's fixed tick interval. Cores measure time only in ticks.
//! 5. After a crash, rebuild the node from what the disk kept (a [`DiskImage`]), never from
//!    memory. What a crash keeps of changes not yet synced:
//!    * a `Write` either happened whole or not at all; a `Remove` may or may not have happened;
//!    * of the unsynced `Append`s to one file, any prefix of their bytes, in order: the last
//!      record may be torn at any byte (frame records with [`crate::record`] and cut the tail);
//!    * an unsynced `Truncate` may or may not have happened, and an `Append` after it survives
//!      only if it did.
//!
//!    A clean stop (not a crash) keeps everything. Synced changes are always kept. After any
//!    restart, a file that took `Append`s may end in zero bytes after its content: the runtime
//!    preallocates such files and overwrites the zeros in place, which halves what an fsync
//!    writes. Log readers ([`crate::record`]) read a zero tail, or a record cut short before
//!    one, as a torn tail. So a restarted core must `Truncate` such a file to where its content
//!    ends (or replace it with `Write`, or `Remove` it) before it appends to it again: only the
//!    core knows where its records end, and a driver refuses an `Append` to a file found on
//!    disk before that. The simulator adds such zeros at every restart to hold cores to it.
//! 6. Deliver a message sent by address ([`Effect::SendTo`]) to the node at that address, and
//!    a client's request by address ([`ClientEffect::RequestTo`]) to the server there, with the
//!    same faults as by id. The receiver sees such a message from [`NodeId::EXTERNAL`], and a
//!    client sees the answer to such a request from it too: over TCP a connection by address
//!    names nobody in the receiver's peer list. A `Respond` to `EXTERNAL` is dropped; a core
//!    answers by address instead, to the reply address the message carries. An address nobody
//!    listens at loses the message, as a lossy network would.

use crate::ids::{NodeId, ReqId};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// The durable files of one node: name to content. What a restarted node reads back.
pub type DiskImage = BTreeMap<String, Bytes>;

/// One thing a core asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect<M, R> {
    /// Send a request-like message to a peer. In the simulator's "unreliable" mode such a message
    /// may be lost, or handled with every answer to it lost (SPEC §1.2); it counts as one RPC.
    Send {
        /// The destination peer.
        to: NodeId,
        /// The message.
        msg: M,
    },
    /// Answer the peer message now being handled (the reply half of an RPC). It travels like any
    /// message but is not itself subject to the per-request unreliable draw, and it reaches a
    /// deaf node, as the reply on an already-open connection would.
    Respond {
        /// The peer whose message is being answered.
        to: NodeId,
        /// The answer.
        msg: M,
    },
    /// Send a message to the node listening at `addr`: a server named by address (as a
    /// configuration lists it), not one of this node's peers. Delivered like a `Send` (it may be
    /// lost, duplicated, delayed or reordered), but it arrives from [`NodeId::EXTERNAL`]: it
    /// names no sender the receiver could answer, so a message that wants an answer carries its
    /// own reply address (driver contract, step 6).
    SendTo {
        /// The destination's address (`host:port` over TCP, a name in the simulator).
        addr: String,
        /// The message.
        msg: M,
    },
    /// Answer a client request that arrived through `on_request`.
    Reply {
        /// The handle the request came with.
        req: ReqId,
        /// The answer.
        resp: R,
    },
    /// Replace the whole content of a file, atomically. Not durable until a later `Sync`.
    Write {
        /// The file's name, relative to the node's own directory.
        file: String,
        /// The new content.
        bytes: Bytes,
    },
    /// Delete a file. Not durable until a later `Sync`.
    Remove {
        /// The file's name, relative to the node's own directory.
        file: String,
    },
    /// Append to a file, creating it if missing. Not durable until a later `Sync`; a crash before
    /// it keeps any byte prefix of the unsynced appends to the file (driver contract, step 5).
    Append {
        /// The file's name, relative to the node's own directory.
        file: String,
        /// The bytes to add at the end.
        bytes: Bytes,
    },
    /// Cut a file to its first `len` bytes (a torn log tail, found at recovery). The file must
    /// exist and be at least `len` long: the simulator panics and the runtime stops the node
    /// otherwise. Not durable until a later `Sync`; a crash before it may or may not undo it.
    /// (A log drops its prefix by writing a new file and removing the old one, not by this.)
    Truncate {
        /// The file's name, relative to the node's own directory.
        file: String,
        /// The length to keep, in bytes.
        len: u64,
    },
    /// Make every earlier `Write`, `Remove`, `Append` and `Truncate` durable before any later
    /// effect leaves the node.
    Sync,
}

/// The effects one input produced, in order.
#[derive(Debug)]
pub struct Outbox<M, R> {
    effects: Vec<Effect<M, R>>,
}

impl<M, R> Default for Outbox<M, R> {
    fn default() -> Self {
        Outbox {
            effects: Vec::new(),
        }
    }
}

impl<M, R> Outbox<M, R> {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a request-like message to a peer.
    pub fn send(&mut self, to: NodeId, msg: M) {
        self.effects.push(Effect::Send { to, msg });
    }

    /// Queues the answer to the peer message being handled.
    pub fn respond(&mut self, to: NodeId, msg: M) {
        self.effects.push(Effect::Respond { to, msg });
    }

    /// Queues a message to the node at address `addr` ([`Effect::SendTo`]).
    pub fn send_to(&mut self, addr: impl Into<String>, msg: M) {
        self.effects.push(Effect::SendTo {
            addr: addr.into(),
            msg,
        });
    }

    /// Queues the answer to a client request.
    pub fn reply(&mut self, req: ReqId, resp: R) {
        self.effects.push(Effect::Reply { req, resp });
    }

    /// Queues an atomic whole-file write (durable only after a later [`Outbox::sync`]).
    pub fn write(&mut self, file: impl Into<String>, bytes: Bytes) {
        self.effects.push(Effect::Write {
            file: file.into(),
            bytes,
        });
    }

    /// Queues a file removal (durable only after a later [`Outbox::sync`]).
    pub fn remove(&mut self, file: impl Into<String>) {
        self.effects.push(Effect::Remove { file: file.into() });
    }

    /// Queues an append to `file`, created if missing (durable only after a later
    /// [`Outbox::sync`]; a crash may keep any byte prefix of it).
    pub fn append(&mut self, file: impl Into<String>, bytes: Bytes) {
        self.effects.push(Effect::Append {
            file: file.into(),
            bytes,
        });
    }

    /// Queues cutting `file` to `len` bytes (durable only after a later [`Outbox::sync`]).
    pub fn truncate(&mut self, file: impl Into<String>, len: u64) {
        self.effects.push(Effect::Truncate {
            file: file.into(),
            len,
        });
    }

    /// Queues a barrier: earlier writes become durable before later effects leave.
    pub fn sync(&mut self) {
        self.effects.push(Effect::Sync);
    }

    /// Moves every queued effect out, leaving the outbox empty for reuse.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Effect<M, R>> {
        self.effects.drain(..)
    }

    /// The queued effects.
    pub fn effects(&self) -> &[Effect<M, R>] {
        &self.effects
    }

    /// True if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.effects.is_empty()
    }

    /// How many effects are queued: a mark for [`Outbox::insert_at`].
    pub fn len(&self) -> usize {
        self.effects.len()
    }

    /// Inserts `effects` at position `mark` (a [`Outbox::len`] taken earlier), so that they
    /// are carried out before everything queued since the mark. This is how a core makes its
    /// log records durable (an append and a `Sync`) before the messages that depend on them,
    /// without deciding at every send whether a record is pending.
    ///
    /// # Panics
    /// If `mark` is beyond the queued effects.
    pub fn insert_at(&mut self, mark: usize, effects: impl IntoIterator<Item = Effect<M, R>>) {
        assert!(mark <= self.effects.len(), "mark {mark} beyond the outbox");
        self.effects.splice(mark..mark, effects);
    }

    /// Moves every effect of `inner` into this outbox, converting messages with `wrap`. This is how
    /// a core that embeds another (kvpaxos embeds a Paxos peer) forwards its inner core's effects.
    pub fn absorb<M2, R2>(&mut self, inner: &mut Outbox<M2, R2>, wrap: impl Fn(M2) -> M)
    where
        R2: Into<R>,
    {
        for effect in inner.drain() {
            self.effects.push(match effect {
                Effect::Send { to, msg } => Effect::Send { to, msg: wrap(msg) },
                Effect::Respond { to, msg } => Effect::Respond { to, msg: wrap(msg) },
                Effect::SendTo { addr, msg } => Effect::SendTo {
                    addr,
                    msg: wrap(msg),
                },
                Effect::Reply { req, resp } => Effect::Reply {
                    req,
                    resp: resp.into(),
                },
                Effect::Write { file, bytes } => Effect::Write { file, bytes },
                Effect::Remove { file } => Effect::Remove { file },
                Effect::Append { file, bytes } => Effect::Append { file, bytes },
                Effect::Truncate { file, len } => Effect::Truncate { file, len },
                Effect::Sync => Effect::Sync,
            });
        }
    }
}

/// The outbox type of node `N`.
pub type NodeOutbox<N> = Outbox<<N as Node>::Msg, <N as Node>::Resp>;

/// A server-side protocol core: peer messages, client requests and ticks in; effects out.
pub trait Node {
    /// Messages between peers of this protocol.
    type Msg: Clone + Debug;
    /// Requests from clients.
    type Req: Clone + Debug;
    /// Answers to clients.
    type Resp: Debug;

    /// Handles a message from peer `from`.
    fn on_message(&mut self, from: NodeId, msg: Self::Msg, out: &mut NodeOutbox<Self>);

    /// Handles a client request; the node answers it (now or later) with `out.reply(req, ..)`,
    /// or never, and the client times out and retries.
    fn on_request(&mut self, req: ReqId, body: Self::Req, out: &mut NodeOutbox<Self>);

    /// Advances the node's notion of time by one tick.
    fn on_tick(&mut self, out: &mut NodeOutbox<Self>);
}

/// A request type for nodes that take no client requests (the Paxos library is driven through
/// its own local API instead). It has no values, so such a request can never be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NoRequest {}

/// One thing a client core asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEffect<Q, O> {
    /// Send a request to server `to`. The answer, if any, comes back through `on_response`.
    Request {
        /// The server.
        to: NodeId,
        /// The request.
        req: Q,
    },
    /// Send a request to the server at `addr` (a server named by address, as a configuration
    /// lists it). Its answer, if any, comes back through `on_response` from
    /// [`NodeId::EXTERNAL`].
    RequestTo {
        /// The server's address (`host:port` over TCP, a name in the simulator).
        addr: String,
        /// The request.
        req: Q,
    },
    /// The operation begun by the last `invoke` has finished with this result.
    Complete(O),
}

/// The effects one input to a client core produced, in order.
pub type ClientOutbox<C> = Vec<ClientEffect<<C as Client>::Req, <C as Client>::Output>>;

/// A client-side core (a clerk): one operation at a time, with its retries and timeouts counted
/// in ticks, so that the simulator can run clients under virtual time too.
pub trait Client {
    /// An operation the application asks for (for example `Put(key, value)`).
    type Op: Debug;
    /// The result of a finished operation.
    type Output: Debug;
    /// The request sent to a server.
    type Req: Clone + Debug;
    /// A server's answer.
    type Resp: Debug;

    /// Begins `op`. A driver invokes only when the previous operation has completed.
    fn invoke(&mut self, op: Self::Op, out: &mut ClientOutbox<Self>);

    /// Handles an answer from server `from` (possibly a stale answer to an earlier attempt).
    fn on_response(&mut self, from: NodeId, resp: Self::Resp, out: &mut ClientOutbox<Self>);

    /// Advances the client's notion of time by one tick (timeouts, retries).
    fn on_tick(&mut self, out: &mut ClientOutbox<Self>);
}
