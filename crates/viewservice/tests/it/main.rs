//! View service integration tests: every sub-test of SPEC §3.3 `Test1` under the simulator (one
//! test per sub-test, each replaying the sub-tests before it, over many seeds), and the TCP shell.

mod common;

mod sim_test1;
mod tcp_ping;
