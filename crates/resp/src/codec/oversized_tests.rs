//! Codec tests for oversized commands: answered, skipped in bounded memory, stream kept.

#![allow(clippy::unwrap_used)] // Tests may unwrap (STYLE 2.5).

use super::*;
use crate::{ELEMENT_COST_BYTES, MAX_ARRAY_LEN, MAX_BULK_BYTES, MAX_COMMAND_BYTES};
use proptest::prelude::*;

/// Feeds `wire` to one codec in chunks of `chunk` bytes; returns every command and the most
/// the buffer ever held (length and capacity) after a decode call.
fn decode_chunked(wire: &[u8], chunk: usize) -> (Vec<Command>, usize, usize) {
    let (mut codec, mut src, mut got) = (RespCodec::new(), BytesMut::new(), Vec::new());
    let (mut most_len, mut most_capacity) = (0, 0);
    for piece in wire.chunks(chunk) {
        src.extend_from_slice(piece);
        while let Some(command) = codec.decode(&mut src).unwrap() {
            got.push(command);
        }
        most_len = most_len.max(src.len());
        most_capacity = most_capacity.max(src.capacity());
    }
    assert_eq!(codec.decode_eof(&mut src).unwrap(), None);
    (got, most_len, most_capacity)
}

fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut dst = BytesMut::new();
    crate::encode_request(args, &mut dst);
    dst.to_vec()
}

fn too_large(text: &str) -> Command {
    Command::TooLarge {
        error: format!("ERR Protocol error: {text}"),
    }
}

const PING: Command = Command::Ping { message: None };

/// Issue 11: a 20 MiB SET streamed in 64 KiB reads is answered with an error naming the limit
/// as soon as its header arrives, its body is dropped as it comes (the buffer never holds much
/// more than one read), and a PING right behind it in the same stream is answered.
#[test]
fn huge_bulk_is_answered_then_skipped_in_bounded_memory() {
    const CHUNK: usize = 64 * 1024;
    let value = vec![b'v'; 20 * 1024 * 1024];
    let mut wire = request(&[b"SET", b"k", &value]);
    wire.extend(b"PING\r\n");
    let (got, most_len, most_capacity) = decode_chunked(&wire, CHUNK);
    let want = "value of 20971520 bytes is larger than the limit of 8388608 bytes";
    assert_eq!(got, vec![too_large(want), PING]);
    assert!(most_len <= CHUNK, "buffer held {most_len} bytes");
    assert!(
        most_capacity <= 4 * CHUNK,
        "buffer grew to {most_capacity} bytes"
    );
    let mut dst = BytesMut::new();
    got[0].local_reply().unwrap().encode(&mut dst);
    assert_eq!(dst, format!("-ERR Protocol error: {want}\r\n").as_bytes());
}

/// An array of more than `MAX_ARRAY_LEN` elements is refused at its header, naming the count;
/// its elements are then skipped header by header, and the next command is answered.
#[test]
fn too_long_array_is_answered_then_skipped() {
    let len = MAX_ARRAY_LEN + 1;
    let mut wire = format!("*{len}\r\n").into_bytes();
    for _ in 0..len {
        wire.extend(b"$1\r\nx\r\n");
    }
    wire.extend(request(&[b"GET", b"k"]));
    let (got, most_len, _) = decode_chunked(&wire, 4096);
    let want =
        format!("command of {len} arguments is larger than the limit of {MAX_ARRAY_LEN} arguments");
    assert_eq!(got, vec![too_large(&want), Command::get("k")]);
    assert!(most_len <= 4096, "buffer held {most_len} bytes");
}

/// A command of exactly `MAX_COMMAND_BYTES` (wire bytes plus the per-argument cost) decodes;
/// one byte more is answered as too large at its last header, and the stream goes on.
#[test]
fn total_bytes_limit_is_exact() {
    let at_limit = command_costing(MAX_COMMAND_BYTES);
    let (got, _, _) = decode_chunked(&[&at_limit[..], b"PING\r\n"].concat(), 1 << 20);
    // An unknown name: the parser must take the whole command in, but nothing runs it.
    assert!(
        matches!(got[..], [Command::Unknown { .. }, PING]),
        "{} items",
        got.len()
    );

    let over = command_costing(MAX_COMMAND_BYTES + 1);
    let (got, most_len, _) = decode_chunked(&[&over[..], b"PING\r\n"].concat(), 1 << 20);
    assert_eq!(got.len(), 2);
    assert!(matches!(&got[0], Command::TooLarge { error } if error.contains("16777216")));
    assert_eq!(got[1], PING);
    assert!(
        most_len as u64 <= MAX_COMMAND_BYTES,
        "buffer held {most_len} bytes"
    );
}

