//! RESP2 replies and their encoding.

use crate::parse::put_header;
use bytes::{BufMut, Bytes, BytesMut};

/// The longest command name quoted back in an error reply, in bytes.
///
/// Why: the name comes from the client and may be up to a whole bulk string long; echoing
/// megabytes back in an error line helps nobody. Redis truncates similarly (at 128).
const MAX_QUOTED_NAME_BYTES: usize = 128;

/// A RESP2 reply from server to client.
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
    /// `$-1\r\n`: the null bulk string (GET of a missing key).
    Null,
    /// `*<n>\r\n` followed by the elements.
    Array(Vec<Reply>),
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

    /// Appends the reply's RESP2 encoding to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
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
            Reply::Null => dst.put_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                put_header(dst, b'*', items.len() as u64);
                for item in items {
                    item.encode(dst);
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
