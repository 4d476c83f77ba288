//! Injected disk I/O errors: a failed `Sync`, `Write` or `Append` stops the node at that effect,
//! as the TCP runtime stops a node whose disk fails and as a crash would. Nothing after the failed
//! effect leaves, the disk keeps what a crash keeps, and nothing acknowledged is ever missing.

use crate::toys::{Clerk, Echo, RegOp, RegReq, RegResp, Register, echo_sim};
use bytes::Bytes;
use rpc::record::{Tail, decode_records, encode_record};
use rpc::{DiskImage, Node, NodeId, NodeOutbox, ReqId};
use sim::{DiskFault, DiskFaultConfig, NodeStatus, Sim, SimConfig};

const N0: NodeId = NodeId(0);
const N1: NodeId = NodeId(1);
const MS_US: u64 = 1_000;

/// A log server. Each Put appends one framed record `(value, epoch)` to "wal", syncs, tells its
/// mirror peer (if it has one) the same pair, then replies: a reply or a mirror message promises
/// that the record is on disk. No dedup: a retried Put is appended again, and the epoch (which
/// process appended it) tells the retry's record from the lost one.
#[derive(Debug, Default)]
struct Journal {
    mirror: Option<NodeId>,
    epoch: u64,
    /// Values recovered from the disk, then every value appended by this process.
    records: Vec<u64>,
    /// Records a peer told this node about.
    mirrored: Vec<Entry>,
    /// Where the log's content found at recovery ends (before a torn tail or reserved zeros),
    /// to cut the file to before the next append.
    cut_at: Option<u64>,
}

/// One record of the journal: a value and the epoch of the process that appended it.
type Entry = (u64, u64);

impl Journal {
    fn new(mirror: Option<NodeId>) -> Self {
        Journal {
            mirror,
            ..Journal::default()
        }
    }

    /// Rebuilds the journal from its disk, as process number `epoch`: the valid records, and
    /// where they end. The log is cut there even when its tail is clean: the driver may have
    /// reserved zeros past the end, and forbids appending to a file found on disk before
    /// truncating it to its real length.
    fn recover(disk: &DiskImage, mirror: Option<NodeId>, epoch: u64) -> Self {
        let (records, torn_at) = wal_records(disk);
        let cut_at = disk
            .get("wal")
            .map(|wal| torn_at.unwrap_or(wal.len() as u64));
        Journal {
            mirror,
            epoch,
            records,
            cut_at,
            ..Journal::default()
        }
    }

    /// The values its mirror was told.
    fn mirrored_values(&self) -> Vec<u64> {
        self.mirrored.iter().map(|&(value, _)| value).collect()
    }

    fn cut_torn_tail(&mut self, out: &mut NodeOutbox<Self>) {
        if let Some(len) = self.cut_at.take() {
            out.truncate("wal", len);
        }
    }
}

fn encode_entry((value, epoch): Entry) -> Bytes {
    let mut payload = value.to_le_bytes().to_vec();
    payload.extend_from_slice(&epoch.to_le_bytes());
    encode_record(&payload)
}

/// The records in "wal" and where its torn tail starts, if it has one.
///
/// # Panics
/// If the log is corrupt: a crash or a failed write may tear its tail, never damage it.
fn wal_entries(disk: &DiskImage) -> (Vec<Entry>, Option<u64>) {
    let Some(wal) = disk.get("wal") else {
        return (Vec::new(), None);
    };
    let (payloads, tail) = decode_records(wal);
    let word = |p: &[u8]| u64::from_le_bytes(p.try_into().unwrap());
    let entries = payloads
        .iter()
        .map(|p| (word(&p[..8]), word(&p[8..])))
        .collect();
    match tail {
        Tail::Clean => (entries, None),
        Tail::Torn { offset } => (entries, Some(offset)),
        Tail::Corrupt { offset, cause } => panic!("wal corrupt at {offset}: {cause:?}"),
    }
}

/// The values in "wal" and where its torn tail starts, if it has one.
fn wal_records(disk: &DiskImage) -> (Vec<u64>, Option<u64>) {
    let (entries, cut_at) = wal_entries(disk);
    (
        entries.into_iter().map(|(value, _)| value).collect(),
        cut_at,
    )
}

impl Node for Journal {
    type Msg = Entry;
    type Req = RegReq;
    type Resp = RegResp;

