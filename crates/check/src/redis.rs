//! Redis string commands as a [`Model`]: `GET`, `SET`, `SETNX`, `DEL`, `INCRBY`, `APPEND`,
//! `MSET`, `MGET`, and `MULTI`/`EXEC` transactions (without `WATCH`).
//!
//! Keys are strings and values binary-safe bytes. The sequential semantics live in
//! [`semantics`]; this file holds the request and reply types and the [`Model`] glue. Multi-key
//! commands couple their keys, so [`Model::partitions`] lists every key a command touches and
//! the checker checks each connected component of keys as one sub-history, whose state is the
//! map of its keys.

mod semantics;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use thiserror::Error;

use crate::model::{Model, Step};

/// A Redis request, as the client sent it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RedisInput {
    /// `GET key`: the value, or nil if the key is missing.
    Get {
        /// The key to read.
        key: String,
    },
    /// `SET key value`: overwrite, replying ok.
    Set {
        /// The key to write.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// `SETNX key value`: set only if the key is missing; replies whether it set.
    SetNx {
        /// The key to create.
        key: String,
        /// The value it gets if it was missing.
        value: Vec<u8>,
    },
    /// `DEL key...`: delete, replying how many of the keys existed. A key named twice counts
    /// once, since the second deletion finds it gone.
    Del {
        /// The keys to delete.
        keys: Vec<String>,
    },
    /// `INCRBY key by` (and `INCR`, `DECR`, `DECRBY`): add to a decimal integer value, a
    /// missing key counting as 0, replying the new value. Fails, changing nothing, if the value
    /// is not the canonical decimal form of an `i64` or the sum overflows.
    IncrBy {
        /// The key to increment.
        key: String,
        /// The amount, negative to decrement.
        by: i64,
    },
    /// `APPEND key value`: extend the value (a missing key as if empty), replying the new
    /// length in bytes.
    Append {
        /// The key to append to.
        key: String,
        /// The suffix.
        value: Vec<u8>,
    },
    /// `MSET key value...`: set every pair at once (atomically; a key named twice takes its
    /// last value), replying ok.
    MSet {
        /// The pairs, in command order.
        pairs: Vec<(String, Vec<u8>)>,
    },
    /// `MGET key...`: the values, nil for missing keys, read at one instant.
    MGet {
        /// The keys to read.
        keys: Vec<String>,
    },
    /// `MULTI`, the commands, `EXEC` (no `WATCH`): the commands run in order with nothing in
    /// between. A command that fails (an `INCRBY` of a non-integer) replies its error and the
    /// rest still run, as Redis does. A nested `Txn` runs inline; Redis refuses nested
    /// `MULTI`, so a recorder never produces one.
    Txn(Vec<RedisInput>),
}

impl RedisInput {
    /// `GET key`.
    pub fn get(key: impl Into<String>) -> Self {
        Self::Get { key: key.into() }
    }

    /// `SET key value`.
    pub fn set(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self::Set {
            key: key.into(),
            value: value.into(),
        }
    }

    /// `SETNX key value`.
    pub fn set_nx(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self::SetNx {
            key: key.into(),
            value: value.into(),
        }
    }

    /// `DEL keys...`.
    pub fn del<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> Self {
        Self::Del {
            keys: keys.into_iter().map(Into::into).collect(),
        }
    }

    /// `INCRBY key by`.
    pub fn incr_by(key: impl Into<String>, by: i64) -> Self {
        Self::IncrBy {
            key: key.into(),
            by,
        }
    }

    /// `APPEND key value`.
    pub fn append(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    /// `MSET key value...`.
    pub fn mset<K: Into<String>, V: Into<Vec<u8>>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self::MSet {
            pairs: pairs
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
        }
    }

    /// `MGET keys...`.
    pub fn mget<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> Self {
        Self::MGet {
            keys: keys.into_iter().map(Into::into).collect(),
        }
    }

