//! Durable replicas (SPEC §9.2 at the kvpaxos level): crashes with the disk kept, all replicas
//! at once, torn log tails (the simulator tears unsynced appends on every crash), and disks
//! lost. Every history is checked for linearizability and every acknowledged append must be
//! present exactly once at the end.

use crate::common::*;
use rpc::{ClientId, NodeId};
use rsm::Config;

/// Snapshots often, so that crashes land before, during and after log rotations.
pub(crate) fn config() -> Config {
    Config {
        snapshot_every_slots: 30,
        ..Config::default()
    }
}

/// A durable cluster of `servers` on [`config`] with `clerks` shuffled clerks, and their
/// append counts for [`load`].
pub(crate) fn cluster(
    seed: u64,
    servers: u32,
    clerks: usize,
) -> (Config, Kv, Vec<ClientId>, Vec<u64>) {
    let config = config();
    let mut kv = Kv::durable(seed, servers, &config);
    let clerks: Vec<_> = (0..clerks).map(|_| kv.shuffled_clerk()).collect();
    let counts = vec![0; clerks.len()];
    (config, kv, clerks, counts)
}

/// Clerks appending `x <clerk> <n> y` to "k" (a third of their operations are Gets), each
/// operation counted in `counts` when started, for [`check_appends`] at the end.
pub(crate) fn load(
    kv: &mut Kv,
    clerks: &[ClientId],
    us: u64,
    counts: &mut [u64],
) -> Result<(), String> {
    let until = kv.sim.now_us() + us;
    kv.drive_for(clerks, until, MS_US, &mut |kv, i, _| {
        Some(if kv.sim.rng().below(3) == 0 {
            get("k")
        } else {
            counts[i] += 1;
            append("k", &format!("x {i} {} y", counts[i] - 1))
        })
    })
}

/// Finishes the clerks, waits until every replica applied the same slots, checks that they
/// agree, that every append is there exactly once, and the history.
pub(crate) fn settle_and_check(
    kv: &mut Kv,
    clerks: &[ClientId],
    counts: &[u64],
) -> Result<(), String> {
    kv.finish(clerks)?;
    let value = kv.all_agree("k")?;
    check_appends(&value, counts)?;
    let deadline = kv.sim.now_us() + 5 * SECOND_US;
    let servers = kv.servers();
    kv.sim
        .run_until(deadline, |s| {
            let applied: Vec<_> = (0..servers)
                .filter_map(|i| s.node(NodeId(i)).map(|r| r.next_apply()))
                .collect();
            applied.windows(2).all(|w| w[0] == w[1])
        })
        .map_err(|e| format!("replicas did not converge: {e}; {}", kv.describe()))?;
    for i in 1..servers {
        ensure(kv.replica(i).state() == kv.replica(0).state(), || {
            format!("replica {i} holds another store than replica 0")
        })?;
    }
    kv.check_linearizable()
}

/// Three durable replicas under load from four clerks; each replica in turn crashes (its
/// unsynced appends torn at a random byte), stays down 300 ms while the others serve, and
/// restarts on its directory, twice round. The restarted replica must recover its log and
/// snapshot, rejoin and catch up; nothing acknowledged is lost. 20 seeds; soak:
/// `SIM_SEEDS=200 cargo test --release -p kvpaxos --test it -- sim_durable`.
#[test]
fn each_replica_crashes_and_recovers_from_its_disk() {
    sim::for_each_seed!(20, |seed| {
        let (config, mut kv, clerks, mut counts) = cluster(seed, 3, 4);
        for round in 0..6u32 {
            let victim = round % 3;
            load(&mut kv, &clerks, 400 * MS_US, &mut counts)?;
            kv.sim.crash(NodeId(victim));
            load(&mut kv, &clerks, 300 * MS_US, &mut counts)?;
            kv.restart_durable(victim, &config, 0)?;
            load(&mut kv, &clerks, 300 * MS_US, &mut counts)?;
        }
        ensure(kv.replica(0).stats().snapshots_taken > 0, || {
            "no snapshot was taken: the test does not cover rotation".into()
        })?;
        settle_and_check(&mut kv, &clerks, &counts)
    });
}

