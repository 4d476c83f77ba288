//! Parsing throughput: 10,000 pipelined `SET` commands with 100-byte values, as one buffer.

#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use resp::{Command, RespCodec, encode_request};
use std::hint::black_box;
use tokio_util::codec::Decoder;

/// Commands per pipeline: redis-benchmark's `-P` runs send batches of this order.
const COMMANDS: usize = 10_000;
/// Value size: redis-benchmark's `-d` default is 3 bytes; 100 is a more typical value.
const VALUE_BYTES: usize = 100;

fn pipeline() -> BytesMut {
    let value = vec![b'v'; VALUE_BYTES];
    let mut buf = BytesMut::new();
    for i in 0..COMMANDS {
        let key = format!("key:{i:012}");
        encode_request(&[b"SET".as_slice(), key.as_bytes(), &value], &mut buf);
    }
    buf
}

fn parse_pipeline(c: &mut Criterion) {
    let buf = pipeline();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(COMMANDS as u64));
    group.bench_function("codec_10k_set_100b", |b| {
        b.iter(|| {
            let mut src = buf.clone();
            let mut codec = RespCodec::new();
            let mut n = 0;
            while let Ok(Some(command)) = codec.decode(&mut src) {
                n += usize::from(matches!(command, Command::Store(keyspace::Cmd::Set { .. })));
                black_box(command);
            }
            assert_eq!(n, COMMANDS);
        })
    });
    group.bench_function("parse_command_10k_set_100b", |b| {
        b.iter(|| {
            let mut rest = &buf[..];
            let mut n = 0;
            while let Ok(Some((command, consumed))) = resp::parse_command(rest) {
                rest = &rest[consumed..];
                n += 1;
                black_box(command);
            }
            assert_eq!(n, COMMANDS);
        })
    });
    group.finish();
}

criterion_group!(benches, parse_pipeline);
criterion_main!(benches);
