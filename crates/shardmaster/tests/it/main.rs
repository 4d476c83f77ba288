//! Shard master integration tests: the scenarios of SPEC §7.3 under the deterministic
//! simulator, each over many seeds (`SIM_SEEDS=N` for more, `SIM_SEED=S` to replay one).

mod common;

mod sim_basic;
mod sim_durable;
mod sim_fresh_query;
mod sim_unreliable;
