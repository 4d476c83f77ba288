//! The replication layer is generic: a counter (not a key/value store) replicated by
//! `rsm::Replica` stays linearizable under a network that loses, duplicates and delays
//! messages and partitions that change every few hundred milliseconds, and every replica ends
//! in the same state.

use crate::common::*;
use rpc::ClientId;
use rsm::Config;
use sim::FaultConfig;

/// Replicas in the cluster.
const SERVERS: u32 = 5;
/// Clerks, each preferring its own replica (two per replica) and trying the others after it.
const CLERKS: u32 = 10;
/// Virtual time under chaos.
const CHAOS_US: u64 = 20 * SECOND_US;
/// The shortest and longest time one partition lasts before it is drawn again.
const PHASE_US_MIN: u64 = 100 * MS_US;
/// See [`PHASE_US_MIN`].
const PHASE_US_MAX: u64 = 500 * MS_US;
/// Once healed, one operation may take this long at most: a majority is back, so anything
/// slower is a liveness bug (a clerk's retry plus a leader change take a few hundred ms).
const HEALED_OP_US_MAX: u64 = 2 * SECOND_US;
/// How long the replicas may take, healed and idle, to apply the same log prefix.
const CONVERGE_US_MAX: u64 = 5 * SECOND_US;

/// Five counter replicas with the default config (no snapshot in so short a run: the log is
/// forgotten through Paxos `done`), ten clerks adding and reading at random for 20 s of
/// virtual time (some 1,500 operations, many pending for seconds in a minority). Every
/// 100–500 ms the replicas are split at random into up to three groups, or (one time in four)
/// healed; all along the network is in SPEC §1.2 unreliable mode and also loses 2 %,
/// duplicates 2 % and holds back 2 % of messages by up to 200 ms. Then everything heals:
/// pending operations finish, every clerk completes an Add and a Read within 2 s, every
/// replica applies the same prefix and holds the same counter and sessions, a final Read
/// answers what the replicas hold, and the whole history (one partition: every operation
/// touches the one counter) is linearizable. 30 seeds; soak:
/// `SIM_SEEDS=500 cargo test --release -p rsm --test it -- sim_counter`.
#[test]
fn counter_is_linearizable_under_chaos() {
    sim::for_each_seed!(30, |seed| chaos(seed, &Config::default()));
}

/// [`counter_is_linearizable_under_chaos`] with a snapshot every 40 slots, so replicas compact
/// their logs during the chaos, whatever the others applied, and a replica coming back from a
/// minority may have to catch up through a snapshot pulled from a peer while messages are
/// still lost and partitions still change (most seeds install a few). 30 seeds.
#[test]
fn counter_is_linearizable_under_chaos_with_frequent_snapshots() {
    let config = Config {
        snapshot_every_slots: 40,
        ..Config::default()
    };
    sim::for_each_seed!(30, |seed| chaos(seed, &config));
}

fn chaos(seed: u64, config: &Config) -> Result<(), String> {
    let mut cluster = Cluster::new(seed, SERVERS, config);
    cluster.sim.set_faults(FaultConfig {
        loss: 0.02,
        duplicate: 0.02,
        delay: 0.02,
        delay_us_max: 200 * MS_US,
        unreliable: true,
    });
    let clerks = cluster.clerks(CLERKS);
    let mut next = |c: &mut Cluster, _: usize| Some(random_cmd(c));
    let end = cluster.sim.now_us() + CHAOS_US;
    while cluster.sim.now_us() < end {
        redraw_partition(&mut cluster);
        let phase = PHASE_US_MIN + cluster.sim.rng().below(PHASE_US_MAX - PHASE_US_MIN + 1);
        let until = (cluster.sim.now_us() + phase).min(end);
        cluster.drive_for(&clerks, until, MS_US, &mut next)?;
    }
    cluster.sim.heal();
    cluster.sim.set_faults(FaultConfig::none());
    cluster.finish(&clerks)?;
    every_clerk_completes(&mut cluster, &clerks)?;
    cluster.converge(CONVERGE_US_MAX)?;
    let total = cluster.replica(0).state().total();
    let read = cluster.op(clerks[0], CounterCmd::Read)?;
    ensure(read == total, || {
        format!("a final Read answered {read}, the replicas hold {total}")
    })?;
    cluster.check_linearizable()
}

/// Every clerk completes an Add and a Read within [`HEALED_OP_US_MAX`] each.
fn every_clerk_completes(cluster: &mut Cluster, clerks: &[ClientId]) -> Result<(), String> {
    for (i, &c) in clerks.iter().enumerate() {
        for cmd in [CounterCmd::Add(1), CounterCmd::Read] {
            cluster.invoke(c, cmd);
            let deadline = cluster.sim.now_us() + HEALED_OP_US_MAX;
            cluster
                .sim
                .run_until(deadline, |s| s.is_idle(c))
                .map_err(|e| {
                    format!(
                        "clerk {i}: {cmd:?} after the heal: {e}; {}",
                        cluster.describe()
                    )
                })?;
            cluster.take(c);
        }
    }
    Ok(())
}

/// The most open sessions in [`an_evicted_session_never_runs_a_command_twice`].
const SESSIONS_MAX: usize = 3;

/// At most once survives session eviction: three replicas with a session table of 3 and four
/// clerks adding and reading for 2 s of virtual time under SPEC §1.2 unreliable delivery, so
/// answers are lost, clerks retry, and sessions keep being evicted by the others'
/// registrations. A clerk whose retry is refused `SessionExpired` must never make a command
/// run twice (it reports the command as maybe-run instead, and it stays pending in the
/// history); the history (every Add answers the new total, so a second run shows) must be
/// linearizable. 20 seeds. (The clerk used to run the command again in a new session: seed 0
/// ran an Add twice.) Pending Adds make the counter's search exponential, hence the small load.
#[test]
fn an_evicted_session_never_runs_a_command_twice() {
    let config = Config {
        sessions_max: SESSIONS_MAX,
        ..Config::default()
    };
    sim::for_each_seed!(20, |seed| {
        let mut cluster = Cluster::new(seed, 3, &config);
        cluster.sim.set_faults(FaultConfig::unreliable());
        let clerks = cluster.clerks(4);
        let mut next = |c: &mut Cluster, _: usize| Some(random_cmd(c));
        let end = cluster.sim.now_us() + 2 * SECOND_US;
        cluster.drive_for(&clerks, end, MS_US, &mut next)?;
        cluster.sim.set_faults(FaultConfig::none());
        cluster.finish(&clerks)?;
        cluster.converge(CONVERGE_US_MAX)?;
        cluster.check_linearizable()
    });
}
