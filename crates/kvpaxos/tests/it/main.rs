//! kvpaxos integration tests: the scenarios of SPEC §6.3 under the deterministic simulator,
//! each over many seeds, every client history checked for linearizability.

mod common;

mod sim_basic;
mod sim_catch_up;
mod sim_chaos;
mod sim_done;
mod sim_durable;
mod sim_hole;
mod sim_lost_disk;
mod sim_many_partition;
mod sim_partition;
mod sim_redis;
mod sim_restart;
mod sim_sessions;
mod sim_snapshot;
mod sim_unreliable;
