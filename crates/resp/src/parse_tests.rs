//! Parser tests: frame types, split points, pipelining, bounds, malformed input, properties.

#![allow(clippy::unwrap_used)] // Tests may unwrap (STYLE 2.5).

use super::*;
use crate::Reply;
use proptest::prelude::*;

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn parse_all(mut buf: &[u8]) -> Result<Vec<Command>, RespError> {
    let mut out = Vec::new();
    while let Some((command, consumed)) = parse_command(buf)? {
        out.push(command);
        buf = &buf[consumed..];
    }
    Ok(out)
}

fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode_request(args, &mut dst);
    dst.to_vec()
}

/// An array of bulk strings, as redis-cli sends, parses to the command and consumes it exactly.
#[test]
fn array_of_bulks_parses() {
    let buf = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    assert_eq!(
        parse_command(buf).unwrap(),
        Some((Command::get(b("k")), buf.len()))
    );
    let buf = b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$2\r\nvv\r\n";
    let set = Command::set(Bytes::new(), b("vv"));
    assert_eq!(parse_command(buf).unwrap(), Some((set, buf.len())));
}

/// Inline commands split on spaces and tabs; CRLF or a bare LF ends them.
#[test]
fn inline_commands_parse() {
    assert_eq!(
        parse_all(b"PING\r\n").unwrap(),
        vec![Command::Ping { message: None }]
    );
    assert_eq!(parse_all(b"get k\n").unwrap(), vec![Command::get(b("k"))]);
    let set = Command::set(b("k"), b("v"));
    assert_eq!(parse_all(b"  SET \t k   v \r\n").unwrap(), vec![set]);
    assert_eq!(parse_all(b"PING").unwrap(), vec![], "no newline yet");
}

/// Blank lines, `*0` and `*-1` are skipped, as Redis does, and counted as consumed.
#[test]
fn empty_frames_are_skipped() {
    let buf = b"\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n";
    assert_eq!(
        parse_command(buf).unwrap(),
        Some((Command::Ping { message: None }, buf.len()))
    );
    assert_eq!(parse_command(b"\r\n*0\r\n").unwrap(), None);
}

