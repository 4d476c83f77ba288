//! Replies and their encoding in RESP2 or RESP3, as the connection chose with `HELLO`.

use crate::parse::put_header;
use bytes::{BufMut, Bytes, BytesMut};

/// The longest command name quoted back in an error reply, in bytes.
///
/// Why: the name comes from the client and may be up to a whole bulk string long; echoing
/// megabytes back in an error line helps nobody. Redis truncates similarly (at 128).
const MAX_QUOTED_NAME_BYTES: usize = 128;

/// The protocol a connection speaks: RESP2 until the client sends `HELLO 3`.
///
/// Only replies differ: clients send commands the same way in both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// RESP2, every connection's protocol at start (and after `HELLO 2` or `RESET`).
    #[default]
    Resp2,
    /// RESP3: maps and a null of their own (`%`, `_`), asked for with `HELLO 3`.
    Resp3,
}

impl Protocol {
    /// The protocol's number as `HELLO` takes and reports it.
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// A reply from server to client, independent of the protocol it is encoded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+<text>\r\n`, e.g. `+OK`. CR and LF in the text are sent as spaces.
    Simple(String),
    /// `-<text>\r\n`, e.g. `-ERR unknown command 'FOO'`. CR and LF are sent as spaces.
    Error(String),
    /// `:<n>\r\n`, e.g. APPEND's new length.
    Integer(i64),
    /// `$<len>\r\n<bytes>\r\n`: binary-safe.
    Bulk(Bytes),
    /// The null: `$-1\r\n` in RESP2 (the null bulk string), `_\r\n` in RESP3.
    Null,
    /// `*<n>\r\n` followed by the elements.
    Array(Vec<Reply>),
    /// Key/value pairs: `%<n>\r\n` then key, value, ... in RESP3; in RESP2 the flat array
    /// `*<2n>\r\n` key, value, ..., as Redis sends `HELLO` and `CONFIG GET` replies.
    Map(Vec<(Reply, Reply)>),
}

/// A store answer as the reply Redis sends for it.
impl From<keyspace::Value> for Reply {
    fn from(value: keyspace::Value) -> Reply {
        use keyspace::Value;
        match value {
            Value::Ok => Reply::ok(),
            Value::Status(text) => Reply::Simple(text),
            Value::Nil => Reply::Null,
            Value::Int(n) => Reply::Integer(n),
            Value::Bulk(bytes) => Reply::Bulk(bytes),
            Value::Array(items) => Reply::Array(items.into_iter().map(Reply::from).collect()),
            Value::Error(text) => Reply::Error(text),
        }
    }
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".to_owned())
    }

    /// `+PONG`.
    pub fn pong() -> Reply {
        Reply::Simple("PONG".to_owned())
    }

    /// `*0`: the answer to `CONFIG GET` and `COMMAND` probes.
    pub fn empty_array() -> Reply {
        Reply::Array(Vec::new())
    }

    /// An error reply; by convention `message` starts with a code such as `ERR`.
    pub fn error(message: impl Into<String>) -> Reply {
        Reply::Error(message.into())
    }

    /// `-ERR unknown command '<name>'`.
    pub fn unknown_command(name: &[u8]) -> Reply {
        Reply::error(format!("ERR unknown command '{}'", quote(name)))
    }

    /// `-ERR wrong number of arguments for '<name>' command`, the name in lower case as Redis.
    pub fn wrong_arity(name: &[u8]) -> Reply {
        let name = quote(name).to_lowercase();
        Reply::error(format!(
            "ERR wrong number of arguments for '{name}' command"
        ))
    }

    /// A bulk string copied from text.
    pub fn bulk(text: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
    }

    /// Appends the reply's RESP2 encoding to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        self.encode_as(Protocol::Resp2, dst);
    }

    /// Appends the reply's encoding in `protocol` to `dst`.
    pub fn encode_as(&self, protocol: Protocol, dst: &mut BytesMut) {
        match self {
            Reply::Simple(text) => put_line(dst, b'+', text),
            Reply::Error(text) => put_line(dst, b'-', text),
            Reply::Integer(n) => {
                dst.put_u8(b':');
                dst.put_slice(n.to_string().as_bytes());
                dst.put_slice(b"\r\n");
            }
            Reply::Bulk(bytes) => {
                put_header(dst, b'$', bytes.len() as u64);
                dst.put_slice(bytes);
                dst.put_slice(b"\r\n");
            }
            Reply::Null => match protocol {
                Protocol::Resp2 => dst.put_slice(b"$-1\r\n"),
                Protocol::Resp3 => dst.put_slice(b"_\r\n"),
            },
            Reply::Array(items) => {
                put_header(dst, b'*', items.len() as u64);
                for item in items {
                    item.encode_as(protocol, dst);
                }
            }
            Reply::Map(pairs) => {
                match protocol {
                    Protocol::Resp2 => put_header(dst, b'*', 2 * pairs.len() as u64),
                    Protocol::Resp3 => put_header(dst, b'%', pairs.len() as u64),
                }
                for (key, value) in pairs {
                    key.encode_as(protocol, dst);
                    value.encode_as(protocol, dst);
                }
            }
        }
    }
}

