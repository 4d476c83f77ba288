//! SPEC §2.4 TestBasic, TestOneFailure and TestManyFailures, with the master's scheduling as the
//! real [`mapreduce::Coordinator`] and simulated workers.

use crate::sim_worker::{Behaviour, SECOND_US, add_worker, check_output, done, numbers_sim};

/// TestBasic: two healthy workers; the output is correct and each worker did at least one task.
#[test]
fn basic_two_workers_share_the_job() {
    sim::for_each_seed!(20, |seed| {
        let (mut sim, world) = numbers_sim(seed);
        let workers = [
            add_worker(&mut sim, &world, Behaviour::healthy(2)),
            add_worker(&mut sim, &world, Behaviour::healthy(2)),
        ];
        sim.run_until(60 * SECOND_US, done)
            .map_err(|e| e.to_string())?;
        check_output(&sim)?;
        for w in workers {
            if sim.client(w).tasks_finished == 0 {
                return Err(format!("worker {w} did no task"));
            }
        }
        Ok(())
    });
}

/// TestOneFailure: worker 0 dies (silently, mid-task, its map outputs lost) when handed its
/// 11th task; worker 1 is healthy. The master must re-issue worker 0's work.
#[test]
fn one_failure_work_is_reissued() {
    sim::for_each_seed!(20, |seed| {
        let (mut sim, world) = numbers_sim(seed);
        let dying = Behaviour::dying(2, 10);
        add_worker(&mut sim, &world, dying);
        let healthy = add_worker(&mut sim, &world, Behaviour::healthy(2));
        sim.run_until(60 * SECOND_US, done)
            .map_err(|e| e.to_string())?;
        check_output(&sim)?;
        if sim.client(healthy).tasks_finished == 0 {
            return Err("the healthy worker did no task".into());
        }
        Ok(())
    });
}

/// TestManyFailures: every second two new workers join, each dying on its 11th task, until the
/// job is done. As in the original (outputs on a shared filesystem), a dead worker's finished map
/// outputs stay fetchable: with every output lost after 10 tasks no 100-map job could finish.
#[test]
fn many_failures_new_workers_keep_coming() {
    sim::for_each_seed!(20, |seed| {
        let (mut sim, world) = numbers_sim(seed);
        let dying = Behaviour {
            outputs_survive: true,
            ..Behaviour::dying(3, 10)
        };
        for _ in 0..60 {
            add_worker(&mut sim, &world, dying);
            add_worker(&mut sim, &world, dying);
            let until = sim.now_us() + SECOND_US;
            match sim.run_until(until, done) {
                Ok(()) => return check_output(&sim),
                Err(sim::SimError::Liveness { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("not done after 60 s".into())
    });
}

/// TestBasic over the unreliable network of SPEC §1.2 (10 % of requests lost, 18 % executed
/// with the reply lost): every request is idempotent and retried, so lost replies (an orphaned
/// assignment, an unacknowledged MapDone) only cost time; the output is still correct.
#[test]
fn basic_over_an_unreliable_network() {
    sim::for_each_seed!(20, |seed| {
        let (mut sim, world) = crate::sim_worker::numbers_sim(seed);
        sim.set_unreliable(true);
        add_worker(&mut sim, &world, Behaviour::healthy(2));
        add_worker(&mut sim, &world, Behaviour::healthy(2));
        add_worker(&mut sim, &world, Behaviour::healthy(2));
        sim.run_until(120 * SECOND_US, done)
            .map_err(|e| e.to_string())?;
        check_output(&sim)
    });
}
