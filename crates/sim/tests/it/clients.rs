//! Clerks inside the simulation: their timeouts and retries run on virtual time.

use crate::toys::{Clerk, RegOp, Register};
use rpc::NodeId;
use sim::{FaultConfig, Sim, SimConfig};

fn cluster(seed: u64, faults: FaultConfig) -> Sim<Register, Clerk> {
    let mut config = SimConfig::new(seed);
    config.faults = faults;
    Sim::new(config, (0..3).map(|_| Register::default()).collect())
}

/// Under SPEC §1.2 unreliable mode a clerk's requests and replies get lost; it times out,
/// retries, and every operation still completes, at most once per (client, seq). Method: 200
/// Puts, each bounded by 10 s of virtual time.
#[test]
fn clerk_retries_after_timeouts_and_completes_under_unreliable() {
    let mut sim = cluster(31, FaultConfig::unreliable());
    let c = sim.add_client(Clerk::new(1, vec![NodeId(0), NodeId(1), NodeId(2)], 3));
    for value in 0..200 {
        let done = sim.run_op(c, RegOp::Put(value), 10_000_000).unwrap();
        assert_eq!(done.output, value);
        assert!(
            done.completed_at_us > done.invoked_at_us,
            "an answer takes network time"
        );
    }
    let attempts = sim.client(c).attempts;
    assert!(
        attempts > 250,
        "200 ops under 28% failure needed only {attempts} attempts"
    );
    let applied: u64 = sim.node_ids().map(|id| sim.node(id).unwrap().applied).sum();
    assert!(
        applied <= 200 + attempts - 200,
        "a retried Put was applied twice on one server"
    );
    assert!(
        sim.net_stats().dropped.unreliable_request > 0
            && sim.net_stats().dropped.unreliable_reply > 0
    );
}

/// Retries are paced by the clerk's tick timeout, not by wall time: with one dead server
/// first in its list, each operation takes at least the timeout of virtual time.
#[test]
fn clerk_timeout_is_virtual_time() {
    let mut sim = cluster(32, FaultConfig::none());
    let c = sim.add_client(Clerk::new(1, vec![NodeId(0), NodeId(1)], 5));
    sim.kill(NodeId(0));
    let done = sim.run_op(c, RegOp::Put(1), 1_000_000).unwrap();
    let took_us = done.completed_at_us - done.invoked_at_us;
    assert!(
        (40_000..=62_000).contains(&took_us),
        "5-tick timeout took {took_us} us"
    );
    assert_eq!(sim.client(c).attempts, 2);
}

/// A client with an operation in flight cannot be invoked again: the result would be lost.
#[test]
#[should_panic(expected = "already has an operation in flight")]
fn invoke_on_a_busy_client_panics() {
    let mut sim = cluster(33, FaultConfig::none());
    let c = sim.add_client(Clerk::new(1, vec![NodeId(0)], 3));
    sim.invoke(c, RegOp::Get);
    sim.invoke(c, RegOp::Get);
}
