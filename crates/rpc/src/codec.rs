//! Length-delimited postcard frames.
//!
//! On the wire a frame is a 4-byte big-endian length `n` followed by `n` bytes of postcard. The
//! framing is tokio-util's [`LengthDelimitedCodec`]; [`WireCodec`] adds the typed decode and a
//! hard limit, [`MAX_FRAME_BYTES`], checked on the length prefix alone, before a single byte of
//! the body is buffered. A peer announcing a 4 GiB frame therefore costs us nothing but the
//! connection it is closed on.
//!
//! Encoding happens in the sender's task ([`encode`] gives the payload as [`Bytes`]), so a value
//! that cannot be encoded is reported to whoever produced it and never reaches a socket. Decoding
//! is strict: a frame must be consumed exactly, trailing bytes included.

use crate::error::RpcError;
use bytes::{Buf, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// The largest frame payload we send or accept, in bytes.
///
/// Why 16 MiB: Paxos values in the lab tests are up to 1 MB, and a frame may carry one value plus
/// protocol overhead (or a few values in a catch-up message); 16x headroom covers that without
/// letting a corrupt or hostile length prefix make us allocate gigabytes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Bytes of the length prefix in front of every frame.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// The framing every connection uses: 4-byte big-endian length, [`MAX_FRAME_BYTES`] enforced.
pub fn length_codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(LENGTH_PREFIX_BYTES)
        .big_endian()
        .max_frame_length(MAX_FRAME_BYTES)
        .new_codec()
}

/// Encodes `value` as a frame payload (postcard), without the length prefix.
///
/// # Errors
/// [`RpcError::Codec`] if the value's `Serialize` fails; [`RpcError::FrameTooLarge`] if the
/// encoding exceeds [`MAX_FRAME_BYTES`]. In both cases nothing was sent.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, RpcError> {
    let bytes = postcard::to_allocvec(value)?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(RpcError::FrameTooLarge {
            len: bytes.len() as u64,
        });
    }
    Ok(Bytes::from(bytes))
}

/// Decodes one frame payload, which must be consumed exactly.
///
/// # Errors
/// [`RpcError::Codec`] if the bytes are not one encoded `T` (trailing bytes included).
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, RpcError> {
    let (value, rest) = postcard::take_from_bytes(payload)?;
    if !rest.is_empty() {
        // Trailing bytes mean the sender encoded some other type that happens to share a prefix
        // with ours: postcard's "not well encoded" is the honest name for that.
        return Err(RpcError::Codec(postcard::Error::DeserializeBadEncoding));
    }
    Ok(value)
}

/// A tokio codec: decodes frames into `In`, writes pre-encoded payloads ([`encode`]).
///
/// Errors are [`RpcError`]s; after any decode error the stream is unusable and the connection
/// must be closed, which is what every caller in this crate does.
#[derive(Debug)]
pub struct WireCodec<In> {
    frames: LengthDelimitedCodec,
    /// True once the inner codec has consumed a length prefix and waits for the body, so the
    /// front of the buffer is body bytes, not a prefix.
    body_pending: bool,
    _in: PhantomData<fn() -> In>,
}

impl<In> WireCodec<In> {
    /// A codec with the workspace framing ([`length_codec`]).
    pub fn new() -> Self {
        WireCodec {
            frames: length_codec(),
            body_pending: false,
            _in: PhantomData,
        }
    }
}

impl<In> Default for WireCodec<In> {
    fn default() -> Self {
        Self::new()
    }
}

impl<In: DeserializeOwned> Decoder for WireCodec<In> {
    type Item = In;
    type Error = RpcError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, RpcError> {
        let prefix_visible = !self.body_pending && src.len() >= LENGTH_PREFIX_BYTES;
        if prefix_visible {
            // Checked here, not only inside LengthDelimitedCodec, so the error carries the length.
            let len = u64::from((&src[..LENGTH_PREFIX_BYTES]).get_u32());
            if len > MAX_FRAME_BYTES as u64 {
                return Err(RpcError::FrameTooLarge { len });
            }
        }
        match self.frames.decode(src)? {
            Some(payload) => {
                self.body_pending = false;
                decode(&payload).map(Some)
            }
            None => {
                // The inner codec consumes a visible prefix even when the body is incomplete.
                self.body_pending |= prefix_visible;
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<In>, RpcError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() && !self.body_pending => Ok(None),
            None => Err(RpcError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

impl<In> Encoder<Bytes> for WireCodec<In> {
    type Error = RpcError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), RpcError> {
        if payload.len() > MAX_FRAME_BYTES {
            return Err(RpcError::FrameTooLarge {
                len: payload.len() as u64,
            });
        }
        self.frames.encode(payload, dst)?;
        Ok(())
    }
}

/// Encodes `value` as one complete frame (prefix and payload) at the end of `dst`.
///
/// # Errors
/// As [`encode`].
pub fn encode_frame<T: Serialize + ?Sized>(value: &T, dst: &mut BytesMut) -> Result<(), RpcError> {
    let payload = encode(value)?;
    WireCodec::<()>::new().encode(payload, dst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Frame;

    type TestFrame = Frame<String, u32, Vec<u8>>;

    #[test]
    fn frame_round_trips_through_the_codec() {
        let frame: TestFrame = Frame::Request { id: 7, body: 42 };
        let mut buf = BytesMut::new();
        encode_frame(&frame, &mut buf).expect("small frame encodes");
        assert_eq!(
            &buf[..4],
            &[0, 0, 0, (buf.len() - 4) as u8],
            "big-endian length prefix"
        );
        let mut codec = WireCodec::<TestFrame>::new();
        assert_eq!(codec.decode(&mut buf).expect("decodes"), Some(frame));
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_prefix_is_refused_before_the_body_arrives() {
        let mut buf = BytesMut::from(&[0xFF, 0xFF, 0xFF, 0xFF][..]);
        let err = WireCodec::<TestFrame>::new()
            .decode(&mut buf)
            .expect_err("must refuse");
        assert!(
            matches!(err, RpcError::FrameTooLarge { len: 0xFFFF_FFFF }),
            "{err:?}"
        );
        assert!(buf.capacity() < 1024, "no buffer was reserved for the body");
    }

    #[test]
    fn split_frame_decodes_once_complete() {
        let frame: TestFrame = Frame::Peer("hello".into());
        let mut whole = BytesMut::new();
        encode_frame(&frame, &mut whole).expect("encodes");
        let mut codec = WireCodec::<TestFrame>::new();
        let mut buf = BytesMut::new();
        for (i, byte) in whole.iter().enumerate() {
            buf.extend_from_slice(&[*byte]);
            let got = codec.decode(&mut buf).expect("no error on a partial frame");
            assert_eq!(
                got.is_some(),
                i == whole.len() - 1,
                "frame completes on the last byte only"
            );
        }
    }

    #[test]
    fn eof_inside_a_frame_is_truncated() {
        let mut buf = BytesMut::from(&[0, 0, 0, 10, 1, 2][..]);
        let err = WireCodec::<TestFrame>::new()
            .decode_eof(&mut buf)
            .expect_err("truncated");
        assert!(
            matches!(err, RpcError::Truncated { buffered: 2 }),
            "{err:?}"
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut payload = postcard::to_allocvec(&5u32).expect("encodes");
        payload.push(0);
        assert!(matches!(decode::<u32>(&payload), Err(RpcError::Codec(_))));
    }
}
