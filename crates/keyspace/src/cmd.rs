//! The replicated commands: what the log carries. One [`Batch`] is one client request, applied
//! in one piece: a connection's pipeline, or a MULTI/EXEC transaction inside it.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The commands of one request, with the time the front door stamped on it.
///
/// `now_ms` is wall-clock milliseconds since the Unix epoch at the replica that received the
/// request. The store never reads a clock: its time is the largest stamp applied so far
/// ([`crate::Keyspace::clock_ms`]), so every replica expires the same keys at the same log
/// position (docs/DESIGN.md, "Expiry").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The stamping replica's clock, in ms since the Unix epoch (0: no time, as the lab's
    /// clerks send).
    pub now_ms: u64,
    /// The commands, applied in this order, each answering one [`crate::Value`].
    pub cmds: Vec<Cmd>,
}

/// Which existing state a SET requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    /// Always set.
    Always,
    /// `NX`: only if the key is missing.
    IfMissing,
    /// `XX`: only if the key exists.
    IfExists,
}

/// What a SET does to the key's time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetExpiry {
    /// No option: the key no longer expires.
    Clear,
    /// `KEEPTTL`: keep whatever it had.
    Keep,
    /// `EX`/`PX`: expire this many ms after the store's clock when applied (positive).
    AfterMs(u64),
    /// `EXAT`/`PXAT`: expire at this Unix time in ms (positive).
    AtMs(u64),
}

/// Which existing expiry an EXPIRE requires (Redis 7's options).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireCondition {
    /// No option.
    Always,
    /// `NX`: only if the key has no expiry.
    IfNone,
    /// `XX`: only if it has one.
    IfSome,
    /// `GT`: only if the new time is later (no expiry counts as infinitely late).
    IfLater,
    /// `LT`: only if the new time is earlier.
    IfEarlier,
}

/// The unit TTL answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TtlUnit {
    /// `TTL`.
    Seconds,
    /// `PTTL`.
    Millis,
}