/// Every replica crashes at the same instant in the middle of the load (operations in
/// flight), and all restart on their directories 200 ms later: every acknowledged append is
/// still there, each in-flight one runs at most once, and the cluster serves again. Three
/// times per run. 20 seeds.
#[test]
fn all_replicas_crash_at_once_and_keep_every_acknowledged_write() {
    sim::for_each_seed!(20, |seed| {
        let (config, mut kv, clerks, mut counts) = cluster(seed, 3, 4);
        for _ in 0..3 {
            load(&mut kv, &clerks, 500 * MS_US, &mut counts)?;
            for i in 0..3 {
                kv.sim.crash(NodeId(i));
            }
            kv.run_for(200 * MS_US)?;
            for i in 0..3 {
                kv.restart_durable(i, &config, 0)?;
            }
        }
        load(&mut kv, &clerks, 500 * MS_US, &mut counts)?;
        settle_and_check(&mut kv, &clerks, &counts)
    });
}

/// A replica that lost its disk restarts with an empty directory and a new incarnation. The
/// others recorded its old one on their disks, so they ignore it until it has fenced off what
/// it forgot (paxos::rejoin); it must then vote again (from a later instance) within 3 s, and
/// the cluster must survive another failure: replica 0 crashes and stays down while the load
/// goes on through replica 1 and the rejoined replica 2. Every append is there once at the
/// end and the history is linearizable (SPEC §9.3 Test5OneLostDisk, then a further failure).
/// 20 seeds.
#[test]
fn a_replica_that_lost_its_disk_rejoins_and_the_cluster_survives_another_failure() {
    sim::for_each_seed!(20, |seed| {
        let (config, mut kv, clerks, mut counts) = cluster(seed, 3, 3);
        load(&mut kv, &clerks, 500 * MS_US, &mut counts)?;
        kv.sim.crash_and_lose_disk(NodeId(2));
        load(&mut kv, &clerks, 200 * MS_US, &mut counts)?;
        kv.restart_durable(2, &config, 1)?;
        wait_until_voting(&mut kv, 2)?;
        load(&mut kv, &clerks, 300 * MS_US, &mut counts)?;
        kv.finish(&clerks)?;
        kv.sim.crash(NodeId(0));
        let before: u64 = counts.iter().sum();
        load(&mut kv, &clerks, SECOND_US, &mut counts)?;
        kv.finish(&clerks)?;
        let during: u64 = counts.iter().sum::<u64>() - before;
        ensure(during >= 10, || {
            format!(
                "only {during} appends with replica 0 down: the rejoined replica does not vote; {}",
                kv.describe()
            )
        })?;
        kv.restart_durable(0, &config, 0)?;
        load(&mut kv, &clerks, 300 * MS_US, &mut counts)?;
        settle_and_check(&mut kv, &clerks, &counts)
    });
}

/// Waits at most 3 s until replica `i` votes again (it has rejoined and serves).
pub(crate) fn wait_until_voting(kv: &mut Kv, i: u32) -> Result<(), String> {
    let deadline = kv.sim.now_us() + 3 * SECOND_US;
    kv.sim
        .run_until(deadline, |s| {
            s.node(NodeId(i)).is_some_and(|r| {
                !r.is_unavailable() && !r.peer().is_amnesiac() && !r.peer().is_joining()
            })
        })
        .map_err(|e| format!("replica {i} did not rejoin: {e}; {}", kv.describe()))
}

/// Two of three replicas lose their disks and restart empty: the one replica with state
/// cannot form a majority alone, and the wiped ones must not help it invent one, so no
/// operation completes in 3 s (SPEC §9.3 RejoinMix1's "a Get must not succeed"); what did
/// complete before is linearizable. 20 seeds.
#[test]
fn a_majority_that_lost_its_disks_stops_serving() {
    sim::for_each_seed!(20, |seed| {
        let (config, mut kv, clerks, mut counts) = cluster(seed, 3, 3);
        load(&mut kv, &clerks, 500 * MS_US, &mut counts)?;
        kv.finish(&clerks)?;
        for i in [1, 2] {
            kv.sim.crash_and_lose_disk(NodeId(i));
        }
        kv.run_for(100 * MS_US)?;
        for i in [1, 2] {
            kv.restart_durable(i, &config, 1)?;
        }
        let probe = kv.shuffled_clerk();
        kv.invoke(probe, get("k"));
        kv.run_for(3 * SECOND_US)?;
        ensure(!kv.sim.is_idle(probe), || {
            format!(
                "a Get completed with a majority of disks lost: {:?}; {}",
                kv.take(probe),
                kv.describe()
            )
        })?;
        kv.check_linearizable()
    });
}

