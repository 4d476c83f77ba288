//! The pieces every dsys system shares: the sans-IO node contract ([`node`]), small protocol
//! numbers ([`ids`]), a seeded random generator ([`rng`]), and the real transport: framed
//! postcard messages over TCP ([`codec`], [`transport`]) and a tokio runtime that drives a core
//! over TCP and a real disk ([`runtime`]).
//!
//! Dependencies point one way: `rpc` ← `sim` ← systems ← `cli`.

pub mod ids;
pub mod node;
pub mod rng;

pub use ids::{ClientId, NodeId, ReqId, Ticks};
pub use node::{Client, ClientEffect, ClientOutbox, DiskImage, Effect, NoRequest, Node, NodeOutbox, Outbox};
pub use rng::Rng;