    fn on_message(&mut self, _: NodeId, entry: Entry, _: &mut NodeOutbox<Self>) {
        self.mirrored.push(entry);
    }

    fn on_request(&mut self, req: ReqId, body: RegReq, out: &mut NodeOutbox<Self>) {
        let value = match body.op {
            RegOp::Put(value) => {
                self.cut_torn_tail(out);
                out.append("wal", encode_entry((value, self.epoch)));
                out.sync();
                if let Some(mirror) = self.mirror {
                    out.send(mirror, (value, self.epoch));
                }
                self.records.push(value);
                value
            }
            RegOp::Get => self.records.last().copied().unwrap_or(0),
        };
        out.reply(
            req,
            RegResp {
                seq: body.seq,
                value,
            },
        );
    }

    fn on_tick(&mut self, out: &mut NodeOutbox<Self>) {
        self.cut_torn_tail(out);
    }
}

/// A journal N0 that mirrors to N1, and a clerk that talks only to N0.
fn journal_sim(seed: u64) -> (Sim<Journal, Clerk>, rpc::ClientId) {
    let mut sim = Sim::new(
        SimConfig::new(seed),
        vec![Journal::new(Some(N1)), Journal::new(None)],
    );
    let clerk = sim.add_client(Clerk::new(1, vec![N0], 3));
    (sim, clerk)
}

/// Goal: a failed `Sync` stops the node before its reply and its message to a peer leave (driver
/// contract 2: nothing after a Sync that did not complete may leave); the node is down until a
/// restart, which finds every record synced before the failure, and the clerk's retry succeeds.
/// Method: two Puts acknowledged, then `fail_disk(N0, Sync)` and a third Put; 20 seeds, so the
/// crash rule keeps the unsynced third record whole, torn or not at all.
#[test]
fn failed_sync_stops_the_node_before_its_reply_and_send_leave() {
    sim::for_each_seed!(20, |seed| {
        let (mut sim, c) = journal_sim(seed);
        for value in [1, 2] {
            sim.run_op(c, RegOp::Put(value), 1_000 * MS_US)
                .map_err(|e| e.to_string())?;
        }
        sim.fail_disk(N0, DiskFault::Sync);
        sim.invoke(c, RegOp::Put(3));
        sim.run_for(300 * MS_US).map_err(|e| e.to_string())?;
        assert!(!sim.is_idle(c), "the reply to a failed Sync left the node");
        assert_eq!(sim.status(N0), NodeStatus::Crashed);
        assert!(sim.node(N0).is_none());
        assert_eq!(sim.stats(N0).disk_errors, 1);
        assert_eq!(
            sim.disk_pending(N0),
            0,
            "a stopped node keeps nothing pending"
        );
        assert_eq!(
            sim.node(N1).unwrap().mirrored_values(),
            [1, 2],
            "the send left"
        );
        let (records, _) = wal_records(sim.disk(N0));
        assert!(records == [1, 2] || records == [1, 2, 3], "{records:?}");

        sim.restart(N0, |disk| Journal::recover(disk, Some(N1), 1));
        assert_eq!(sim.node(N0).unwrap().records[..2], [1, 2]);
        sim.run_until(sim.now_us() + 1_000 * MS_US, |s| s.is_idle(c))
            .map_err(|e| e.to_string())?;
        assert_eq!(sim.take_completion(c).unwrap().output, 3);
        assert_eq!(sim.stats(N0).disk_errors, 1, "the armed error fired once");
        sim.run_for(100 * MS_US).map_err(|e| e.to_string())?;
        assert_eq!(sim.node(N1).unwrap().mirrored_values(), [1, 2, 3]);
        Ok(())
    });
}

/// Goal: the node stops exactly at the failed `Sync`: a message emitted before it has left, and
/// nothing after it (a message, more appends) is carried out.
#[test]
fn effects_before_a_failed_sync_leave_and_those_after_do_not() {
    let (mut sim, _) = journal_sim(31);
    sim.fail_disk(N0, DiskFault::Sync);
    sim.call(N0, |_, out| {
        out.send(N1, (7, 0));
        out.append("wal", encode_entry((7, 0)));
        out.sync();
        out.append("wal", encode_entry((8, 0)));
        out.send(N1, (8, 0));
        out.sync();
    });
    assert_eq!(sim.status(N0), NodeStatus::Crashed);
    sim.run_for(100 * MS_US).unwrap();
    assert_eq!(sim.node(N1).unwrap().mirrored_values(), [7]);
    let (records, _) = wal_records(sim.disk(N0));
    assert!(records.is_empty() || records == [7], "{records:?}");
}

