//! Integration tests of the MapReduce library: word-count correctness, and the master's
//! scheduling under the simulator (SPEC §2.4 and the MapReduce paper's fault tolerance).

#![allow(clippy::unwrap_used)] // Tests may unwrap (STYLE 2.5).
mod sim_basic;
mod sim_lost_output;
mod sim_straggler;
mod sim_worker;
mod tcp_jobs;
mod wc_correct;
