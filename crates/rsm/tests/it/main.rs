//! rsm integration tests: a state machine other than the key/value store (a counter) replicated
//! by `rsm::Replica` under the deterministic simulator, every history checked for
//! linearizability. They prove the replication layer is generic, and test what only a long run
//! shows: catching up through a snapshot, and memory bounded under a dead replica.

mod common;

mod sim_counter;
mod sim_dead_replica;
mod sim_snapshot;