/// Goal: an armed error belongs to the disk: it waits, across a crash and restart, for the
/// operation it fails, and other operations go through meanwhile.
#[test]
fn an_armed_disk_error_waits_for_its_operation() {
    let mut sim = echo_sim(32, 1);
    sim.fail_disk(N0, DiskFault::Sync);
    sim.call(N0, |_, out| out.append("log", Bytes::from_static(b"a")));
    sim.run_for(100 * MS_US).unwrap();
    assert!(sim.is_up(N0), "no Sync yet, so nothing failed");
    sim.crash(N0);
    sim.restart(N0, |_| Echo::default());
    sim.call(N0, |_, out| out.sync());
    assert_eq!(sim.status(N0), NodeStatus::Crashed);
    assert_eq!(sim.stats(N0).disk_errors, 1);
    sim.restart(N0, |_| Echo::default());
    sim.call(N0, |_, out| {
        out.append("log", Bytes::from_static(b"b"));
        out.sync();
    });
    assert!(sim.is_up(N0), "the error fired once and is gone");
    assert_eq!(sim.disk(N0)["log"], Bytes::from_static(b"b"));
}

/// Goal: a failed `Append` (disk full) stops the node at it: no reply, no send; the records
/// synced before are kept, and the failed one is kept whole, in part (a short write: a torn
/// tail, which recovery cuts) or not at all, never as corruption.
/// Method: one acknowledged Put, then `fail_disk(N0, Write)` and a second Put, over 200 seeds
/// (a whole record survives in about one seed in 40: the crash keeps the append, then all of it).
#[test]
fn failed_append_stops_the_node_and_may_leave_a_torn_record() {
    let (mut torn, mut whole, mut none) = (0, 0, 0);
    for seed in 0..200 {
        let (mut sim, c) = journal_sim(seed);
        sim.run_op(c, RegOp::Put(1), 1_000 * MS_US).unwrap();
        sim.fail_disk(N0, DiskFault::Write);
        sim.invoke(c, RegOp::Put(2));
        sim.run_for(300 * MS_US).unwrap();
        assert!(
            !sim.is_idle(c),
            "seed {seed}: a reply left after a failed append"
        );
        assert_eq!(sim.status(N0), NodeStatus::Crashed, "seed {seed}");
        assert_eq!(sim.node(N1).unwrap().mirrored_values(), [1], "seed {seed}");
        match wal_records(sim.disk(N0)) {
            (r, Some(_)) if r == [1] => torn += 1,
            (r, None) if r == [1, 2] => whole += 1,
            (r, None) if r == [1] => none += 1,
            other => panic!("seed {seed}: {other:?}"),
        }
        sim.restart(N0, |disk| Journal::recover(disk, Some(N1), 1));
        sim.run_until(sim.now_us() + 1_000 * MS_US, |s| s.is_idle(c))
            .unwrap();
        sim.crash(N0);
        let (records, tail) = wal_records(sim.disk(N0));
        assert_eq!(
            tail, None,
            "seed {seed}: the torn tail was cut before appending"
        );
        assert_eq!(records.first(), Some(&1), "seed {seed}");
        assert_eq!(
            records.last(),
            Some(&2),
            "seed {seed}: the acknowledged retry"
        );
    }
    assert!(
        torn > 0 && whole > 0 && none > 0,
        "torn {torn}, whole {whole}, none {none}"
    );
}

/// Goal: a failed `Write` (atomic whole-file replace, disk full) leaves the old file, and the
/// register's clerk sees no answer until the restarted node serves its retry.
#[test]
fn failed_write_keeps_the_old_file() {
    let durable = Register {
        durable: true,
        ..Register::default()
    };
    let mut sim: Sim<Register, Clerk> = Sim::new(SimConfig::new(33), vec![durable]);
    let c = sim.add_client(Clerk::new(1, vec![N0], 3));
    sim.run_op(c, RegOp::Put(1), 1_000 * MS_US).unwrap();
    sim.fail_disk(N0, DiskFault::Write);
    sim.invoke(c, RegOp::Put(2));
    sim.run_for(300 * MS_US).unwrap();
    assert!(!sim.is_idle(c));
    assert_eq!(
        sim.disk(N0)["value"],
        Bytes::copy_from_slice(&1u64.to_le_bytes())
    );
    sim.restart(N0, Register::recover);
    assert_eq!(sim.node(N0).unwrap().value, 1);
    sim.run_until(sim.now_us() + 1_000 * MS_US, |s| s.is_idle(c))
        .unwrap();
    assert_eq!(sim.take_completion(c).unwrap().output, 2);
}

