//! Kill, crash, disk loss and restart (SPEC §1.6, §12): only synced writes survive a crash,
//! nothing survives a disk loss, and a restarted node is rebuilt from what survived.

use crate::toys::{Clerk, Echo, RegOp, Register, echo_sim};
use bytes::Bytes;
use rpc::{DiskImage, NodeId};
use sim::{NodeStatus, Sim, SimConfig};

const N0: NodeId = NodeId(0);
const N1: NodeId = NodeId(1);

fn file(disk: &DiskImage, name: &str) -> Option<Vec<u8>> {
    disk.get(name).map(|b| b.to_vec())
}

/// Writes "a" and syncs, then writes "b" and removes "a" without syncing.
fn write_a_sync_write_b(sim: &mut Sim<Echo>) {
    sim.call(N0, |_, out| {
        out.write("a", Bytes::from_static(b"1"));
        out.sync();
        out.write("b", Bytes::from_static(b"2"));
        out.remove("a");
    });
}

/// A crash keeps what was synced and loses what was not; restart hands the survivor to the
/// builder.
#[test]
fn crash_keeps_synced_writes_and_loses_the_rest() {
    let mut sim = echo_sim(21, 1);
    write_a_sync_write_b(&mut sim);
    assert_eq!(sim.disk_pending(N0), 2);
    sim.crash(N0);
    assert_eq!(sim.status(N0), NodeStatus::Crashed);
    assert!(sim.node(N0).is_none());
    assert_eq!(file(sim.disk(N0), "a"), Some(b"1".to_vec()));
    assert_eq!(file(sim.disk(N0), "b"), None);
    let mut seen = None;
    sim.restart(N0, |disk| {
        seen = Some(disk.clone());
        Echo::default()
    });
    assert_eq!(seen.unwrap().keys().collect::<Vec<_>>(), vec!["a"]);
    assert!(sim.is_up(N0));
}

/// A crash with disk loss leaves an empty disk, synced or not.
#[test]
fn lose_disk_loses_everything() {
    let mut sim = echo_sim(22, 1);
    write_a_sync_write_b(&mut sim);
    sim.crash_and_lose_disk(N0);
    assert!(sim.disk(N0).is_empty());
    assert_eq!(sim.disk_pending(N0), 0);
    sim.restart(N0, |disk| {
        assert!(disk.is_empty());
        Echo::default()
    });
}

/// A clean kill flushes pending writes (the process closed its files), stops the node's ticks,
/// and every later message to it is dropped.
#[test]
fn killed_node_receives_nothing() {
    let mut sim = echo_sim(23, 2);
    write_a_sync_write_b(&mut sim);
    sim.kill(N1);
    sim.kill(N0);
    assert_eq!(file(sim.disk(N0), "b"), Some(b"2".to_vec()));
    assert_eq!(file(sim.disk(N0), "a"), None);
    let ticks = sim.stats(N1).ticks;
    let mut sim2 = echo_sim(23, 2);
    sim2.kill(N1);
    sim2.call(N0, |n, _| n.ping_on_tick = Some(N1));
    sim2.run_for(1_000_000).unwrap();
    assert_eq!(sim2.stats(N1).requests_received, 0);
    assert!(
        sim2.stats(N1).dropped.down >= 99,
        "pings to a killed node: {:?}",
        sim2.stats(N1)
    );
    assert_eq!(sim2.status(N1), NodeStatus::Killed);
    sim.run_for(1_000_000).unwrap();
    assert_eq!(sim.stats(N1).ticks, ticks, "a killed node ticked");
}

/// A message in flight to a node that crashes is dropped on arrival, even if the node has
/// restarted by then: it was addressed to the old process. The new process ticks again.
#[test]
fn in_flight_message_to_crashed_node_is_dropped_after_restart() {
    let mut config = SimConfig::new(24);
    (config.latency_us_min, config.latency_us_max) = (5_000, 5_000);
    let mut sim = Sim::<Echo>::new(config, vec![Echo::default(), Echo::default()]);
    sim.call(N0, |n, out| n.ping(N1, out));
    sim.run_for(1_000).unwrap();
    sim.crash(N1);
    sim.restart(N1, |_| Echo::default());
    sim.run_for(10_000).unwrap();
    assert!(sim.node(N1).unwrap().pings.is_empty());
    assert_eq!(sim.stats(N1).dropped.down, 1);
    sim.call(N0, |n, out| n.ping(N1, out));
    sim.run_for(100_000).unwrap();
    assert_eq!(
        sim.node(N1).unwrap().pings.len(),
        1,
        "the new process is reachable"
    );
    assert!(sim.node(N1).unwrap().ticks >= 9, "the new process ticks");
}

