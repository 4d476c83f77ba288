//! SPEC §4.3 TestRepeatedCrash and TestRepeatedCrashUnreliable: a killer restarts random
//! servers (empty) again and again while clerks work; nothing acknowledged is lost.

use crate::common::*;

/// Virtual time under the killer. The handout ran 20 s; 10 s keeps five kill/restart cycles
/// per seed while keeping the checked history small.
const RUN_US: u64 = 10 * SECOND_US;

/// Three servers; every second a random server is killed, and a second later restarted empty.
fn killer_loop(
    pb: &mut Pb,
    clerks: &[rpc::ClientId],
    mut next: impl FnMut(&mut Pb, usize, u64) -> Option<pbservice::Op>,
) -> Result<(), String> {
    let end = pb.sim.now_us() + RUN_US;
    while pb.sim.now_us() < end {
        let victim = 1 + pb.sim.rng().below(3) as u32;
        pb.kill(victim);
        let until = pb.sim.now_us() + SECOND_US;
        pb.drive_for(clerks, until, 10_000, &mut next)?;
        pb.start(victim);
        let until = pb.sim.now_us() + SECOND_US;
        pb.drive_for(clerks, until, 10_000, &mut next)?;
    }
    let now = pb.sim.now_us();
    pb.drive(clerks, now, 10_000, |_, _, _| None)
}

fn setup(seed: u64) -> Result<Pb, String> {
    let mut pb = Pb::new(seed, 3, &[1, 2, 3]);
    pb.wait_view(20, "full view", |v| v.backup.is_some())?;
    // As the handout, let the first view settle (be acknowledged) before killing anyone: a
    // primary that dies before acknowledging its view stops the service for good (SPEC §3.2).
    pb.run_for(SECOND_US)?;
    Ok(pb)
}

fn final_put_get(pb: &mut Pb) -> Result<(), String> {
    let ck = pb.clerk();
    pb.op(ck, put("aaa", "bbb"))?;
    pb.check(ck, "aaa", "bbb")
}

/// Lab 2B TestRepeatedCrash: two clerks on disjoint keys each Get (checking the value they
/// last wrote) then Put, 10 ms apart, while servers crash and restart empty; then a final
/// Put/Get works. The Gets are checked through the history.
#[test]
fn repeated_crash() {
    sim::for_each_seed!(20, |seed| {
        let mut pb = setup(seed)?;
        let clerks = [pb.clerk(), pb.clerk()];
        killer_loop(&mut pb, &clerks, |pb, i, n| {
            let key = format!("{i}");
            if n % 2 == 0 {
                Some(get(&key))
            } else {
                Some(put(&key, &pb.sim.rng().next_u64().to_string()))
            }
        })?;
        final_put_get(&mut pb)?;
        pb.check_linearizable()
    });
}

/// Lab 2B TestRepeatedCrashUnreliable: the same killer with unreliable servers; two clerks
/// Append "x <clerk> <n> y" to key "0" every 10 ms; `checkAppends` holds; final Put/Get works.
#[test]
fn repeated_crash_unreliable() {
    sim::for_each_seed!(20, |seed| {
        let mut pb = setup(seed)?;
        pb.sim.set_unreliable(true);
        // Two more clerks read key "0" throughout: reads pin down the order of the appends,
        // which keeps the checker's search small. Two, because one reader's Get can itself be
        // held up for seconds by lost replies and crashes, leaving long unpinned stretches.
        let clerks = [pb.clerk(), pb.clerk(), pb.clerk(), pb.clerk()];
        let mut counts = [0u64; 2];
        killer_loop(&mut pb, &clerks, |_, i, n| {
            if i >= 2 {
                return Some(get("0"));
            }
            counts[i] = n + 1;
            Some(append("0", &format!("x {i} {n} y")))
        })?;
        pb.sim.set_unreliable(false);
        let ck = pb.clerk();
        let value = pb.op(ck, get("0"))?;
        check_appends(&value, &counts)?;
        final_put_get(&mut pb)?;
        pb.check_linearizable()
    });
}
