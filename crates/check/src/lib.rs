//! A Porcupine-style linearizability checker for recorded histories of a concurrent object,
//! with two ready-made models: the 6.824 key/value service (`Get`, `Put`, `Append`;
//! [`KvModel`], [`check_kv`]) and Redis strings (`GET`, `SET`, `SETNX`, `DEL`, `INCRBY`,
//! `APPEND`, `MSET`, `MGET`, `MULTI`/`EXEC`; [`RedisModel`], [`check_redis`]).
//!
//! # How it works
//!
//! Clients record each operation's invoke and return events in a [`History`], with times from
//! one clock shared by all clients (virtual simulator time or real nanoseconds). A history is
//! *linearizable* if the operations can be put in one sequence that (a) the sequential
//! [`Model`] accepts, outputs included, and (b) keeps every operation that returned before
//! another was invoked ahead of it.
//!
//! [`check`] splits the history by [`Model::partition`] (per key for [`KvModel`]), which is
//! sound because linearizability is compositional: a history is linearizable iff each key's
//! sub-history is. An operation on several keys (a Redis `MGET`, `MSET`, `DEL` or
//! transaction; [`Model::partitions`]) couples them, so the parts are really the connected
//! components of "named together by some operation", found by a union-find over the whole
//! history; with single-key operations only, that is one part per key. Each partition is decided by the Wing–Gong search with Lowe's memoization, as
//! in Porcupine: depth-first over "which operation takes effect next", pruning any
//! (set of linearized operations, model state) configuration already explored. Model states are
//! interned and the linearized set is a bitset with an O(1)-updated hash, so the hot loop
//! neither clones states nor rehashes sets.
//!
//! When a partition is not linearizable, its history is shrunk to a small sub-history that
//! still is not (1-minimal when the budget allows) and printed one operation per line.
//!
//! # Invariants and rules
//!
//! - Operations overlap unless one returns *strictly* before the other is invoked; equal
//!   timestamps count as concurrent.
//! - An operation that never returned (the client timed out or crashed) has return time
//!   +infinity: it may have taken effect at any point after its invocation, or not at all. A
//!   pending read constrains nothing and is dropped.
//! - All work is bounded by a step [`Budget`], never by wall-clock time, so a verdict is the
//!   same on every machine. Running out gives [`Outcome::Unknown`], which
//!   [`Outcome::assert_linearizable`] treats as a failure: a checker timeout is never a pass.
//!
//! # Limits
//!
//! The search is exponential in the worst case (the problem is NP-complete), and what drives
//! it is how many *writes* on one key overlap in time. Partitioning keeps this small for
//! multi-key workloads: 10,000 operations from 10 clients over 100 keys check in about 2 ms.
//! A single key hammered by 10 clients with long, fully overlapping intervals is the hard
//! case: 1,000 such operations take from 20 ms to beyond the default budget, which then
//! reports [`Outcome::Unknown`]. Tests should spread load over several keys or keep
//! per-key concurrency moderate. One such case is cheap: once no Put on a key is left to
//! place, the search prunes every order of appends that a later Get's value does not start
//! with ([`Model::may_grow_into`]), so concurrent appenders followed by reads (SPEC §6.3's
//! "Concurrent Append to same key") check in linear time.
//!
//! Multi-key operations make components larger: a workload whose `MGET`s pick random keys
//! soon couples every key into one component, which the search then faces whole, with the
//! writes on all its keys overlapping. Keep multi-key operations within small fixed groups of
//! keys (say, pairs) when histories are long. The Redis model leaves out
//! [`Model::may_grow_into`], so the linear-time case of concurrent appends does not carry
//! over to it.
//!
//! # Example
//!
//! ```
//! use check::{Budget, History, KvInput, KvOutput, Outcome, check_kv};
//!
//! let mut history = History::new();
//! let put = history.invoke(1, KvInput::put("k", "x"), 0);
//! history.complete(put, KvOutput::Ok, 10);
//! // Client 2 starts reading after the put returned, yet sees the old (empty) value.
//! let get = history.invoke(2, KvInput::get("k"), 20);
//! history.complete(get, KvOutput::value(""), 30);
//!
//! let outcome = check_kv(&history, Budget::default());
//! let Outcome::Illegal(violation) = &outcome else { panic!("stale read accepted") };
//! assert_eq!(violation.ops(), &[put, get]);
//! println!("{outcome}");
//! // not linearizable: key "k"; minimal offending sub-history, 2 of 2 ops on the key:
//! //   c1 [ 0, 10] Put("k","x") -> ok
//! //   c2 [20, 30] Get("k") -> ""
//! ```
//!
//! The Redis model records into a `History<RedisInput, RedisOutput>`; binary values are
//! `Vec<u8>`, nil is `None`:
//!
//! ```
//! use check::{Budget, History, Outcome, RedisInput, RedisOutput, check_redis};
//!
//! let mut history = History::<RedisInput, RedisOutput>::default();
//! history.record(1, RedisInput::mset([("a", "1"), ("b", "2")]), 0, RedisOutput::Ok, 10);
//! // A concurrent MGET sees half of the MSET: MSET is atomic, so this is not linearizable.
//! let seen = RedisOutput::Values(vec![Some(b"1".to_vec()), None]);
//! history.record(2, RedisInput::mget(["a", "b"]), 5, seen, 15);
//!
//! let Outcome::Illegal(violation) = check_redis(&history, Budget::default()) else {
//!     panic!("torn MSET accepted")
//! };
//! assert_eq!(violation.keys(), ["a", "b"], "MSET and MGET couple a and b");
//! ```

mod bitset;
mod check;
mod component;
mod hash;
mod history;
mod kv;
mod memo;
mod model;
mod outcome;
mod redis;
mod search;
mod shrink;

pub use check::{check, check_kv, check_redis};
pub use history::{History, HistoryError, OpId, Operation};
pub use kv::{KvInput, KvModel, KvOutput};
pub use model::{Model, Step};
pub use outcome::{Budget, Outcome, Violation};
pub use redis::{RedisError, RedisInput, RedisModel, RedisOutput, RedisState};
