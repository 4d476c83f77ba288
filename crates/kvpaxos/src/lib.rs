//! The Paxos-replicated key/value service of SPEC §6 (lab 3B): every replica runs a
//! [`paxos::Peer`] and applies the agreed log to a key/value map.
//!
//! # The protocol
//! A clerk sends `Get`/`Put`/`Append`, tagged with its identity and a sequence number, to one
//! replica, and after [`clerk::RETRY_TICKS`] without an answer to the next one, with the same
//! `(client, seq)`. Every operation goes through the log, Gets included (SPEC §6.2), so a
//! replica cut off from a majority answers nothing: it can never serve a stale read.
//!
//! One replica leads (Multi-Paxos, [`paxos::leader`]): a replica that knows no leader asks its
//! peer to campaign. The leader batches every request it holds into one log entry at the next
//! free slot and keeps up to [`replica::WINDOW`] entries in flight, each decided by phase 2
//! alone. A follower forwards its clerks' requests to the leader and answers them when it
//! applies their entry. Replicas apply decided slots in order; after applying a slot a replica
//! calls `done`, so every peer forgets instances once all replicas have applied them. A slot
//! known to exist but undecided here for [`replica::HOLE_TICKS`] ticks is a hole: a follower
//! asks for the decisions it missed, the leader proposes a no-op there (Paxos decides whatever
//! the slot already had, if anything). docs/DESIGN.md argues why reads are linearizable.
//!
//! # Invariants
//! - Replicas apply the same entries in the same order (Paxos agreement, slots applied in
//!   order), so their states agree at equal `next_apply`.
//! - At most once: the state holds, per clerk, the last `seq` applied and its result; a
//!   duplicate entry is not run again, and its result is answered from the table. The table has
//!   one entry per clerk.
//! - A replica answers a request only from its applied state: after the entry, or an earlier
//!   copy of it, was applied in order.
//! - Every queue is bounded: [`replica::WAITING_MAX`] waiting requests per replica (then
//!   [`KvError::Busy`]), [`replica::QUEUE_MAX`] queued at the leader, [`replica::WINDOW`]
//!   entries in flight.
//! - Paxos memory is bounded by the slowest replica: `done(s)` follows applying `s`.
//!
//! # Limits
//! - A replica that is killed stays dead (no disk: SPEC §6), and since `done` needs every
//!   replica, the others then keep every later instance in memory (SPEC §5's `min` rule).
//! - A replica started again after a crash has none of its state. Its Paxos votes could choose
//!   a second value for a slot, so the others ignore it (they know its earlier incarnation,
//!   [`paxos::Peer::is_amnesiac`]), and it answers every request [`KvError::Unavailable`].
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
