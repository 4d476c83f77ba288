//! Every run is bounded (STYLE 2.8): a condition never met, an event storm or a run past the
//! virtual-time cap fails with a liveness error naming the seed, and an invariant hook stops the
//! run at the first violation.

use crate::toys::{Clerk, Echo, RegOp, Register, echo_sim};
use rpc::NodeId;
use sim::{Sim, SimConfig, SimError};

/// `run_until` with a condition that never holds returns a liveness error at its deadline
/// instead of hanging; the run can go on afterwards.
#[test]
fn run_until_past_its_bound_is_a_liveness_failure() {
    let mut sim: Sim<Register, Clerk> = Sim::new(SimConfig::new(41), vec![Register::default()]);
    let c = sim.add_client(Clerk::new(1, vec![NodeId(0)], 3));
    sim.kill(NodeId(0));
    let error = sim.run_op(c, RegOp::Put(1), 2_000_000).unwrap_err();
    let SimError::Liveness { seed, now_us, .. } = &error else {
        panic!("not liveness: {error}")
    };
    assert_eq!((*seed, *now_us), (41, 2_000_000));
    assert!(error.to_string().contains("seed 41"), "{error}");
    sim.run_for(1_000).unwrap();
}

/// A storm of messages at one instant (zero latency, two nodes answering each other forever)
/// never lets virtual time advance; the per-run event cap stops it.
#[test]
fn event_storm_hits_the_step_cap() {
    let mut config = SimConfig::new(42);
    (
        config.latency_us_min,
        config.latency_us_max,
        config.steps_max,
    ) = (0, 0, 100_000);
    let storm = || Echo {
        storm: true,
        ..Echo::default()
    };
    let mut sim = Sim::<Echo>::new(config, vec![storm(), storm()]);
    sim.call(NodeId(0), |n, out| n.ping(NodeId(1), out));
    let error = sim.run_for(1_000_000).unwrap_err();
    assert!(
        error.to_string().contains("hard cap of 100000 events"),
        "{error}"
    );
    assert_eq!(sim.step(), Err(error), "a capped run stays failed");
}

/// The virtual-time cap ends any run that goes past it.
#[test]
fn run_past_the_time_cap_fails() {
    let mut config = SimConfig::new(43);
    config.time_us_max = 1_000_000;
    let mut sim = Sim::<Echo>::new(config, vec![Echo::default()]);
    let error = sim.run_for(5_000_000).unwrap_err();
    assert!(
        matches!(
            error,
            SimError::Liveness {
                now_us: 1_000_000,
                ..
            }
        ),
        "{error}"
    );
}

/// An invariant hook runs after each event on the node that handled it; the first violation
/// stops the run with the node and message.
#[test]
fn invariant_violation_stops_the_run() {
    let mut sim = echo_sim(44, 2);
    sim.call(NodeId(0), |n, _| n.ping_on_tick = Some(NodeId(1)));
    sim.set_invariant(|_, n: &Echo| {
        if n.pings.len() < 3 {
            Ok(())
        } else {
            Err(format!("{} pings", n.pings.len()))
        }
    });
    let error = sim.run_for(1_000_000).unwrap_err();
    let SimError::Invariant {
        node, msg, seed, ..
    } = &error
    else {
        panic!("not an invariant: {error}")
    };
    assert_eq!((*node, msg.as_str(), *seed), (NodeId(1), "3 pings", 44));
    assert!(
        sim.now_us() < 100_000,
        "the run went on after the violation"
    );
    assert_eq!(sim.step(), Err(error));
}