/// A `SET` whose wire bytes plus `ELEMENT_COST_BYTES` per argument come to exactly `cost`.
fn command_costing(cost: u64) -> Vec<u8> {
    let key = vec![b'k'; MAX_BULK_BYTES as usize];
    let mut value_len =
        cost - (request(&[b"NOPE", &key, b""]).len() as u64) - 3 * ELEMENT_COST_BYTES;
    // The value's header grows with its length; shrink until the total fits exactly.
    loop {
        let wire = request(&[b"NOPE", &key, &vec![b'v'; value_len as usize]]);
        let total = wire.len() as u64 + 3 * ELEMENT_COST_BYTES;
        if total == cost {
            return wire;
        }
        value_len -= total - cost;
    }
}

/// Garbage where a skipped bulk's CRLF should be is still a protocol error: the codec only
/// keeps the connection when it knows where the next command starts.
#[test]
fn malformed_tail_of_a_skipped_command_is_an_error() {
    let mut wire = format!("*2\r\n$3\r\nSET\r\n${}\r\n", MAX_BULK_BYTES + 1).into_bytes();
    wire.resize(wire.len() + MAX_BULK_BYTES as usize + 1, b'x');
    wire.extend(b"XY");
    let (mut codec, mut src) = (RespCodec::new(), BytesMut::from(&wire[..]));
    assert!(matches!(
        codec.decode(&mut src),
        Ok(Some(Command::TooLarge { .. }))
    ));
    assert!(matches!(
        codec.decode(&mut src),
        Err(RespError::MissingCrlf)
    ));

    let mut src = BytesMut::from(&format!("*{}\r\n$1\r\nx\r\n:1\r\n", MAX_ARRAY_LEN + 5)[..]);
    let mut codec = RespCodec::new();
    assert!(matches!(
        codec.decode(&mut src),
        Ok(Some(Command::TooLarge { .. }))
    ));
    assert!(matches!(
        codec.decode(&mut src),
        Err(RespError::ExpectedBulk { found: ':' })
    ));
}

/// The peer hanging up in the middle of a command being skipped is a truncated stream.
#[test]
fn eof_while_skipping_is_truncated() {
    let mut src = BytesMut::from(&format!("*{}\r\n$1\r\nx\r\n", MAX_ARRAY_LEN + 5)[..]);
    let mut codec = RespCodec::new();
    assert!(matches!(
        codec.decode(&mut src),
        Ok(Some(Command::TooLarge { .. }))
    ));
    assert_eq!(codec.decode(&mut src).unwrap(), None);
    assert!(src.is_empty());
    assert!(matches!(
        codec.decode_eof(&mut src),
        Err(RespError::Truncated { buffered: 0 })
    ));
}

/// One piece of a test stream: an ordinary command or one that breaks a bound.
fn arb_piece() -> impl Strategy<Value = Vec<u8>> {
    let small = proptest::collection::vec(any::<u8>(), 0..16);
    prop_oneof![
        4 => small.clone().prop_map(|key| request(&[b"GET", &key])),
        2 => Just(b"PING\r\n\r\n*0\r\n".to_vec()),
        1 => (0u64..3).prop_map(|extra| {
            request(&[b"SET", b"k", &vec![b'v'; (MAX_BULK_BYTES + 1 + extra) as usize]])
        }),
        1 => Just(request(&[b"SET", &vec![b'k'; MAX_BULK_BYTES as usize], &vec![b'v'; MAX_BULK_BYTES as usize]])),
        1 => Just([format!("*{}\r\n", MAX_ARRAY_LEN + 1).as_bytes(), &b"$0\r\n\r\n".repeat(MAX_ARRAY_LEN as usize + 1)].concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Streams mixing ordinary and oversized commands decode to the same commands however
    /// they are cut into reads, and the buffer never holds more than one command's bound.
    #[test]
    fn chunking_with_oversized_commands_matches_one_read(
        pieces in proptest::collection::vec(arb_piece(), 1..5),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let wire = pieces.concat();
        let (want, _, _) = decode_chunked(&wire, wire.len());
        // Every piece is exactly one command, ordinary or answered as too large.
        prop_assert_eq!(want.len(), pieces.len());
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(wire.len());
        let (mut codec, mut src, mut got, mut start) = (RespCodec::new(), BytesMut::new(), Vec::new(), 0);
        for end in cuts {
            src.extend_from_slice(&wire[start..end]);
            start = end;
            while let Some(command) = codec.decode(&mut src).unwrap() {
                got.push(command);
            }
            // What stays buffered is at most one command's bounded prefix and a header.
            prop_assert!(src.len() as u64 <= MAX_COMMAND_BYTES + 64);
        }
        prop_assert_eq!(got, want);
    }
}
