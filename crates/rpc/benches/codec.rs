//! Codec cost per frame: postcard encode, length prefix, then decode, for a small client request
//! and a 1 KiB peer message. Run with `cargo bench -p rpc`.
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rpc::Frame;
use rpc::codec::{WireCodec, encode_frame};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use tokio_util::codec::Decoder;

/// A request shaped like a kvpaxos `Put`: client id, sequence number, key, short value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SmallReq {
    client: u64,
    seq: u64,
    key: String,
    value: String,
}

type BenchFrame = Frame<Bytes, SmallReq, ()>;

fn round_trip(
    codec: &mut WireCodec<BenchFrame>,
    buf: &mut BytesMut,
    frame: &BenchFrame,
) -> BenchFrame {
    encode_frame(frame, buf).expect("bench frames encode");
    codec
        .decode(buf)
        .expect("decodes")
        .expect("one whole frame")
}

fn bench_codec(c: &mut Criterion) {
    let small = Frame::Request {
        id: 12_345,
        body: SmallReq {
            client: 7,
            seq: 42,
            key: "k17".into(),
            value: "v".into(),
        },
    };
    let kib: BenchFrame = Frame::Peer(Bytes::from(vec![0xAB; 1024]));
    let mut group = c.benchmark_group("codec_round_trip");
    for (name, frame) in [("small_request", small), ("peer_1KiB", kib)] {
        let mut sized = BytesMut::new();
        encode_frame(&frame, &mut sized).expect("encodes");
        group.throughput(Throughput::Bytes(sized.len() as u64));
        let mut codec = WireCodec::<BenchFrame>::new();
        let mut buf = BytesMut::with_capacity(4096);
        group.bench_with_input(BenchmarkId::from_parameter(name), &frame, |b, frame| {
            b.iter(|| black_box(round_trip(&mut codec, &mut buf, black_box(frame))));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_codec);
criterion_main!(benches);