/// A client-supplied name made safe to quote: bounded, lossily UTF-8.
fn quote(name: &[u8]) -> String {
    let name = &name[..name.len().min(MAX_QUOTED_NAME_BYTES)];
    String::from_utf8_lossy(name).into_owned()
}

/// Writes a one-line reply; CR and LF would end the line early, so they become spaces.
fn put_line(dst: &mut BytesMut, kind: u8, text: &str) {
    dst.put_u8(kind);
    dst.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    dst.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(reply: &Reply) -> Vec<u8> {
        let mut dst = BytesMut::new();
        reply.encode(&mut dst);
        dst.to_vec()
    }

    /// Every reply type encodes to the bytes Redis sends.
    #[test]
    fn every_reply_type_encodes_as_redis() {
        let cases: [(Reply, &[u8]); 10] = [
            (Reply::ok(), b"+OK\r\n"),
            (Reply::pong(), b"+PONG\r\n"),
            (
                Reply::unknown_command(b"FOO"),
                b"-ERR unknown command 'FOO'\r\n",
            ),
            (
                Reply::wrong_arity(b"GET"),
                b"-ERR wrong number of arguments for 'get' command\r\n",
            ),
            (Reply::Integer(42), b":42\r\n"),
            (Reply::Integer(-7), b":-7\r\n"),
            (
                Reply::Bulk(Bytes::from_static(b"a\r\n\0b")),
                b"$5\r\na\r\n\0b\r\n",
            ),
            (Reply::Null, b"$-1\r\n"),
            (Reply::empty_array(), b"*0\r\n"),
            (
                Reply::Array(vec![
                    Reply::Bulk("x".into()),
                    Reply::Null,
                    Reply::Integer(1),
                ]),
                b"*3\r\n$1\r\nx\r\n$-1\r\n:1\r\n",
            ),
        ];
        for (reply, want) in cases {
            assert_eq!(encoded(&reply), want, "{reply:?}");
        }
    }

    /// RESP3 has a null and maps of its own; RESP2 sends a map as the flat array Redis sends,
    /// and every other type the same in both.
    #[test]
    fn resp3_differs_only_in_null_and_map() {
        let map = Reply::Map(vec![
            (Reply::bulk("proto"), Reply::Integer(3)),
            (Reply::bulk("modules"), Reply::empty_array()),
        ]);
        let nested = Reply::Array(vec![Reply::Null, map.clone()]);
        let resp3 = |reply: &Reply| {
            let mut dst = BytesMut::new();
            reply.encode_as(Protocol::Resp3, &mut dst);
            dst.to_vec()
        };
        assert_eq!(resp3(&Reply::Null), b"_\r\n");
        assert_eq!(
            resp3(&map),
            b"%2\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*0\r\n"
        );
        assert_eq!(
            encoded(&map),
            b"*4\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*0\r\n"
        );
        assert_eq!(resp3(&nested), [&b"*2\r\n_\r\n"[..], &resp3(&map)].concat());
        assert_eq!(
            encoded(&nested),
            [&b"*2\r\n$-1\r\n"[..], &encoded(&map)].concat()
        );
        assert_eq!(encoded(&Reply::Map(Vec::new())), b"*0\r\n");
        assert_eq!(resp3(&Reply::Map(Vec::new())), b"%0\r\n");
        for same in [
            Reply::ok(),
            Reply::Integer(-1),
            Reply::bulk("x"),
            Reply::error("ERR x"),
        ] {
            assert_eq!(resp3(&same), encoded(&same), "{same:?}");
        }
    }

    /// A hostile command name cannot inject a second reply line, nor be echoed unbounded.
    #[test]
    fn error_lines_cannot_be_split_or_grow_unbounded() {
        assert_eq!(
            encoded(&Reply::unknown_command(b"A\r\n+OK")),
            b"-ERR unknown command 'A  +OK'\r\n"
        );
        let long = vec![b'x'; 10_000];
        let bytes = encoded(&Reply::unknown_command(&long));
        assert!(bytes.len() < 200, "{}", bytes.len());
        assert_eq!(encoded(&Reply::Simple("a\nb".into())), b"+a b\r\n");
    }
}
