//! Primary/backup integration tests: every scenario of SPEC §4.3 under the deterministic
//! simulator (over many seeds, every client history checked for linearizability), and the
//! service over real TCP.

mod common;

mod sim_at_most_once;
mod sim_basic_fail;
mod sim_chaos;
mod sim_concurrent;
mod sim_fail_put;
mod sim_partition;
mod sim_repeated_crash;
mod tcp_failover;
mod tcp_partition;
