//! Paxos integration tests: every scenario of SPEC §5.3 under the deterministic simulator (one
//! module per scenario, each over many seeds), and the TCP runtime tests.

mod common;

mod sim_basic;
mod sim_compact;
mod sim_deaf;
mod sim_forget;
mod sim_leader;
mod sim_lots;
mod sim_many;
mod sim_partition;
mod sim_rpc_count;
mod tcp_cluster;
