//! A replicated state machine on Multi-Paxos: the layer every replicated system of dsys
//! (kvpaxos, the shard master, shardkv, diskv) is built on. A system writes a deterministic
//! [`StateMachine`]; [`Replica`] replicates it: it is what etcd's raft node and applier,
//! raft-rs's `RawNode` and TigerBeetle's replica generic over its state machine are.
//!
//! ```text
//!  clients ──Request──▶ Replica<S> ──proposals──▶ leader's queue ──batch──▶ paxos::Peer
//!     ▲                    │  ▲                                               │
//!     └──Response──────────┘  └── decided slots, in order (take_decided) ◀────┘
//!                             apply: Sessions (at most once) ──▶ S::apply
//! ```
//!
//! # The protocol
//! A client first registers: a `Register` goes through the log and opens a session whose id
//! the log hands out ([`session`]), so ids never collide. It then sends commands numbered
//! 1, 2, … within the session, one at a time, to one replica and, after a timeout, to the
//! next ([`Clerk`]).
//!
//! One replica leads ([`paxos::leader`]); a replica that knows no leader asks its peer to
//! campaign. A follower forwards its clients' proposals to the leader; the leader batches
//! every proposal it holds into one entry at the next free slot and keeps up to
//! [`Config::window`] entries in flight, each decided by phase 2 alone. Every replica applies
//! decided slots in order, through the session table (a retried command runs once) into the
//! machine, and answers the clients waiting on it. A slot known to exist but undecided here
//! for [`Config::hole_ticks`] is a hole: a follower asks for the decisions it missed, the
//! leader proposes a no-op there.
//!
//! Every [`Config::snapshot_every_slots`] slots (or bytes) a replica snapshots the machine and
//! the sessions, and compacts its Paxos log below its previous snapshot, whatever the other
//! replicas did: a dead replica no longer holds everyone's memory hostage. A replica whose
//! peers compacted the slots it needs pulls a snapshot in chunks ([`snapshot`]) and goes on
//! from there.
//!
//! # Invariants (asserted)
//! - Replicas apply the same entries in the same order, so their states agree at equal
//!   `next_apply`; `next_apply` only grows, one slot at a time or by a snapshot ahead of it.
//! - At most once: a command runs only if its session is open and its number is above the
//!   session's last; a retry is answered from the table; the table is bounded
//!   ([`Config::sessions_max`]) and evicts in log order.
//! - A replica answers a request only from its applied state.
//! - In-flight slots stay at or above `next_apply`; every queue and table is bounded.
//! - A decided value that is not an entry is applied as a no-op, the same on every replica.
//!
//! # Driver contract
//! [`Replica`] implements [`rpc::Node`] with node ids `0..n`: (1) deliver peer messages
//! ([`Msg`]) with `on_message`; they may be lost, duplicated, delayed or reordered;
//! (2) deliver client requests ([`Request`]) with `on_request`; the answer is a `Reply` to the
//! request's id, possibly after later inputs, or none (the client retries); (3) call `on_tick`
//! every tick (10 ms by default); (4) for a durable replica ([`Replica::open`]), carry out its
//! disk effects in its own directory and, after a crash, open it on what the disk kept. An
//! in-memory replica ([`Replica::new`]) restarted without its state is refused by its peers
//! ([`paxos::Peer::is_amnesiac`]), answers every request [`RsmError::Unavailable`], and only
//! learns the log, as a non-voting learner; a durable one that lost its disk does the same
//! until it has rejoined ([`paxos::rejoin`]).
//!
//! # Serving over TCP
//! [`server`] is the one server shell of every system: a [`Replica`] of any machine on the
//! TCP runtime with its data directory (locked, its cluster identity checked), a
//! [`server::Submitter`] for front doors in the same process, and [`server::TcpClerk`], the
//! clerk over TCP. A system adds only what is its own (kvpaxos its RESP front door).

pub mod clerk;
pub mod config;
pub mod invariant;
pub mod machine;
pub mod msg;
pub mod replica;
pub mod server;
pub mod session;
pub mod snapshot;
pub mod waiting;

pub use clerk::Clerk;
pub use config::{Config, ConfigError};
pub use machine::{RestoreError, StateMachine};
pub use msg::{Entry, Msg, Proposal, Request, Response, RsmError};
pub use replica::{OpenError, Replica, ReplicaOutbox, SNAPSHOT_FILE, Stats};
pub use session::Sessions;