/// SETs the disk-use run does (SPEC §9.3 Test5DiskUse in spirit); `DISK_USE_SETS` overrides.
const DISK_USE_SETS: u64 = 100_000;
/// Bytes of each value.
const DISK_USE_VALUE_BYTES: usize = 1_000;
/// Keys the SETs go to.
const DISK_USE_KEYS: u64 = 10;

/// 100,000 Puts of 1 KB values over 10 keys by 10 clerks on three durable replicas with the
/// default config. Sampled every 1,000 operations and at the end, each replica's durable
/// bytes stay within twice its live data (the store and sessions) plus a fixed allowance of
/// `snapshot_every_bytes` x 1.25 + 1 MiB: the log between two snapshots (each entry's bytes
/// once as a vote, plus record framing and the commit records), the records of batches in
/// flight, and the identity file. Without rotation the log would reach 100 MB. Then all three
/// crash and restart: the bound still holds and every value is there. One seed; the maximum
/// seen is printed (`--nocapture`; 8.5 MB for 11.6 KB live when written).
#[test]
fn disk_use_stays_proportional_to_live_data() {
    sim::for_each_seed!(1, |seed| {
        let config = Config::default();
        let sets = std::env::var("DISK_USE_SETS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DISK_USE_SETS);
        let mut kv = Kv::durable(seed, 3, &config);
        let clerks: Vec<_> = (0..10).map(|_| kv.shuffled_clerk()).collect();
        let allowance = config.snapshot_every_bytes * 5 / 4 + (1 << 20);
        let mut done = 0u64;
        let mut worst = (0u64, 0u64);
        while done < sets {
            let until_done = (done + 1_000).min(sets);
            let mut started = done;
            kv.drive(&clerks, u64::MAX, 0, |kv, i, _| {
                (started < until_done).then(|| {
                    started += 1;
                    let key = (kv.sim.rng().below(DISK_USE_KEYS)).to_string();
                    let fill = char::from(b'a' + (started % 26) as u8);
                    let mut value = format!("{i}:{started}:");
                    value.extend(std::iter::repeat_n(
                        fill,
                        DISK_USE_VALUE_BYTES - value.len(),
                    ));
                    put(&key, &value)
                })
            })?;
            done = until_done;
            for r in 0..3 {
                let replica = kv.replica(r);
                let live = (replica.state().retained_bytes()
                    + replica.sessions().retained_bytes(|_| 64)) as u64;
                let disk = kv.sim.disk_bytes(NodeId(r));
                if disk > worst.0 {
                    worst = (disk, live);
                }
                ensure(disk <= 2 * live + allowance, || {
                    format!(
                        "replica {r} holds {disk} bytes on disk for {live} live after {done} Puts \
                         (allowance {allowance})"
                    )
                })?;
            }
        }
        println!(
            "disk use: at most {} bytes on one replica ({} live) over {sets} Puts",
            worst.0, worst.1
        );
        // As Test5DiskUse: the bound holds after all crash, and after they restart, and the
        // values are still there.
        let before: Vec<String> = (0..DISK_USE_KEYS)
            .map(|k| kv.op(clerks[0], get(&k.to_string())))
            .collect::<Result<_, _>>()?;
        for r in 0..3 {
            kv.sim.crash(NodeId(r));
        }
        for r in 0..3 {
            kv.restart_durable(r, &config, 0)?;
        }
        for (k, value) in before.iter().enumerate() {
            kv.check(clerks[1], &k.to_string(), value)?;
        }
        for r in 0..3 {
            let disk = kv.sim.disk_bytes(NodeId(r));
            ensure(disk <= 2 * worst.1 + allowance, || {
                format!("replica {r} holds {disk} bytes after restarting")
            })?;
        }
        kv.check_linearizable()
    });
}

/// Injected disk errors (fsync EIO 0.2 % of Syncs, a failed write or append 0.05 %): a
/// replica whose disk fails stops at once, as the runtime does, so nothing that was not
/// durable is acknowledged; 200 ms later it restarts on what its disk kept. Four clerks load
/// the cluster for 3 s. Every append acknowledged is there once at the end, the history is
/// linearizable, and the errors did happen (over the seeds). 20 seeds.
#[test]
fn injected_disk_errors_stop_a_replica_and_lose_nothing_acknowledged() {
    let mut errors = 0;
    sim::for_each_seed!(20, |seed| {
        let (config, mut kv, clerks, mut counts) = cluster(seed, 3, 4);
        kv.sim.set_disk_faults(sim::DiskFaultConfig {
            sync_error: 0.002,
            write_error: 0.0005,
        });
        let mut down_since = [None; 3];
        for _ in 0..30 {
            load(&mut kv, &clerks, 100 * MS_US, &mut counts)?;
            let now = kv.sim.now_us();
            for i in 0..3u32 {
                let since = &mut down_since[i as usize];
                if kv.sim.is_up(NodeId(i)) {
                    *since = None;
                } else if since.is_none() {
                    *since = Some(now);
                } else if since.is_some_and(|t| now >= t + 200 * MS_US) {
                    kv.restart_durable(i, &config, 0)?;
                    *since = None;
                }
            }
        }
        kv.sim.set_disk_faults(sim::DiskFaultConfig::none());
        for i in 0..3 {
            errors += kv.sim.stats(NodeId(i)).disk_errors;
            if !kv.sim.is_up(NodeId(i)) {
                kv.restart_durable(i, &config, 0)?;
            }
        }
        settle_and_check(&mut kv, &clerks, &counts)
    });
    assert!(
        errors > 0,
        "no disk error was injected: the test tests nothing"
    );
    println!("{errors} disk errors injected");
}

/// A replica restarted on its disk replays registrations it proposed in its previous run;
/// they must not answer the clients that register with it now (waiter numbers start again at
/// every run: `dsys kv serve` handed a new client an old session, whose cached answers it then
/// read). Three clerks pinned to replica 0 register and write; 0 crashes and restarts; three
/// new clerks pinned to it register at once and read every key. 20 seeds.
#[test]
fn a_restarted_replica_gives_new_clients_new_sessions() {
    sim::for_each_seed!(20, |seed| {
        let config = config();
        let mut kv = Kv::durable(seed, 3, &config);
        for round in 0..2u32 {
            let clerks: Vec<_> = (0..3).map(|_| kv.clerk(&[0])).collect();
            for (i, &c) in clerks.iter().enumerate() {
                kv.op(c, put(&format!("k{i}"), &format!("round {round}")))?;
            }
            kv.sim.crash(NodeId(0));
            kv.restart_durable(0, &config, 0)?;
            let readers: Vec<_> = (0..3).map(|_| kv.clerk(&[0])).collect();
            for (i, &c) in readers.iter().enumerate() {
                kv.check(c, &format!("k{i}"), &format!("round {round}"))?;
            }
        }
        kv.check_linearizable()
    });
}

/// A member that loses its disk before the cluster formed is simply new: the others, still
/// joining, never voted nor counted a vote, so they adopt its new incarnation instead of
/// waiting forever for a peer with state to vouch for it. Replica 0's Hello reaches 1 and 2
/// (so they know its first incarnation) but nothing comes back to it; it loses its disk,
/// restarts, and the cluster must form and serve. 20 seeds.
#[test]
fn a_member_wiped_before_the_cluster_formed_starts_anew() {
    sim::for_each_seed!(20, |seed| {
        let config = config();
        let mut kv = Kv::durable(seed, 3, &config);
        for other in [1, 2] {
            kv.sim.cut(NodeId(other), NodeId(0));
        }
        kv.run_for(300 * MS_US)?;
        ensure(kv.replica(1).peer().is_joining(), || {
            "the cluster formed although replica 0 heard nobody".into()
        })?;
        kv.sim.crash_and_lose_disk(NodeId(0));
        kv.sim.heal();
        kv.restart_durable(0, &config, 1)?;
        let clerk = kv.shuffled_clerk();
        kv.op(clerk, put("k", "formed"))?;
        kv.check(clerk, "k", "formed")?;
        kv.check_linearizable()
    });
}
