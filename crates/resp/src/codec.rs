//! A tokio-util codec: [`Command`]s in, [`Reply`]s out, for `Framed` connections.

use crate::command::Command;
use crate::error::RespError;
use crate::parse::parse_frame;
use crate::reply::{Protocol, Reply};
use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Decodes client commands and encodes replies, without copying argument bytes.
///
/// After any decode error the stream is unusable and the connection must be closed;
/// [`RespError::to_reply`] is the line to send first.
#[derive(Debug, Default, Clone, Copy)]
pub struct RespCodec {
    /// The protocol replies are encoded in; decoding is the same in both.
    protocol: Protocol,
}

impl RespCodec {
    /// A new codec speaking RESP2; it keeps no state between frames.
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
            let frame = match parse_frame(src) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(None),
                Err(e) => {
                    tracing::debug!(error = %e, buffered = src.len(), "RESP protocol error");
                    return Err(e);
                }
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
            None if src.is_empty() => Ok(None),
            None => Err(RespError::Truncated {
                buffered: src.len(),
            }),
        }
    }
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
        let mut want = Vec::new();
        while let Some(command) = RespCodec::new().decode(&mut whole).unwrap() {
            want.push(command);
        }
        assert_eq!(want.len(), 3);
        let mut src = BytesMut::new();
        let mut got = Vec::new();
        for &byte in wire.iter() {
            src.extend_from_slice(&[byte]);
            while let Some(command) = RespCodec::new().decode(&mut src).unwrap() {
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
            let mut whole = BytesMut::from(&wire[..]);
            let mut want = Vec::new();
            let want_ok = loop {
                match RespCodec::new().decode(&mut whole) {
                    Ok(Some(command)) => want.push(command),
                    Ok(None) => break true,
                    Err(_) => break false,
                }
            };
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
            cuts.sort_unstable();
            cuts.push(wire.len());
            let (mut src, mut got, mut start, mut got_ok) = (BytesMut::new(), Vec::new(), 0, true);
            'chunks: for end in cuts {
                src.extend_from_slice(&wire[start..end]);
                start = end;
                loop {
                    match RespCodec::new().decode(&mut src) {
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
