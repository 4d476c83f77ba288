//! The simulator's own integration tests: toy cores (an echo peer, a register server, a retrying
//! clerk) under every fault the simulator offers, each checked against the counts it must give.
#![allow(clippy::unwrap_used)] // Tests may unwrap (STYLE 2.5).

mod addresses;
mod bounds;
mod clients;
mod determinism;
mod disk;
mod disk_errors;
mod network;
mod seeds;
mod toys;
mod unreliable;