    /// Every key the request touches, in command order, duplicates included.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys = Vec::new();
        self.collect_keys(&mut keys);
        keys
    }

    fn collect_keys<'a>(&'a self, keys: &mut Vec<&'a str>) {
        match self {
            Self::Get { key }
            | Self::Set { key, .. }
            | Self::SetNx { key, .. }
            | Self::IncrBy { key, .. }
            | Self::Append { key, .. } => keys.push(key),
            Self::Del { keys: named } | Self::MGet { keys: named } => {
                keys.extend(named.iter().map(String::as_str));
            }
            Self::MSet { pairs } => keys.extend(pairs.iter().map(|(key, _)| key.as_str())),
            Self::Txn(commands) => commands.iter().for_each(|cmd| cmd.collect_keys(keys)),
        }
    }

    /// Whether the request never changes the store: reads, and transactions of reads only.
    pub fn is_read_only(&self) -> bool {
        match self {
            Self::Get { .. } | Self::MGet { .. } => true,
            Self::Txn(commands) => commands.iter().all(Self::is_read_only),
            _ => false,
        }
    }
}

/// Why an `INCRBY` failed. It changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum RedisError {
    /// The stored value is not the canonical decimal form of an `i64`.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// The sum does not fit in an `i64`.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
}

/// A Redis reply, shaped like RESP's reply types.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RedisOutput {
    /// `SET` and `MSET` succeeded.
    Ok,
    /// What a `GET` read: the value, or `None` for nil (a missing key).
    Value(Option<Vec<u8>>),
    /// Whether a `SETNX` set the key.
    Bool(bool),
    /// An integer reply: the keys a `DEL` removed, an `APPEND`'s new length, an `INCRBY`'s new
    /// value.
    Int(i64),
    /// An `INCRBY` failed.
    Error(RedisError),
    /// What an `MGET` read, one entry per key named.
    Values(Vec<Option<Vec<u8>>>),
    /// A transaction's replies, one per command.
    Txn(Vec<RedisOutput>),
}

impl RedisOutput {
    /// `Value(Some(value))`: a `GET` of a present key.
    pub fn value(value: impl Into<Vec<u8>>) -> Self {
        Self::Value(Some(value.into()))
    }

    /// `Value(None)`: a `GET` of a missing key.
    pub fn nil() -> Self {
        Self::Value(None)
    }
}

/// The state of one component: each present key's value. Missing keys are absent, so the
/// initial state is the empty map. A `BTreeMap` so that equal stores hash equally.
pub type RedisState = BTreeMap<String, Vec<u8>>;

/// The sequential Redis string store. Partitions by key, merging the keys that one command
/// touches together ([`Model::partitions`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct RedisModel;

impl Model for RedisModel {
    type State = RedisState;
    type Input = RedisInput;
    type Output = RedisOutput;

    fn init(&self) -> RedisState {
        RedisState::new()
    }

    fn step(
        &self,
        state: &RedisState,
        input: &RedisInput,
        output: Option<&RedisOutput>,
    ) -> Step<RedisState> {
        if input.is_read_only() {
            // Reads skip the clone: the search calls this in its hot loop.
            let read = semantics::read(state, input);
            return match output {
                Some(seen) if *seen != read => Step::Illegal,
                _ => Step::Unchanged,
            };
        }
        let mut next = state.clone();
        let reply = semantics::apply(&mut next, input);
        match output {
            Some(seen) if *seen != reply => Step::Illegal,
            _ => Step::Next(next),
        }
    }

    /// The first key the request touches; the checker uses [`Model::partitions`], which lists
    /// them all.
    fn partition(&self, input: &RedisInput) -> String {
        input
            .keys()
            .first()
            .map_or_else(String::new, |&key| key.to_owned())
    }

    /// Every key the request touches, deduplicated. A request naming none (an empty `MGET` or
    /// transaction) reads and writes no state, so it may go in any component; it goes in key
    /// `""`'s.
    fn partitions(&self, input: &RedisInput) -> Vec<String> {
        let mut keys = input.keys();
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() {
            return vec![String::new()];
        }
        keys.into_iter().map(str::to_owned).collect()
    }

    fn is_read_only(&self, input: &RedisInput) -> bool {
        input.is_read_only()
    }

    fn describe(&self, input: &RedisInput, output: Option<&RedisOutput>) -> String {
        let call = semantics::describe_input(input);
        match output {
            None => format!("{call} -> (no reply)"),
            Some(output) => format!("{call} -> {}", semantics::describe_output(output)),
        }
    }
}