/// Many commands in one buffer come out in order, mixing both encodings.
#[test]
fn pipelined_commands_parse_in_order() {
    let mut buf = Vec::new();
    for i in 0..100u32 {
        buf.extend(request(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
        buf.extend(b"PING\r\n");
    }
    let commands = parse_all(&buf).unwrap();
    assert_eq!(commands.len(), 200);
    assert_eq!(commands[198], Command::set(b("k99"), b("v")));
    assert_eq!(commands[199], Command::Ping { message: None });
}

/// Keys and values carry any bytes, CRLF, NUL and invalid UTF-8 included.
#[test]
fn bulk_strings_are_binary_safe() {
    let value: &[u8] = b"\r\n\0\xff*2\r\n$";
    let buf = request(&[b"append", b"\0k\n", value]);
    let append = Command::append(b("\0k\n"), Bytes::copy_from_slice(value));
    assert_eq!(parse_command(&buf).unwrap(), Some((append, buf.len())));
}

/// Every proper prefix of a valid pipeline is "need more" or yields only whole commands.
#[test]
fn every_split_point_is_incomplete_not_wrong() {
    let mut buf = request(&[b"SET", b"key", b"va\r\nlue"]);
    buf.extend(b"GET key\r\n");
    buf.extend(request(&[b"PING", b"hello"]));
    let whole = parse_all(&buf).unwrap();
    assert_eq!(whole.len(), 3);
    for split in 0..buf.len() {
        let head = parse_all(&buf[..split]).unwrap();
        assert!(head.len() < 3, "split {split}");
        assert_eq!(head[..], whole[..head.len()], "split {split}");
    }
}

/// Headers at their bounds parse; one past each bound is the matching error.
#[test]
fn each_bound_is_enforced() {
    let max = MAX_ARRAY_LEN;
    assert!(
        parse_command(format!("*{max}\r\n").as_bytes())
            .unwrap()
            .is_none()
    );
    let err = parse_command(format!("*{}\r\n", max + 1).as_bytes()).unwrap_err();
    assert!(matches!(err, RespError::ArrayTooLong { .. }), "{err:?}");

    let max = MAX_BULK_BYTES;
    assert!(
        parse_command(format!("*2\r\n$3\r\nGET\r\n${max}\r\n").as_bytes())
            .unwrap()
            .is_none()
    );
    let err = parse_command(format!("*1\r\n${}\r\n", max + 1).as_bytes()).unwrap_err();
    assert!(matches!(err, RespError::BulkTooLong { .. }), "{err:?}");

    // Two maximal bulks, with their headers and per-argument cost, overflow MAX_COMMAND_BYTES
    // at the second header, before its body is buffered (the exact edge is a codec test).
    let mut buf = format!("*3\r\n${max}\r\n").into_bytes();
    buf.resize(buf.len() + max as usize, b'x');
    buf.extend(b"\r\n");
    assert!(parse_command(&buf).unwrap().is_none());
    buf.extend(format!("${max}\r\n").as_bytes());
    let err = parse_command(&buf).unwrap_err();
    assert!(matches!(err, RespError::CommandTooLong { .. }), "{err:?}");
    assert!(err.is_oversized());

    let mut line = vec![b'a'; MAX_INLINE_BYTES];
    assert!(parse_command(&line).unwrap().is_none());
    line.extend(b"\r\n");
    assert!(matches!(
        parse_command(&line).unwrap(),
        Some((Command::Unknown { .. }, _))
    ));
    let err = parse_command(&vec![b'a'; MAX_INLINE_BYTES + 2]).unwrap_err();
    assert!(matches!(err, RespError::InlineTooLong), "{err:?}");
    let mut line = vec![b'a'; MAX_INLINE_BYTES + 1];
    line.extend(b"\r\n");
    assert!(matches!(
        parse_command(&line).unwrap_err(),
        RespError::InlineTooLong
    ));

    let err = parse_command(format!("*{}", "1".repeat(MAX_HEADER_LINE_BYTES + 2)).as_bytes());
    assert!(matches!(err.unwrap_err(), RespError::HeaderTooLong));
}

/// Malformed input of every kind is an error naming the cause, never a panic.
#[test]
fn malformed_input_is_an_error() {
    /// Input, and a check that the error names the right cause.
    type Case = (&'static [u8], fn(&RespError) -> bool);
    let cases: [Case; 14] = [
        (b"*x\r\n", |e| matches!(e, RespError::BadLength { .. })),
        (b"*\r\n", |e| matches!(e, RespError::BadLength { .. })),
        (b"*+1\r\n", |e| matches!(e, RespError::BadLength { .. })),
        (b"* 1\r\n", |e| matches!(e, RespError::BadLength { .. })),
        (b"*99999999999999999999999\r\n", |e| {
            matches!(e, RespError::BadLength { .. })
        }),
        (b"*1\r\n$1x\r\n", |e| {
            matches!(e, RespError::BadLength { .. })
        }),
        (b"*-2\r\n", |e| {
            matches!(e, RespError::NegativeLength { len: -2 })
        }),
        (b"*1\r\n$-5\r\n", |e| {
            matches!(e, RespError::NegativeLength { len: -5 })
        }),
        (b"*1\r\n$-1\r\n", |e| {
            matches!(e, RespError::NegativeLength { len: -1 })
        }),
        (b"*1\n", |e| matches!(e, RespError::MissingCrlf)),
        (b"*1\r\n$3\r\nGETxx", |e| {
            matches!(e, RespError::MissingCrlf)
        }),
        (b"*1\r\n$3\r\nGET\rx", |e| {
            matches!(e, RespError::MissingCrlf)
        }),
        (b"*1\r\n*1\r\n$1\r\nx\r\n", |e| {
            matches!(e, RespError::ExpectedBulk { found: '*' })
        }),
        (b"*2\r\n$3\r\nGET\r\n:1\r\n", |e| {
            matches!(e, RespError::ExpectedBulk { found: ':' })
        }),
    ];
    for (buf, is_expected) in cases {
        let err = parse_command(buf).expect_err(&String::from_utf8_lossy(buf));
        assert!(
            is_expected(&err),
            "{:?}: {err:?}",
            String::from_utf8_lossy(buf)
        );
        assert!(err.to_reply() != Reply::ok());
    }
}

/// Protocol errors become Redis's `-ERR Protocol error` line.
#[test]
fn protocol_error_reply_text() {
    let err = parse_command(b"*1\r\n*0\r\n").unwrap_err();
    let mut dst = BytesMut::new();
    err.to_reply().encode(&mut dst);
    assert_eq!(&dst[..], b"-ERR Protocol error: expected '$', got '*'\r\n");
}

fn arb_bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn arb_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        arb_bytes().prop_map(Command::get),
        (arb_bytes(), arb_bytes()).prop_map(|(key, value)| Command::set(key, value)),
        (arb_bytes(), arb_bytes()).prop_map(|(key, value)| Command::append(key, value)),
        proptest::option::of(arb_bytes()).prop_map(|message| Command::Ping { message }),
        proptest::collection::vec(arb_bytes(), 0..4).prop_map(|args| Command::Config { args }),
    ]
}

/// Structured near-misses: valid pipelines with a few bytes overwritten.
fn arb_mangled() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(arb_command(), 1..4),
        any::<u64>(),
        any::<u8>(),
    )
        .prop_map(|(cs, at, byte)| {
            let mut dst = BytesMut::new();
            for c in &cs {
                encode_request(&c.to_args(), &mut dst);
            }
            let mut buf = dst.to_vec();
            let at = (at % buf.len() as u64) as usize;
            buf[at] = byte;
            buf
        })
}