/// What one run with random disk errors saw.
#[derive(Debug, PartialEq, Eq)]
struct RandomRun {
    trace_hash: u64,
    disk_errors: u64,
    restarts: u64,
}

/// 30 Puts through a journal whose Syncs fail with probability 10% and whose appends fail with
/// 2%; a stopped node is restarted from its disk, and the clerk retries. At the end the journal
/// crashes once more, and every acknowledged value, and every record (value and epoch) its
/// mirror was told of, must be in the log it recovers. The epochs matter: a retry appends the same
/// value again, which would hide a record that a message promised and a failed Sync lost.
fn random_disk_errors_run(seed: u64) -> RandomRun {
    let (mut sim, c) = journal_sim(seed);
    sim.set_disk_faults(DiskFaultConfig {
        sync_error: 0.1,
        write_error: 0.02,
    });
    let (mut acked, mut restarts) = (Vec::new(), 0);
    for value in 1..=30 {
        sim.invoke(c, RegOp::Put(value));
        let deadline_us = sim.now_us() + 60_000 * MS_US;
        while !sim.is_idle(c) {
            sim.run_until(deadline_us, |s| s.is_idle(c) || !s.is_up(N0))
                .unwrap_or_else(|e| panic!("seed {seed}, put {value}: {e}"));
            if !sim.is_up(N0) {
                restarts += 1;
                sim.restart(N0, |disk| Journal::recover(disk, Some(N1), restarts));
            }
        }
        acked.push(sim.take_completion(c).unwrap().output);
    }
    if sim.is_up(N0) {
        sim.crash(N0);
    }
    let (entries, _) = wal_entries(sim.disk(N0));
    let values: Vec<u64> = entries.iter().map(|&(value, _)| value).collect();
    for value in &acked {
        assert!(
            values.contains(value),
            "seed {seed}: {value} was acknowledged but is not on disk: {entries:?}"
        );
    }
    for entry in &sim.node(N1).unwrap().mirrored {
        assert!(
            entries.contains(entry),
            "seed {seed}: the mirror was told of {entry:?}, which is not on disk: {entries:?}"
        );
    }
    RandomRun {
        trace_hash: sim.trace_hash(),
        disk_errors: sim.stats(N0).disk_errors,
        restarts,
    }
}

/// Goal: seeded random disk errors happen, never lose an acknowledged record, and replay
/// exactly: the same seed gives the same trace hash, error count and restarts.
/// Method: `random_disk_errors_run` twice per seed over 30 seeds.
#[test]
fn random_disk_errors_occur_lose_nothing_acknowledged_and_replay() {
    let (mut seeds_with_errors, mut hashes) = (0, std::collections::BTreeSet::new());
    for seed in 0..30 {
        let run = random_disk_errors_run(seed);
        assert_eq!(
            run,
            random_disk_errors_run(seed),
            "seed {seed} replayed differently"
        );
        assert_eq!(
            run.disk_errors, run.restarts,
            "seed {seed}: every error stopped the node"
        );
        seeds_with_errors += u32::from(run.disk_errors > 0);
        hashes.insert(run.trace_hash);
    }
    assert!(
        seeds_with_errors >= 20,
        "errors in only {seeds_with_errors} of 30 seeds"
    );
    assert_eq!(hashes.len(), 30, "distinct seeds gave the same trace");
}

/// Goal: disk error probabilities are checked like the network's.
#[test]
#[should_panic(expected = "DiskFaultConfig: sync_error = 1.5 is not a probability")]
fn disk_error_probability_is_validated() {
    let mut config = SimConfig::new(0);
    config.disk_faults.sync_error = 1.5;
    let _ = Sim::<Echo>::new(config, vec![Echo::default()]);
}
