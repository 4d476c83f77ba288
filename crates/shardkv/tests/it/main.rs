//! shardkv integration tests: the scenarios of SPEC §8.3 under the deterministic simulator,
//! a shard master and three groups in one run, each over many seeds, every client history
//! checked for linearizability.

mod common;
mod world;

mod sim_basic;
mod sim_concurrent;
mod sim_migration;
mod sim_move;
mod tcp_cluster;
