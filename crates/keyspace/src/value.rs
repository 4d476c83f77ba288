//! What a command answers: Redis's reply types, as data the log's sessions can keep.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A command's answer. The front door encodes it as RESP (`resp::Reply`); a session keeps it
/// so that a retried command gets the same answer, so it is plain serialisable data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// `+OK`.
    Ok,
    /// A simple string such as `string` or `none` (TYPE's answers).
    Status(String),
    /// The null: a missing key, an unmet SET condition, an aborted transaction.
    Nil,
    /// An integer.
    Int(i64),
    /// A binary-safe string.
    Bulk(Bytes),
    /// An array (MGET, KEYS, SCAN, EXEC).
    Array(Vec<Value>),
    /// An error whose text starts with its code, as Redis writes it (`ERR ...`,
    /// `EXECABORT ...`). The command changed nothing.
    Error(String),
}

impl Value {
    /// An error answer.
    pub fn error(text: impl Into<String>) -> Value {
        Value::Error(text.into())
    }

    /// The bulk string or the null for an optional value.
    pub fn bulk_or_nil(value: Option<&Bytes>) -> Value {
        value.map_or(Value::Nil, |v| Value::Bulk(v.clone()))
    }

    /// True for an error answer.
    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }

    /// About how many bytes the answer takes encoded: what reply bounds and memory
    /// accounting count.
    pub fn encoded_bytes(&self) -> usize {
        const HEADER_BYTES: usize = 16;
        HEADER_BYTES
            + match self {
                Value::Ok | Value::Nil | Value::Int(_) => 0,
                Value::Status(text) | Value::Error(text) => text.len(),
                Value::Bulk(bytes) => bytes.len(),
                Value::Array(items) => items.iter().map(Value::encoded_bytes).sum(),
            }
    }
}
