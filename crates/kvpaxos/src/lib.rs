//! The Paxos-replicated key/value service of SPEC §6 (lab 3B): every replica runs a
//! [`paxos::Peer`] and applies the agreed log to a key/value map.
//!
//! # The protocol
//! A clerk sends `Get`/`Put`/`Append`, tagged with its identity and a sequence number, to one
//! replica, and after [`clerk::RETRY_TICKS`] without an answer to the next one, with the same
//! `(client, seq)`. The replica proposes the operation as a log entry at the lowest slot it has
//! not applied. Every operation goes through the log, Gets included (SPEC §6.2), so a replica
//! cut off from a majority answers nothing: it can never serve a stale read. When the slot is
//! decided with another replica's entry, the replica proposes its own at the next slot. Replicas
//! apply decided slots in order; after each input (message, request, tick) a replica asks its
//! peer about its next slot, so a decision is applied as soon as it arrives. When that slot stays
//! undecided for [`replica::HOLE_TICKS`] ticks while higher slots are known (a hole left by a
//! replica that fell into a minority), the replica proposes a no-op there, which makes Paxos
//! tell it the slot's value. After applying a slot the replica calls `done`, so every peer
//! forgets instances once all replicas have applied them.
//!
//! # Invariants
//! - Replicas apply the same entries in the same order (Paxos agreement, slots applied in
//!   order), so their states agree at equal `next_apply`.
//! - At most once: the state holds, per clerk, the last `seq` applied and its result; a
//!   duplicate entry is not run again, and its result is answered from the table. The table has
//!   one entry per clerk.
//! - A replica answers a request only from its applied state: after the entry, or an earlier
//!   copy of it, was applied in order.
//! - A replica never holds more than [`replica::WAITING_MAX`] requests; beyond that it answers
//!   [`KvError::Busy`].
//! - Paxos memory is bounded by the slowest replica: `done(s)` follows applying `s`.
//!
//! # Limits (phase 1)
//! - One proposal in flight per replica and one operation per log entry: an operation costs one
//!   full Paxos agreement (12 messages with 3 replicas, request and reply included; about 5 ms
//!   of simulated time at 0.1–2 ms latency). Multi-Paxos and batching come later (issue 5).
//! - A replica learns that it missed slots only from a Paxos message naming a higher slot. A
//!   replica back from a partition with no traffic at all stays behind (and, through `done`,
//!   keeps every peer from forgetting) until the next operation anywhere; it then catches up at
//!   one round trip per slot.
//!
//! # Driver contract
//! [`Replica`] implements [`rpc::Node`] with node ids `0..n` for the `n` replicas:
//! (1) deliver peer messages ([`Msg`]) with `on_message`; they may be lost, duplicated, delayed
//! or reordered; (2) deliver clerk requests ([`Request`]) with `on_request`; the answer is a
//! `Reply` to the request's id, possibly after later inputs; (3) call `on_tick` every tick
//! (10 ms by default): Paxos retries and hole filling run on ticks. Nothing is written to disk
//! (SPEC §6: a killed replica is never restarted). [`Clerk`] implements [`rpc::Client`].

pub mod clerk;
pub mod msg;
pub mod replica;
pub mod server;

pub use clerk::Clerk;
pub use kvstore::{Applied, KvState};
pub use msg::{Entry, KvError, Msg, Op, Request, Response};
pub use replica::Replica;