/// A durable register survives crash and restart through its synced file; the clerk's writes
/// made before the crash are all there.
#[test]
fn restart_rebuilds_state_from_disk() {
    let mut sim: Sim<Register, Clerk> = Sim::new(
        SimConfig::new(25),
        vec![Register {
            durable: true,
            ..Register::default()
        }],
    );
    let c = sim.add_client(Clerk::new(1, vec![N0], 3));
    for value in 1..=5 {
        sim.run_op(c, RegOp::Put(value), 1_000_000).unwrap();
    }
    sim.crash(N0);
    sim.restart(N0, Register::recover);
    assert_eq!(sim.node(N0).unwrap().value, 5);
    assert_eq!(sim.run_op(c, RegOp::Get, 1_000_000).unwrap().output, 5);
}

/// Syncs three framed records to "wal", then appends three more (one `Append` of two records,
/// then one of one) without syncing, crashes, and returns what the disk kept.
fn crash_with_unsynced_records(seed: u64) -> (Bytes, u64) {
    use rpc::record::encode_record;
    let mut sim = echo_sim(seed, 1);
    sim.call(N0, |_, out| {
        for payload in [b"s1", b"s2", b"s3"] {
            out.append("wal", encode_record(payload));
        }
        out.sync();
        let mut two = encode_record(b"unsynced-4").to_vec();
        two.extend_from_slice(&encode_record(b"unsynced-5"));
        out.append("wal", Bytes::from(two));
        out.append("wal", encode_record(b"unsynced-6"));
    });
    sim.crash(N0);
    (sim.disk(N0)["wal"].clone(), sim.trace_hash())
}

/// Goal: a crash keeps a seeded-random byte prefix of unsynced appends (driver contract 5):
/// synced records always survive, unsynced ones partly, and a torn last record really occurs.
/// Method: 100 seeds of `crash_with_unsynced_records`; each outcome decodes with every synced
/// record intact, a prefix of the unsynced ones, and a Clean or Torn tail. Across seeds the
/// outcomes must include none kept, all kept, and torn tails; each seed replays exactly.
#[test]
fn crash_keeps_a_seeded_prefix_of_unsynced_appends() {
    use rpc::record::{Tail, decode_records};
    let unsynced: [&[u8]; 3] = [b"unsynced-4", b"unsynced-5", b"unsynced-6"];
    let (mut torn, mut kept_counts) = (0, std::collections::BTreeSet::new());
    for seed in 0..100 {
        let (wal, hash) = crash_with_unsynced_records(seed);
        assert_eq!(
            (wal.clone(), hash),
            crash_with_unsynced_records(seed),
            "seed {seed}: same seed, same disk and trace"
        );
        let (records, tail) = decode_records(&wal);
        assert!(
            records.len() >= 3,
            "seed {seed}: synced records lost: {records:?}"
        );
        assert_eq!(
            records[..3],
            [b"s1".as_slice(), b"s2", b"s3"],
            "seed {seed}"
        );
        assert_eq!(records[3..], unsynced[..records.len() - 3], "seed {seed}");
        match tail {
            Tail::Clean => {}
            Tail::Torn { .. } => torn += 1,
            Tail::Corrupt { .. } => panic!("seed {seed}: a crash must never look like corruption"),
        }
        kept_counts.insert(records.len() - 3);
    }
    assert_eq!(
        kept_counts,
        (0..=3).collect(),
        "every number of unsynced records kept"
    );
    assert!(torn >= 10, "torn tails in only {torn} of 100 seeds");
}

/// Goal: an unsynced truncate may or may not survive a crash, and an append after it survives
/// only if it did; a synced truncate always holds.
/// Method: "abcdef" synced; then truncate to 2 and append "XY" unsynced; crash, over 100 seeds.
#[test]
fn unsynced_truncate_may_or_may_not_survive_a_crash() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..100 {
        let mut sim = echo_sim(seed, 1);
        sim.call(N0, |_, out| {
            out.append("log", Bytes::from_static(b"abcdef"));
            out.sync();
            out.truncate("log", 2);
            out.append("log", Bytes::from_static(b"XY"));
        });
        sim.crash(N0);
        seen.insert(file(sim.disk(N0), "log").unwrap());
    }
    let allowed: std::collections::BTreeSet<Vec<u8>> = [&b"abcdef"[..], b"ab", b"abX", b"abXY"]
        .iter()
        .map(|b| b.to_vec())
        .collect();
    assert_eq!(seen, allowed);

    let mut sim = echo_sim(1, 1);
    sim.call(N0, |_, out| {
        out.append("log", Bytes::from_static(b"abcdef"));
        out.truncate("log", 3);
        out.sync();
    });
    sim.crash(N0);
    assert_eq!(file(sim.disk(N0), "log"), Some(b"abc".to_vec()));
}

