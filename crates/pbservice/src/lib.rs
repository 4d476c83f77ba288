//! The primary/backup key/value service of SPEC §4: Get, Put and Append, at most once, served
//! by the primary of the view service's current view and mirrored on its backup.
//!
//! # Protocol
//! Each server pings the view service every tick and caches the view. The primary queues
//! clerks' operations and forwards them, Gets included, in batches (one batch at a time, in
//! order) to the backup; it applies and answers a batch only once the backup confirms it. A
//! new backup first receives the whole state (database plus at-most-once table); the primary
//! acknowledges a view to the view service only after that transfer, so the view service can
//! never promote a backup without the data. A backup refuses forwards for a view that is not
//! its own, which stops a partitioned old primary from answering stale Gets.
//!
//! # Invariants
//! - Primary and backup apply the same operations in the same order; `(clerk, seq)` is applied
//!   at most once, on both, across retries and fail-over (the table travels with the data).
//! - Only a server with the data answers as primary: the first primary of the service, or a
//!   former backup that received a transfer. A restarted (empty) server never serves.
//! - Every queue is bounded ([`BATCH_OPS_MAX`], [`QUEUE_OPS_MAX`]).
//!
//! Accepted limitation (as in the original lab): if the primary of view 1 restarts before any
//! backup joined, the view service cannot tell, and the restarted primary serves empty data.
//!
//! # Driver contract
//! [`Replica`] implements [`rpc::Node`] and [`Clerk`] implements [`rpc::Client`]: (1) deliver
//! peer messages; they may be lost, duplicated, delayed or reordered (every message names its
//! view and batch, so stale ones are ignored); (2) call `on_tick` once per ping interval
//! (100 ms, SPEC §11): servers ping then, and resend what is unconfirmed; (3) the view service
//! is node 0 of a simulated cluster ([`PbNode`]); over TCP the shell ([`server`]) turns pings
//! and server-to-server messages into requests to registered addresses. Nothing is written to
//! disk: a restarted server starts empty (SPEC §1.6).

mod clerk;
mod cluster;
mod msg;
mod replica;
pub mod server;

pub mod tcp_clerk;

pub use clerk::{Clerk, ClerkOutbox, RETRY_TICKS};
pub use cluster::PbNode;
pub use kvstore::KvState;
pub use msg::{BackupError, Op, OpRequest, PbError, PbMsg, PbRequest, PbResponse};
pub use replica::{BATCH_OPS_MAX, PbOutbox, QUEUE_OPS_MAX, Replica};
pub use server::PbServer;
pub use tcp_clerk::{ClerkError, TcpClerk};
