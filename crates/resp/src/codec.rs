//! A tokio-util codec: [`Command`]s in, [`Reply`]s out, for `Framed` connections.

mod discard;

use crate::command::Command;
use crate::error::RespError;
use crate::parse::{Parsed, parse_frame};
use crate::reply::{Protocol, Reply};
use bytes::{Buf, BytesMut};
use discard::Discard;
use tokio_util::codec::{Decoder, Encoder};

/// Decodes client commands and encodes replies, without copying argument bytes.
///
/// A well-formed command that breaks a size bound ([`crate::MAX_ARRAY_LEN`],
/// [`crate::MAX_BULK_BYTES`], [`crate::MAX_COMMAND_BYTES`]) is decoded as
/// [`Command::TooLarge`] as soon as its offending header arrives; the codec then drops the rest
/// of that command as it streams in (bulk bodies by their declared length, element headers
/// parsed) and carries on with the next one. So a client writing a 20 MB SET can finish
/// writing and read the error, and its connection stays usable; the buffer never holds more
/// than the command's bounded prefix.
///
/// After any decode error the stream is unusable and the connection must be closed;
/// [`RespError::to_reply`] is the line to send first.
#[derive(Debug, Default, Clone, Copy)]
pub struct RespCodec {
    /// The protocol replies are encoded in; decoding is the same in both.
    protocol: Protocol,
    /// The oversized command being skipped, if any.
    discard: Option<Discard>,
}

impl RespCodec {
    /// A new codec speaking RESP2; the only state it keeps between frames is its place in an
    /// oversized command it is skipping.
    pub fn new() -> Self {
        RespCodec::default()
    }

    /// Encodes the replies from now on in `protocol` (after `HELLO 3`, say).
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
    }

    /// The protocol replies are encoded in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
}