proptest! {
    /// Arbitrary bytes never panic the parser, and it never claims more bytes than it was given.
    #[test]
    fn arbitrary_bytes_never_panic_or_overclaim(
        buf in prop_oneof![proptest::collection::vec(any::<u8>(), 0..256), arb_mangled()]
    ) {
        if let Ok(Some((_, consumed))) = parse_command(&buf) {
            prop_assert!(consumed <= buf.len());
            prop_assert!(consumed > 0);
        }
        match parse_frame(&buf) {
            Ok(Some(Parsed::Frame(frame))) => {
                prop_assert!(frame.consumed <= buf.len());
                prop_assert!(frame.args.iter().all(|r| r.end <= frame.consumed));
            }
            Ok(Some(Parsed::Oversized(oversized))) => {
                prop_assert!(oversized.consumed <= buf.len());
                prop_assert!(oversized.error.is_oversized());
            }
            Ok(None) | Err(_) => {}
        }
    }

    /// Encoding any pipeline of commands and parsing it back gives the same commands, and
    /// consumes exactly the encoded bytes.
    #[test]
    fn encode_then_parse_round_trips(commands in proptest::collection::vec(arb_command(), 1..8)) {
        let mut dst = BytesMut::new();
        for c in &commands {
            encode_request(&c.to_args(), &mut dst);
        }
        prop_assert_eq!(parse_all(&dst).unwrap(), commands);
        let mut total = 0;
        while let Some((_, consumed)) = parse_command(&dst[total..]).unwrap() {
            total += consumed;
        }
        prop_assert_eq!(total, dst.len());
    }
}

/// Issue 11: multi-key commands of a few thousand keys (MSET, MGET, DEL from client
/// libraries) parse whole, well inside `MAX_ARRAY_LEN` and the command budget.
#[test]
fn thousands_of_arguments_parse() {
    let keys: Vec<Vec<u8>> = (0..5000).map(|i| format!("key:{i}").into_bytes()).collect();
    let mut args: Vec<&[u8]> = vec![b"MGET"];
    args.extend(keys.iter().map(Vec::as_slice));
    let buf = request(&args);
    let want = Command::from_args(args.iter().map(|a| Bytes::copy_from_slice(a)).collect());
    assert_eq!(
        parse_command(&buf).unwrap(),
        Some((want.unwrap(), buf.len()))
    );
}
