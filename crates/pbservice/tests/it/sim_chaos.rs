//! Beyond the handout: the network drops, duplicates and reorders messages (with long delays,
//! like a slow proxy) while servers crash and restart empty. Nothing acknowledged may be lost
//! and every answer must be linearizable.

use crate::common::*;
use sim::FaultConfig;

/// Three servers, three clerks on three keys (Put, Append, Get at random), 5 % loss, 5 %
/// duplication, 5 % of messages held back up to 300 ms; a random server is killed every 2 s
/// and restarted empty 1 s later. The history must be linearizable.
#[test]
fn linearizable_under_loss_duplication_and_reordering() {
    sim::for_each_seed!(20, |seed| {
        let mut pb = Pb::new(seed, 3, &[1, 2, 3]);
        pb.wait_view(20, "full view", |v| v.backup.is_some())?;
        pb.run_for(SECOND_US)?;
        pb.sim.set_faults(FaultConfig {
            loss: 0.05,
            duplicate: 0.05,
            delay: 0.05,
            delay_us_max: 300_000,
            unreliable: false,
        });
        let clerks = [pb.clerk(), pb.clerk(), pb.clerk()];
        let mut next = |pb: &mut Pb, i: usize, n: u64| {
            let key = pb.sim.rng().below(3).to_string();
            Some(match pb.sim.rng().below(3) {
                0 => put(&key, &format!("p{i}.{n}")),
                1 => append(&key, &format!("a{i}.{n} ")),
                _ => get(&key),
            })
        };
        for _ in 0..4 {
            let victim = 1 + pb.sim.rng().below(3) as u32;
            pb.kill(victim);
            let until = pb.sim.now_us() + SECOND_US;
            pb.drive_for(&clerks, until, 5_000, &mut next)?;
            pb.start(victim);
            let until = pb.sim.now_us() + SECOND_US;
            pb.drive_for(&clerks, until, 5_000, &mut next)?;
        }
        pb.sim.set_faults(FaultConfig::none());
        let now = pb.sim.now_us();
        pb.drive(&clerks, now, 5_000, |_, _, _| None)?;
        pb.check_linearizable()
    });
}
