//! Property tests of the frame decoder: no input makes it panic, every frame round-trips.

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use rpc::codec::{MAX_FRAME_BYTES, WireCodec, encode_frame};
use rpc::{Frame, NodeId};
use tokio_util::codec::Decoder;

/// A frame type with variable-length fields in every variant.
type TestFrame = Frame<Vec<u8>, String, (u64, Option<bool>)>;

fn arb_frame() -> impl Strategy<Value = TestFrame> {
    prop_oneof![
        any::<u32>().prop_map(|n| Frame::Hello {
            from: NodeId(n),
            cluster: vec![std::net::SocketAddr::from(([127, 0, 0, 1], n as u16))],
        }),
        vec(any::<u8>(), 0..300).prop_map(Frame::Peer),
        (any::<u64>(), ".{0,40}").prop_map(|(id, body)| Frame::Request { id, body }),
        (any::<u64>(), any::<(u64, Option<bool>)>())
            .prop_map(|(id, body)| Frame::Response { id, body }),
    ]
}

/// Bytes that look like the start of a frame: a small length prefix, then arbitrary bytes, so
/// that the body decoder (not only the length check) sees garbage.
fn plausible_garbage() -> impl Strategy<Value = Vec<u8>> {
    (0u32..64, vec(any::<u8>(), 0..96)).prop_map(|(len, body)| {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend(body);
        bytes
    })
}

/// Feeds `chunks` to a fresh decoder as a socket would, then signals end of stream. Stops at the
/// first error (the runtime closes the connection there). Returns the frames decoded.
fn decode_stream(chunks: &[Vec<u8>]) -> Result<Vec<TestFrame>, rpc::RpcError> {
    let mut codec = WireCodec::<TestFrame>::new();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(frame) = codec.decode(&mut buf)? {
            frames.push(frame);
        }
        assert!(
            buf.capacity() <= MAX_FRAME_BYTES + 4096,
            "buffer bounded by the frame limit"
        );
    }
    while let Some(frame) = codec.decode_eof(&mut buf)? {
        frames.push(frame);
    }
    Ok(frames)
}

proptest! {
    /// Goal: arbitrary bytes, in arbitrary chunks, never panic the decoder; they decode or fail.
    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(chunks in vec(vec(any::<u8>(), 0..64), 0..16)) {
        let _ = decode_stream(&chunks);
    }

    /// Goal: garbage behind a plausible length prefix never panics the body decoder.
    #[test]
    fn plausible_garbage_never_panics_the_decoder(chunks in vec(plausible_garbage(), 1..8)) {
        let _ = decode_stream(&chunks);
    }

    /// Goal: any sequence of frames, encoded and cut at arbitrary points, decodes to itself.
    #[test]
    fn frames_round_trip_in_any_split(frames in vec(arb_frame(), 0..8), cuts in vec(any::<prop::sample::Index>(), 0..8)) {
        let mut wire = BytesMut::new();
        for frame in &frames {
            encode_frame(frame, &mut wire).expect("test frames are small");
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort_unstable();
        let chunks: Vec<Vec<u8>> = points.windows(2).map(|w| wire[w[0]..w[1]].to_vec()).collect();
        prop_assert_eq!(decode_stream(&chunks).expect("well-formed stream"), frames);
    }
}
