//! Seed sweeps: `for_each_seed!` runs every seed, and a failing seed panics with the command
//! that replays it.

use crate::toys::echo_sim;
use rpc::NodeId;
use std::panic::catch_unwind;

/// Every seed of the sweep runs, once each, in order.
#[test]
fn for_each_seed_runs_every_seed() {
    let mut seen = Vec::new();
    sim::for_each_seed!(20, |seed| {
        let mut sim = echo_sim(seed, 2);
        sim.call(NodeId(0), |n, out| n.ping(NodeId(1), out));
        sim.run_until(sim.now_us() + 1_000_000, |s| {
            !s.node(NodeId(0)).unwrap().pongs.is_empty()
        })
        .map_err(|e| e.to_string())?;
        seen.push(seed);
        Ok(())
    });
    let want: Vec<u64> = sim::seeds::seed_plan(
        std::env::var("SIM_SEED").ok().as_deref(),
        std::env::var("SIM_SEEDS").ok().as_deref(),
        20,
    )
    .unwrap()
    .collect();
    assert_eq!(seen, want);
}

/// A failing seed (an `Err` or a panic) panics with the seed, the error and the replay command
/// for exactly this test.
#[test]
fn failing_seed_prints_its_replay_command() {
    for panics in [false, true] {
        let payload = catch_unwind(|| {
            sim::for_each_seed!(20, |seed| if panics {
                panic!("core bug at {seed}")
            } else {
                Err(format!("bad {seed}"))
            });
        })
        .unwrap_err();
        let message = payload.downcast_ref::<String>().unwrap();
        let seed = message
            .split_whitespace()
            .nth(4)
            .unwrap()
            .trim_end_matches(':');
        let test = "seeds::failing_seed_prints_its_replay_command";
        let want = format!("replay: SIM_SEED={seed} cargo test -p sim --test it -- {test} --exact");
        assert!(message.contains(&want), "{message}\n---\nwants: {want}");
        let cause = if panics {
            format!("panicked: core bug at {seed}")
        } else {
            format!("bad {seed}")
        };
        assert!(message.contains(&cause), "{message}");
    }
}
