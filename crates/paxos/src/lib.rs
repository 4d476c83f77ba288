//! The Paxos library of SPEC §5: a sequence of independent single-decree Paxos instances, run
//! concurrently and out of order, with memory reclaimed once every peer is done with them.
//!
//! # The protocol, per instance
//! A proposer picks a ballot above every ballot it has seen and asks all acceptors to *prepare*.
//! Each acceptor *promises* to refuse lower ballots and reports the highest-ballot value it has
//! accepted. With promises from a majority, the proposer asks everybody to *accept* that value (or
//! its own, if none was reported). A value accepted by a majority is chosen; the proposer tells
//! everybody it is *decided*. Refused rounds back off for a random, growing time and retry higher.
//!
//! # Invariants
//! - No two peers ever decide different values for one instance ([`Peer`] asserts it locally;
//!   the simulation tests check it across peers after every step).
//! - An acceptor never accepts below a ballot it promised.
//! - `max()` never goes down; `min()` never goes down; instances below `min()` are deleted and
//!   acceptors answer messages about them with `Forgotten`, never with a fresh vote, so a
//!   forgotten instance cannot be decided again.
//! - `delivered()` and the compaction point only grow, and the compaction point is never above
//!   `delivered()`; below it an acceptor answers `Compacted`, never with a vote.
//! - A peer calls its own acceptor by function call, not by message (SPEC §5.2): a sequential
//!   decision among 3 peers costs 6 messages received (2 prepares, 2 accepts, 2 decides).
//!
//! # Driver contract
//! [`Peer`] implements [`rpc::Node`]: (1) deliver peer messages with `on_message`; they may be
//! lost, duplicated, delayed or reordered; (2) call `on_tick` every tick (the simulator and the
//! TCP runtime default to 10 ms): proposers retry on ticks; (3) call the API (`start`, `status`,
//! `done`, `max`, `min`) between inputs, and carry out the effects `start` puts in the outbox.
//! A peer made with [`Peer::new`] keeps everything in memory (SPEC §5.1: crash and restart are
//! out of scope); one opened with [`Peer::open`] on its directory logs every promise, vote and
//! decision before acting on it ([`journal`]), joins only when no peer knew an earlier
//! incarnation of it ([`join`]), and rejoins safely after losing its disk ([`rejoin`]).
//!
//! # Applying the log
//! An application that applies instances in order takes them with [`Peer::take_decided`] after
//! each input (every decided instance from [`Peer::delivered`] on, contiguous, each once)
//! instead of polling `status` slot by slot; see [`drain`].
//!
//! # Compaction and snapshots
//! `done`/`min()` free an instance only once every peer is done with it. An application that
//! keeps a snapshot calls [`Peer::compact`] to drop the log below it here alone, even while a
//! peer is down for good. A peer that falls behind a compaction is told so
//! ([`Peer::snapshot_needed`]: an acceptor answers [`Body::Compacted`] instead of voting, and a
//! campaign meeting a compacted quorum member gives up), and catches up by installing another
//! peer's snapshot ([`Peer::install_snapshot`]). Compaction is a local fact, never part of
//! `min()`. The safety rules that keep a compacted acceptor's missing votes from letting a
//! second value be chosen are in [`compact`].

mod acceptor;
pub mod compact;
pub mod drain;
mod horizon;
mod incarnation;
pub mod join;
pub mod journal;
pub mod leader;
mod msg;
mod peer;
mod proposer;
pub mod rejoin;
pub mod server;

pub use compact::SnapshotNeed;
pub use journal::{OpenError, Opened};
pub use msg::{Ballot, Body, Fate, Msg, Seq, Value};
pub use peer::{PaxosOutbox, Peer};
pub use server::PaxosServer;
