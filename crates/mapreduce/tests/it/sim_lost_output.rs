//! Map outputs lost with their worker (MapReduce paper §3.3): a worker that finished map tasks
//! dies; reducers cannot fetch from it; the master re-executes those map tasks before the
//! reduces that need them can finish.

use crate::sim_worker::{Behaviour, SECOND_US, add_worker, check_output, done, numbers_sim};
use rpc::NodeId;

/// Worker A dies when handed its 31st task, after finishing 30 map tasks (its outputs vanish
/// with it); B and C are healthy. The job completes with correct output, and at least one map
/// task was executed again.
#[test]
fn lost_map_outputs_are_reexecuted() {
    sim::for_each_seed!(20, |seed| {
        let (mut sim, world) = numbers_sim(seed);
        add_worker(&mut sim, &world, Behaviour::dying(1, 30));
        add_worker(&mut sim, &world, Behaviour::healthy(2));
        add_worker(&mut sim, &world, Behaviour::healthy(2));
        sim.run_until(60 * SECOND_US, done)
            .map_err(|e| e.to_string())?;
        check_output(&sim)?;
        let progress = sim.node(NodeId(0)).expect("master up").progress();
        if progress.maps_reexecuted == 0 || progress.workers_lost != 1 {
            return Err(format!(
                "expected re-executed maps and one lost worker: {progress:?}"
            ));
        }
        Ok(())
    });
}