/// One command on the store, as the log carries it. Arguments are already checked
/// ([`crate::parse`]); what depends on the stored data (an integer that is not one, a size
/// past the limit) is found when it is applied, and answers an error that changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// `GET key`.
    Get {
        /// The key.
        key: Bytes,
    },
    /// `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT n|KEEPTTL]`, also `GETSET`, `SETEX`,
    /// `PSETEX`.
    Set {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
        /// NX / XX.
        condition: Condition,
        /// GET: answer the old value (or nil) instead of OK.
        get: bool,
        /// What happens to the time to live.
        expiry: SetExpiry,
    },
    /// `SETNX key value`: 1 if set, 0 if the key existed.
    SetNx {
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
    },
    /// `GETDEL key`.
    GetDel {
        /// The key.
        key: Bytes,
    },
    /// `DEL key ...`: how many existed.
    Del {
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// `EXISTS key ...`: how many exist (a key named twice counts twice, as in Redis).
    Exists {
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// `MGET key ...`.
    MGet {
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// `MSET key value ...`: all at once.
    MSet {
        /// The pairs, in order (a later pair for the same key wins).
        pairs: Vec<(Bytes, Bytes)>,
    },
    /// `MSETNX key value ...`: all, only if none exists; 1 or 0.
    MSetNx {
        /// The pairs.
        pairs: Vec<(Bytes, Bytes)>,
    },
    /// `INCR`, `DECR`, `INCRBY`, `DECRBY`: the new value.
    IncrBy {
        /// The key (a missing key counts as 0).
        key: Bytes,
        /// What to add.
        by: i64,
    },
    /// `STRLEN key`.
    StrLen {
        /// The key.
        key: Bytes,
    },
    /// `GETRANGE key start end` (inclusive, negative from the end).
    GetRange {
        /// The key.
        key: Bytes,
        /// First byte.
        start: i64,
        /// Last byte.
        end: i64,
    },
    /// `SETRANGE key offset value`: the new length.
    SetRange {
        /// The key.
        key: Bytes,
        /// Where the value goes (the gap, if any, is zero bytes).
        offset: u64,
        /// The bytes to write.
        value: Bytes,
    },
    /// `APPEND key value`: the new length.
    Append {
        /// The key (created if missing).
        key: Bytes,
        /// The bytes to append.
        value: Bytes,
    },
    /// `DBSIZE`.
    DbSize,
    /// `TYPE key`: `string` or `none`.
    Type {
        /// The key.
        key: Bytes,
    },
    /// `KEYS pattern`.
    Keys {
        /// A Redis glob pattern.
        pattern: Bytes,
    },
    /// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE t]`.
    Scan {
        /// Where to resume (0: from the start).
        cursor: u64,
        /// Only keys matching this glob.
        pattern: Option<Bytes>,
        /// About how many keys to look at.
        count: u64,
        /// `TYPE string` (everything) or another type (nothing), if given.
        only_strings: Option<bool>,
    },
    /// `EXPIRE`/`PEXPIRE key n [NX|XX|GT|LT]`: expire `ms` after the clock; 1 if set.
    Expire {
        /// The key.
        key: Bytes,
        /// Milliseconds from now; zero or negative deletes the key.
        ms: i64,
        /// NX / XX / GT / LT.
        condition: ExpireCondition,
    },
    /// `EXPIREAT`/`PEXPIREAT key t [NX|XX|GT|LT]`: expire at Unix time `at_ms`; 1 if set.
    ExpireAt {
        /// The key.
        key: Bytes,
        /// Unix time in ms; at or before the clock deletes the key.
        at_ms: i64,
        /// NX / XX / GT / LT.
        condition: ExpireCondition,
    },
    /// `TTL`/`PTTL key`: -2 if missing, -1 if it never expires.
    Ttl {
        /// The key.
        key: Bytes,
        /// Seconds or milliseconds.
        unit: TtlUnit,
    },
    /// `PERSIST key`: 1 if an expiry was removed.
    Persist {
        /// The key.
        key: Bytes,
    },
    /// `FLUSHDB` / `FLUSHALL` (there is one database).
    FlushDb,
    /// What `WATCH key ...` reads through the log: each key's version, for [`Cmd::Exec`] to
    /// compare. Answers an array of integers, one per key.
    Versions {
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// A MULTI ... EXEC transaction: if every watched key still has the version WATCH read,
    /// the commands run at once, in order, answering an array of their answers; otherwise
    /// nothing runs and the answer is nil, as in Redis.
    Exec {
        /// `(key, version)` pairs from [`Cmd::Versions`].
        watched: Vec<(Bytes, u64)>,
        /// The queued commands (never an `Exec` or `Versions`).
        cmds: Vec<Cmd>,
    },
}

impl Cmd {
    /// The keys the command names, in order (for routing and per-key checks).
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            Cmd::Get { key }
            | Cmd::Set { key, .. }
            | Cmd::SetNx { key, .. }
            | Cmd::GetDel { key }
            | Cmd::IncrBy { key, .. }
            | Cmd::StrLen { key }
            | Cmd::GetRange { key, .. }
            | Cmd::SetRange { key, .. }
            | Cmd::Append { key, .. }
            | Cmd::Type { key }
            | Cmd::Expire { key, .. }
            | Cmd::ExpireAt { key, .. }
            | Cmd::Ttl { key, .. }
            | Cmd::Persist { key } => vec![key],
            Cmd::Del { keys } | Cmd::Exists { keys } | Cmd::MGet { keys } => keys.iter().collect(),
            Cmd::Versions { keys } => keys.iter().collect(),
            Cmd::MSet { pairs } | Cmd::MSetNx { pairs } => pairs.iter().map(|(k, _)| k).collect(),
            Cmd::Exec { watched, cmds } => watched
                .iter()
                .map(|(k, _)| k)
                .chain(cmds.iter().flat_map(Cmd::keys))
                .collect(),
            Cmd::DbSize | Cmd::Keys { .. } | Cmd::Scan { .. } | Cmd::FlushDb => Vec::new(),
        }
    }

    /// The bytes of keys and values the command carries: what log entry bounds count.
    pub fn payload_bytes(&self) -> usize {
        const ARG_OVERHEAD_BYTES: usize = 8;
        let pair = |(k, v): &(Bytes, Bytes)| k.len() + v.len() + 2 * ARG_OVERHEAD_BYTES;
        ARG_OVERHEAD_BYTES
            + match self {
                Cmd::Set { key, value, .. }
                | Cmd::SetNx { key, value }
                | Cmd::SetRange { key, value, .. }
                | Cmd::Append { key, value } => key.len() + value.len(),
                Cmd::MSet { pairs } | Cmd::MSetNx { pairs } => pairs.iter().map(pair).sum(),
                Cmd::Keys { pattern } => pattern.len(),
                Cmd::Scan { pattern, .. } => pattern.as_ref().map_or(0, Bytes::len),
                Cmd::Exec { watched, cmds } => {
                    watched.iter().map(|(k, _)| k.len() + 16).sum::<usize>()
                        + cmds.iter().map(Cmd::payload_bytes).sum::<usize>()
                }
                other => other
                    .keys()
                    .iter()
                    .map(|k| k.len() + ARG_OVERHEAD_BYTES)
                    .sum(),
            }
    }

    /// True if the command may change the store (what a read-only replica would refuse).
    pub fn is_write(&self) -> bool {
        match self {
            Cmd::Get { .. }
            | Cmd::Exists { .. }
            | Cmd::MGet { .. }
            | Cmd::StrLen { .. }
            | Cmd::GetRange { .. }
            | Cmd::DbSize
            | Cmd::Type { .. }
            | Cmd::Keys { .. }
            | Cmd::Scan { .. }
            | Cmd::Ttl { .. }
            | Cmd::Versions { .. } => false,
            Cmd::Exec { cmds, .. } => cmds.iter().any(Cmd::is_write),
            _ => true,
        }
    }
}
