//! Redis strings as a deterministic state machine: the store every replicated key/value
//! service of dsys runs (kvpaxos now; shardkv and diskv next), and the commands its Redis front
//! door accepts.
//!
//! Layers:
//! - [`parse`]: a client's arguments (`SET k v EX 10`) to a [`Cmd`], with Redis's checks and
//!   error texts. What needs no data is checked here, so the log only carries well-formed
//!   commands.
//! - [`Batch`]: the commands of one request (a connection's pipeline, transactions inside it)
//!   with the time stamp of the replica that received it: one log entry.
//! - [`Keyspace`]: the store. [`Keyspace::apply_batch`] runs a batch and answers one
//!   [`Value`] per command; [`Keyspace::snapshot`] / [`Keyspace::restore`] encode it.
//!
//! # Guarantees
//! - **Deterministic.** Applying the same batches in the same order gives the same store and
//!   the same answers on every replica: no clock, no randomness, ordered maps only.
//! - **Time comes from the log.** The store's clock is the largest `now_ms` stamp applied so
//!   far; it never goes back. A key set with `EX 10` expires 10 s of *log time* after its SET
//!   was applied, and is removed, on every replica, at the first batch stamped at or after
//!   that. A replica's clock that runs ahead makes keys expire early by as much (docs/DESIGN.md,
//!   "Expiry").
//! - **All or nothing.** A command either happens whole or answers an error and changes
//!   nothing; a batch's commands apply one after the other with nothing in between, and a
//!   transaction ([`Cmd::Exec`]) either runs all its commands or, if a watched key changed,
//!   none.
//! - **Bounded.** Keys are at most [`MAX_KEY_BYTES`], values at most [`MAX_VALUE_BYTES`] (an
//!   APPEND or SETRANGE past it answers an error), a multi-value reply at most
//!   [`MAX_REPLY_BYTES`], a SCAN page looks at most at [`MAX_SCAN_COUNT`] keys.
//!
//! ```
//! use bytes::Bytes;
//! use keyspace::{Batch, Keyspace, Value, parse};
//!
//! let args = |line: &str| line.split(' ').map(|a| Bytes::from(a.to_owned())).collect::<Vec<_>>();
//! let cmds = ["SET k 41 EX 10", "INCR k", "TTL k"]
//!     .map(|line| parse(&args(line)).expect("a store command").expect("well formed"));
//! let mut store = Keyspace::new();
//! let answers = store.apply_batch(&Batch { now_ms: 1_000, cmds: cmds.to_vec() });
//! assert_eq!(answers, [Value::Ok, Value::Int(42), Value::Int(10)]);
//! // Eleven seconds later by the log's clock, the key is gone.
//! let get = parse(&args("GET k")).unwrap().unwrap();
//! assert_eq!(store.apply_batch(&Batch { now_ms: 12_000, cmds: vec![get] }), [Value::Nil]);
//! ```

mod apply;
mod cmd;
pub mod errors;
mod glob;
mod parse;
mod store;
mod strings;
mod to_args;
mod value;

pub use cmd::{Batch, Cmd, Condition, ExpireCondition, SetExpiry, TtlUnit};
pub use glob::glob_match;
pub use parse::{COMMANDS, SCAN_COUNT_DEFAULT, parse};
pub use store::Keyspace;
pub use strings::parse_i64;
pub use to_args::to_args;
pub use value::Value;

/// The largest value, in bytes: 4 MiB.
///
/// Why not Redis's 512 MiB: a value travels whole in one Paxos log entry inside one 16 MiB rpc
/// frame (`rpc::MAX_FRAME_BYTES`), and answers go back to `dsys kv get` in one frame too; 4 MiB
/// leaves room for a batch around it. memcached's default is 1 MiB.
pub const MAX_VALUE_BYTES: usize = 4 << 20;

/// The largest key, in bytes: 64 KiB. Keys are held in memory twice (map and expiry index) and
/// sent with every command on them; real keys are far shorter.
pub const MAX_KEY_BYTES: usize = 64 << 10;

/// The largest reply of one multi-value command (MGET, KEYS), in bytes: 8 MiB, under one rpc
/// frame. Past it the command answers an error (use SCAN, or fewer keys).
pub const MAX_REPLY_BYTES: usize = 8 << 20;

/// The most keys one SCAN page looks at, whatever COUNT asks: a page is applied inside one
/// log entry on every replica, so its cost must stay small.
pub const MAX_SCAN_COUNT: u64 = 10_000;

#[cfg(test)]
mod tests;