impl Decoder for RespCodec {
    type Item = Command;
    type Error = RespError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Command>, RespError> {
        loop {
            if let Some(discard) = &mut self.discard {
                if !discard.skip(src).inspect_err(log_protocol_error(src))? {
                    return Ok(None);
                }
                self.discard = None;
            }
            let frame = match parse_frame(src).inspect_err(log_protocol_error(src))? {
                Some(Parsed::Frame(frame)) => frame,
                Some(Parsed::Oversized(oversized)) => {
                    tracing::debug!(error = %oversized.error, "RESP command too large; skipping it");
                    src.advance(oversized.consumed);
                    self.discard = Some(Discard::after(&oversized));
                    let error = oversized.error.reply_text();
                    return Ok(Some(Command::TooLarge { error }));
                }
                None => return Ok(None),
            };
            if frame.args.is_empty() {
                // Blank lines, `*0` and `*-1` carry no command; Redis skips them.
                src.advance(frame.consumed);
                continue;
            }
            let bytes = src.split_to(frame.consumed).freeze();
            let args = frame.args.into_iter().map(|r| bytes.slice(r)).collect();
            return Ok(Command::from_args(args));
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Command>, RespError> {
        match self.decode(src)? {
            Some(command) => Ok(Some(command)),
            None if src.is_empty() && self.discard.is_none() => Ok(None),
            None => Err(RespError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

/// Logs a protocol error with how much was buffered, before the driver closes the connection.
fn log_protocol_error(src: &BytesMut) -> impl Fn(&RespError) + '_ {
    move |e| tracing::debug!(error = %e, buffered = src.len(), "RESP protocol error")
}

impl Encoder<Reply> for RespCodec {
    type Error = RespError;

    fn encode(&mut self, reply: Reply, dst: &mut BytesMut) -> Result<(), RespError> {
        reply.encode_as(self.protocol, dst);
        Ok(())
    }
}

impl Encoder<&Reply> for RespCodec {
    type Error = RespError;

    fn encode(&mut self, reply: &Reply, dst: &mut BytesMut) -> Result<(), RespError> {
        reply.encode_as(self.protocol, dst);
        Ok(())
    }
}

#[cfg(test)]
mod oversized_tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap (STYLE 2.5).
mod tests {
    use super::*;
    use bytes::Bytes;

    /// Pipelined commands come out one per decode call, in order, sharing the buffer.
    #[test]
    fn decodes_pipelined_commands_in_order() {
        let mut codec = RespCodec::new();
        let mut src = BytesMut::from(&b"PING\r\n\r\n*0\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv"[..]);
        assert_eq!(
            codec.decode(&mut src).unwrap(),
            Some(Command::Ping { message: None })
        );
        assert_eq!(
            codec.decode(&mut src).unwrap(),
            Some(Command::get(Bytes::from_static(b"k")))
        );
        assert_eq!(codec.decode(&mut src).unwrap(), None);
        src.extend_from_slice(b"\r\n");
        let set = Command::set("k", "v");
        assert_eq!(codec.decode(&mut src).unwrap(), Some(set));
        assert!(src.is_empty());
        assert_eq!(codec.decode_eof(&mut src).unwrap(), None);
    }

    /// Bytes arriving one at a time yield the same commands as one big read: the codec keeps
    /// partial frames buffered and never consumes half a command.
    #[test]
    fn byte_at_a_time_matches_one_read() {
        let mut wire = BytesMut::new();
        crate::encode_request(&[&b"SET"[..], b"k\r\n", b"\0v"], &mut wire);
        wire.extend_from_slice(b"\r\nget k\r\n");
        crate::encode_request(&[&b"APPEND"[..], b"k", b""], &mut wire);
        let mut whole = wire.clone();
        let (mut codec, mut want) = (RespCodec::new(), Vec::new());
        while let Some(command) = codec.decode(&mut whole).unwrap() {
            want.push(command);
        }
        assert_eq!(want.len(), 3);
        let (mut codec, mut src, mut got) = (RespCodec::new(), BytesMut::new(), Vec::new());
        for &byte in wire.iter() {
            src.extend_from_slice(&[byte]);
            while let Some(command) = codec.decode(&mut src).unwrap() {
                got.push(command);
            }
        }
        assert_eq!(got, want);
        assert!(src.is_empty());
    }

    proptest::proptest! {
        /// Any bytes, delivered in any chunking, never panic the codec, and valid prefixes
        /// of a chunked stream yield exactly the commands a single read yields.
        #[test]
        fn arbitrary_chunking_matches_one_read(
            wire in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let (mut codec, mut whole, mut want) = (RespCodec::new(), BytesMut::from(&wire[..]), Vec::new());
            let want_ok = loop {
                match codec.decode(&mut whole) {
                    Ok(Some(command)) => want.push(command),
                    Ok(None) => break true,
                    Err(_) => break false,
                }
            };
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
            cuts.sort_unstable();
            cuts.push(wire.len());
            let mut codec = RespCodec::new();
            let (mut src, mut got, mut start, mut got_ok) = (BytesMut::new(), Vec::new(), 0, true);
            'chunks: for end in cuts {
                src.extend_from_slice(&wire[start..end]);
                start = end;
                loop {
                    match codec.decode(&mut src) {
                        Ok(Some(command)) => got.push(command),
                        Ok(None) => break,
                        Err(_) => { got_ok = false; break 'chunks; }
                    }
                }
            }
            proptest::prop_assert_eq!(got_ok, want_ok);
            proptest::prop_assert_eq!(got, want);
        }
    }

    /// A connection closed mid-command is an error, not a silent drop.
    #[test]
    fn eof_mid_command_is_truncated() {
        let mut src = BytesMut::from(&b"*1\r\n$4\r\nPI"[..]);
        assert!(matches!(
            RespCodec::new().decode_eof(&mut src),
            Err(RespError::Truncated { buffered: 10 })
        ));
    }

    /// The encoder writes exactly `Reply::encode`'s bytes, owned or borrowed.
    #[test]
    fn encoder_writes_replies() {
        let mut dst = BytesMut::new();
        RespCodec::new().encode(Reply::ok(), &mut dst).unwrap();
        RespCodec::new()
            .encode(&Reply::Integer(3), &mut dst)
            .unwrap();
        assert_eq!(&dst[..], b"+OK\r\n:3\r\n");
        let mut codec = RespCodec::new();
        codec.set_protocol(Protocol::Resp3);
        assert_eq!(codec.protocol(), Protocol::Resp3);
        dst.clear();
        codec.encode(Reply::Null, &mut dst).unwrap();
        assert_eq!(&dst[..], b"_\r\n");
    }
}