/// Goal: a clean kill keeps every append (the process closed its files); a disk loss keeps none.
#[test]
fn kill_keeps_appends_and_disk_loss_drops_them() {
    let mut sim = echo_sim(26, 2);
    for id in [N0, N1] {
        sim.call(id, |_, out| {
            out.append("log", Bytes::from_static(b"unsynced"))
        });
    }
    sim.kill(N0);
    sim.crash_and_lose_disk(N1);
    assert_eq!(file(sim.disk(N0), "log"), Some(b"unsynced".to_vec()));
    assert!(sim.disk(N1).is_empty());
}

/// Goal: a core that truncates a file it does not have breaks the disk contract, and the
/// simulator says which node did.
#[test]
#[should_panic(expected = "node n0 broke the disk contract")]
fn truncating_a_missing_file_panics_naming_the_node() {
    let mut sim = echo_sim(27, 1);
    sim.call(N0, |_, out| out.truncate("absent", 0));
}

/// Goal: a restart after a kill or a crash pads the end of every file the previous process
/// appended to with zeros (the runtime preallocates), leaves files only written whole alone,
/// and a restart after a disk loss finds nothing; the same seed pads the same way.
/// Method: "log" appended and "snap" written, synced; kill or crash, restart, over 40 seeds.
#[test]
fn restart_pads_appended_files_with_zeros() {
    let run = |seed, crash: bool| {
        let mut sim = echo_sim(seed, 1);
        sim.call(N0, |_, out| {
            out.append("log", Bytes::from_static(b"records"));
            out.write("snap", Bytes::from_static(b"whole"));
            out.sync();
        });
        if crash {
            sim.crash(N0);
        } else {
            sim.kill(N0);
        }
        let mut seen = DiskImage::new();
        sim.restart(N0, |disk| {
            seen = disk.clone();
            Echo::default()
        });
        assert_eq!(
            &seen,
            sim.disk(N0),
            "the restarted core reads the padded image"
        );
        (seen, sim.trace_hash())
    };
    let mut padded = 0;
    for seed in 0..40 {
        for crash in [false, true] {
            let (disk, hash) = run(seed, crash);
            assert_eq!(
                (disk.clone(), hash),
                run(seed, crash),
                "seed {seed}: replay"
            );
            let log = &disk["log"];
            assert_eq!(&log[..7], b"records", "seed {seed}");
            assert!(log[7..].iter().all(|&b| b == 0), "seed {seed}: {log:?}");
            assert_eq!(disk["snap"], Bytes::from_static(b"whole"), "seed {seed}");
            padded += usize::from(log.len() > 7);
        }
    }
    assert!(padded > 40, "padded in {padded} of 80 restarts");

    let mut sim = echo_sim(28, 1);
    sim.call(N0, |_, out| out.append("log", Bytes::from_static(b"x")));
    sim.crash_and_lose_disk(N0);
    sim.restart(N0, |disk| {
        assert!(disk.is_empty());
        Echo::default()
    });
}

/// Goal: after a restart, a core that appends to a file it found on disk without truncating
/// it first breaks the disk contract (the end may be reserved zeros), and the simulator says
/// which node did.
#[test]
#[should_panic(expected = "node n0 broke the disk contract: append to \"log\"")]
fn appending_to_a_file_found_at_boot_without_truncating_panics_naming_the_node() {
    let mut sim = echo_sim(29, 1);
    sim.call(N0, |_, out| {
        out.append("log", Bytes::from_static(b"abc"));
        out.sync();
    });
    sim.kill(N0);
    sim.restart(N0, |_| Echo::default());
    sim.call(N0, |_, out| out.append("log", Bytes::from_static(b"def")));
}

/// Goal: a restarted core that cuts a file it found to its real length may append to it, as
/// may one that creates a new file; the zeros are gone from the result.
#[test]
fn appending_after_truncating_to_the_real_length_is_allowed() {
    for seed in 0..20 {
        let mut sim = echo_sim(seed, 1);
        sim.call(N0, |_, out| {
            out.append("log", Bytes::from_static(b"abc"));
            out.sync();
        });
        sim.crash(N0);
        sim.restart(N0, |_| Echo::default());
        sim.call(N0, |_, out| {
            out.truncate("log", 3);
            out.append("log", Bytes::from_static(b"def"));
            out.append("new", Bytes::from_static(b"1"));
            out.append("new", Bytes::from_static(b"2"));
            out.sync();
        });
        assert_eq!(
            file(sim.disk(N0), "log"),
            Some(b"abcdef".to_vec()),
            "seed {seed}"
        );
        assert_eq!(
            file(sim.disk(N0), "new"),
            Some(b"12".to_vec()),
            "seed {seed}"
        );
    }
}
