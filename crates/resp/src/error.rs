//! Protocol errors: why a client's byte stream was rejected.

use crate::reply::Reply;

/// A client sent bytes that are not a valid (or not an acceptable) RESP2 command.
///
/// After most of these the position in the stream is unknown, so the connection must be closed;
/// [`RespError::to_reply`] gives the `-ERR Protocol error` line Redis would send first. The
/// three size bounds of arrays ([`RespError::is_oversized`]) are the exception: the command is
/// well formed, so [`crate::RespCodec`] answers it with [`crate::Command::TooLarge`], skips it
/// and keeps the connection; only [`crate::parse_command`], which cannot skip, returns them.
#[derive(Debug, thiserror::Error)]
pub enum RespError {
    /// An array header announced more elements than [`crate::MAX_ARRAY_LEN`].
    #[error(
        "command of {len} arguments is larger than the limit of {max} arguments",
        max = crate::MAX_ARRAY_LEN
    )]
    ArrayTooLong {
        /// The announced element count.
        len: u64,
    },
    /// A bulk header announced more bytes than [`crate::MAX_BULK_BYTES`].
    #[error(
        "value of {len} bytes is larger than the limit of {max} bytes",
        max = crate::MAX_BULK_BYTES
    )]
    BulkTooLong {
        /// The announced byte count.
        len: u64,
    },
    /// One command's wire bytes plus [`crate::ELEMENT_COST_BYTES`] per argument add up to more
    /// than [`crate::MAX_COMMAND_BYTES`].
    #[error(
        "command of at least {len} bytes is larger than the limit of {max} bytes \
         (counting {cost} bytes per argument)",
        max = crate::MAX_COMMAND_BYTES,
        cost = crate::ELEMENT_COST_BYTES
    )]
    CommandTooLong {
        /// The cost announced so far, as counted against the limit.
        len: u64,
    },
    /// An inline command line has no newline within [`crate::MAX_INLINE_BYTES`].
    #[error("too big inline request (max {max} bytes)", max = crate::MAX_INLINE_BYTES)]
    InlineTooLong,
    /// An `*` or `$` header line has no CRLF within [`crate::MAX_HEADER_LINE_BYTES`].
    #[error("header line too long (max {max} bytes)", max = crate::MAX_HEADER_LINE_BYTES)]
    HeaderTooLong,
    /// A length is not a decimal number (empty, non-digit, sign, overflow).
    #[error("invalid length {text:?}")]
    BadLength {
        /// The offending header text, lossily decoded.
        text: String,
    },
    /// A negative length other than `-1`, or `-1` where a value is required.
    #[error("negative length {len} not allowed here")]
    NegativeLength {
        /// The parsed length (`-1` for a null bulk string used as a command argument).
        len: i64,
    },
    /// An array element is not a bulk string: clients send commands as arrays of bulk strings
    /// only, so nested arrays, integers and simple strings are rejected.
    #[error("expected '$', got {found:?}")]
    ExpectedBulk {
        /// The type byte found instead, as a char.
        found: char,
    },
    /// A line or bulk string is not terminated by `\r\n`.
    #[error("missing CRLF")]
    MissingCrlf,
    /// The peer closed the connection in the middle of a command.
    #[error("connection closed with {buffered} bytes of an incomplete command")]
    Truncated {
        /// Bytes left in the buffer.
        buffered: usize,
    },
    /// Reading from or writing to the socket failed (required by tokio-util's codec traits).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl RespError {
    /// The error line Redis sends before closing a connection on a protocol error.
    pub fn to_reply(&self) -> Reply {
        Reply::error(self.reply_text())
    }

    /// The error reply's text, code first: `ERR Protocol error: ...`.
    pub fn reply_text(&self) -> String {
        format!("ERR Protocol error: {self}")
    }

    /// True for the size bounds of a well-formed array command, which a streaming reader can
    /// answer and skip without losing its place in the stream.
    pub fn is_oversized(&self) -> bool {
        matches!(
            self,
            RespError::ArrayTooLong { .. }
                | RespError::BulkTooLong { .. }
                | RespError::CommandTooLong { .. }
        )
    }
}
