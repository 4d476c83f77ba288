//! Stragglers (MapReduce paper §3.6): near the end of a phase the master launches backup copies
//! of the slowest tasks, so one slow worker does not hold the job up.

use crate::sim_worker::{Behaviour, SECOND_US, add_worker, check_output, done, numbers_sim};
use rpc::NodeId;

/// One of three workers takes 10 s per task (others 20 ms); the task timeout is 10 s, so only
/// backups can finish early. The job ends well within 5 s with correct output and backups
/// launched.
#[test]
fn backups_beat_a_straggler() {
    sim::for_each_seed!(20, |seed| {
        let (mut sim, world) = numbers_sim(seed);
        add_worker(&mut sim, &world, Behaviour::healthy(1_000));
        add_worker(&mut sim, &world, Behaviour::healthy(2));
        add_worker(&mut sim, &world, Behaviour::healthy(2));
        sim.run_until(5 * SECOND_US, done)
            .map_err(|e| e.to_string())?;
        check_output(&sim)?;
        let progress = sim.node(NodeId(0)).expect("master up").progress();
        if progress.backups == 0 {
            return Err(format!("no backup launched: {progress:?}"));
        }
        Ok(())
    });
}
