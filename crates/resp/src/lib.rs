//! A sans-IO Redis RESP2/RESP3 codec: the "Redis front door" of the key/value service.
//!
//! Stock `redis-cli` and `redis-benchmark` speak RESP2 to us; redis-py 8 asks for RESP3 with
//! `HELLO 3` before anything else, and gets it. A client sends each command either
//! as an array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, what both tools send) or as an
//! inline line (`PING\r\n`, what `telnet` users and redis-benchmark's `PING_INLINE` send). Many
//! commands may share one buffer (pipelining). The server answers with [`Reply`] values.
//!
//! Layers, each usable on its own:
//! - [`parse_command`]: bytes in, `Option<(Command, consumed)>` out; `None` means "need more".
//!   No I/O, no clock, no allocation beyond the command itself.
//! - [`Command`]: the commands the front door understands, with case-insensitive names and
//!   binary-safe [`bytes::Bytes`] keys and values; [`Command::local_reply`] answers the ones
//!   that need no store (PING, the `CONFIG`/`COMMAND` probes, unknown commands, bad arity).
//! - [`ClientState`]: one connection's id, name, library and [`Protocol`], and the commands
//!   about the connection itself (`HELLO`, `CLIENT ...`, `RESET`).
//! - [`Reply`]: replies and their encoding in either protocol ([`Reply::encode_as`]).
//! - [`RespCodec`]: a tokio-util `Decoder<Item = Command>` / `Encoder<Reply>` for `Framed`,
//!   encoding in the protocol it was last set to.
//!
//! Invariants:
//! - The parser never panics and never reports more bytes consumed than it was given, whatever
//!   the input (property-tested).
//! - Every size a client controls is bounded before it is buffered: see [`MAX_ARRAY_LEN`],
//!   [`MAX_BULK_BYTES`], [`MAX_COMMAND_BYTES`], [`MAX_INLINE_BYTES`], [`MAX_HEADER_LINE_BYTES`].
//! - Any [`RespError`] leaves the stream position unknown, so the driver must close that one
//!   connection (optionally after writing [`RespError::to_reply`]); other connections are
//!   unaffected.
//!
//! Driver contract (for the server shell):
//! 1. Feed received bytes to [`RespCodec`] (or call [`parse_command`] and advance by
//!    `consumed`) until it returns `None`, then read more.
//! 2. Answer commands in the order they were parsed: RESP has no request ids, so pipelined
//!    replies are matched to commands by position only. Give each command to the
//!    connection's [`ClientState::answer`] first, then [`Command::local_reply`], then the store.
//! 3. Encode each reply in the protocol the state had right after answering that command
//!    (a `HELLO 3` reply is already RESP3); replies to earlier commands keep theirs.
//! 4. After `QUIT`'s reply, close the connection.
//! 5. On a decode error, send [`RespError::to_reply`] if you like, then close the connection.

//!
//! ```
//! use bytes::BytesMut;
//! use resp::{Command, Reply, parse_command};
//!
//! let pipeline = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n";
//! let (get, used) = parse_command(pipeline)?.expect("a whole command");
//! assert_eq!(get, Command::get("k"));
//! let (ping, _) = parse_command(&pipeline[used..])?.expect("a whole command");
//! let mut out = BytesMut::new();
//! ping.local_reply().unwrap_or(Reply::Null).encode(&mut out);
//! assert_eq!(&out[..], b"+PONG\r\n");
//! assert!(parse_command(b"*2\r\n$3\r\nGE")?.is_none()); // need more bytes
//! # Ok::<(), resp::RespError>(())
//! ```

mod client;
mod codec;
mod command;
mod error;
mod parse;
mod reply;
mod table;

pub use client::{ClientState, REDIS_VERSION, SERVER_NAME};
pub use codec::RespCodec;
pub use command::{ClientCommand, Command, Hello, LibAttr, info_wants};
pub use error::RespError;
pub use parse::{
    ELEMENT_COST_BYTES, MAX_ARRAY_LEN, MAX_BULK_BYTES, MAX_COMMAND_BYTES, MAX_HEADER_LINE_BYTES,
    MAX_INLINE_BYTES, encode_request, parse_command,
};
pub use reply::{Protocol, Reply};
