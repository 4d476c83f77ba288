//! The pieces every dsys system shares: the sans-IO node contract ([`node`]), small protocol
//! numbers ([`ids`]), a seeded random generator ([`rng`]), and the real transport:
//! length-delimited postcard frames ([`codec`], [`wire`]) over TCP, a tokio runtime that drives a
//! core over TCP and a real disk ([`runtime`], [`disk`]), checksummed log records ([`record`]), clients ([`client`]), and a cuttable
//! TCP forwarder that makes partitions on a real network ([`proxy`]).
//!
//! Transport failures are one enum, [`RpcError`], whose variants say whether a request may have
//! run. Application outcomes travel inside each system's own response type.
//!
//! Dependencies point one way: `rpc` ← `sim` ← systems ← `cli`.

mod backoff;
pub mod client;
pub mod codec;
pub mod disk;
pub mod error;
pub mod ids;
pub mod node;
pub mod proxy;
pub mod record;
pub mod rng;
pub mod runtime;
pub mod wire;

pub use client::{ClientRunner, RpcClient};
pub use codec::MAX_FRAME_BYTES;
pub use disk::load_disk;
pub use error::RpcError;
pub use ids::{ClientId, NodeId, ReqId, Ticks};
pub use node::{
    Client, ClientEffect, ClientOutbox, DiskImage, Effect, NoRequest, Node, NodeOutbox, Outbox,
};
pub use proxy::Proxy;
pub use record::{Tail, decode_records, encode_record};
pub use rng::Rng;
pub use runtime::{NodeConfig, NodeHandle, Stats, WireNode, bind_loopback, spawn_node};
pub use wire::{Frame, Wire};
