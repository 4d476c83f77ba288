//! A node's simulated disk: what survives a crash is what was synced, plus a prefix of appends,
//! and an append-only file may come back with reserved zero bytes at its end.
//!
//! Every change queues up as a pending operation; `Sync` applies them, in order, to the durable
//! image. A clean kill flushes them (the process closed its files and the OS wrote them back). A
//! disk loss clears the durable image too (SPEC §1.6 `rm -rf` of the data directory). A crash
//! (power loss) keeps, per file, what a real disk may keep of unsynced work (driver contract):
//!
//! * Pending `Write`s and `Remove`s are lost, as is everything queued on that file after them.
//! * Before a file's first pending `Write`/`Remove`, its pending `Append`s and `Truncate`s form a
//!   run. The crash keeps a seeded-random prefix of that run, in order, where the last kept
//!   `Append` may itself be cut at any byte: the torn last record a log must cut on recovery.
//!   So a `Truncate` may or may not have happened, and an append after it only if it did.
//! * A file that did not exist durably exists afterwards iff at least one op of its run was kept
//!   (possibly as an empty file).
//!
//! # Reserved space
//! The TCP runtime preallocates append-only files: it extends a file that receives `Append`s
//! with zeros and overwrites them in place, so an fdatasync need not write the inode. After a
//! restart, crash or clean stop alike, such a file may end with any number of zero bytes after
//! its real content. [`SimDisk::boot`] models that: when a process starts on a kept disk, every
//! file that received at least one `Append` from the process before it gains a seeded-random
//! number of zero bytes (none, fewer than a record header, or up to a few KiB), after the crash
//! rule above chose what survived. Only the core knows where its records end, so:
//!
//! * **Truncate first.** A core must not `Append` to a file it found on disk until it has
//!   `Truncate`d it to its real length, replaced it with `Write` or removed it. Appending to
//!   such a file is a core bug: [`SimDisk::append`] refuses it (the simulator panics naming the
//!   node), as the runtime refuses it with an error. A file the process itself created, by
//!   `Append` or `Write`, needs no truncate.
//!
//! Every draw comes from the simulator's generator, files in name order: same seed, same outcome.

use bytes::{Bytes, BytesMut};
use rpc::{DiskImage, Rng};
use std::collections::{BTreeMap, BTreeSet};

/// The most zero bytes one restart adds to one file. The runtime reserves 1 MiB at a time; the
/// simulator does not model that size, only that zeros of any length may follow the content:
/// a few KiB already cover a tail shorter and longer than a record and its header, while
/// keeping disk-use tests (kvpaxos `disk_use`) meaningful.
const PADDING_BYTES_MAX: u64 = 4_096;

/// One not-yet-durable change.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PendingOp {
    Write { file: String, bytes: Bytes },
    Remove { file: String },
    Append { file: String, bytes: Bytes },
    Truncate { file: String, len: u64 },
}

impl PendingOp {
    fn file(&self) -> &str {
        match self {
            PendingOp::Write { file, .. }
            | PendingOp::Remove { file }
            | PendingOp::Append { file, .. }
            | PendingOp::Truncate { file, .. } => file,
        }
    }
}

/// The durable image of one node plus the changes not yet synced, and what the running process
/// has done to which files (see "Reserved space" in the module doc).
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    durable: DiskImage,
    pending: Vec<PendingOp>,
    /// Files the running process appended to: they gain reserved zeros at the next boot.
    appended: BTreeSet<String>,
    /// Files the running process may append to: it created, wrote, truncated or removed them.
    /// Any other file that exists was found on disk at boot, and may end in reserved zeros.
    known: BTreeSet<String>,
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> Self {
        SimDisk::default()
    }

    /// Queues an atomic whole-file write.
    pub fn write(&mut self, file: String, bytes: Bytes) {
        self.know(&file);
        self.pending.push(PendingOp::Write { file, bytes });
    }

    /// Queues a removal.
    pub fn remove(&mut self, file: String) {
        self.know(&file);
        self.pending.push(PendingOp::Remove { file });
    }

    /// Queues an append to `file`, creating it if it does not exist.
    ///
    /// # Errors
    /// If `file` was on disk when the process started and the process has not truncated,
    /// written or removed it since: its end may be reserved zeros, and only the core knows
    /// where its content ends. A core that does this has a bug, and the caller reports it with
    /// the node's id. Nothing is queued then.
    pub fn append(&mut self, file: String, bytes: Bytes) -> Result<(), String> {
        if !self.known.contains(&file) {
            if let Some(len) = self.len_now(&file) {
                return Err(format!(
                    "append to {file:?} ({len} bytes, found on disk at boot) before truncating \
                     it to its real length: its end may be reserved zero bytes"
                ));
            }
            self.known.insert(file.clone());
        }
        if !self.appended.contains(&file) {
            self.appended.insert(file.clone());
        }
        self.pending.push(PendingOp::Append { file, bytes });
        Ok(())
    }

    /// Marks `file` as one the running process may append to.
    fn know(&mut self, file: &str) {
        if !self.known.contains(file) {
            self.known.insert(file.to_owned());
        }
    }

    /// Queues cutting `file` to `len` bytes.
    ///
    /// # Errors
    /// If the file does not exist or is shorter than `len` (counting pending changes): a core
    /// that does this has a bug, and the caller reports it with the node's id.
    pub fn truncate(&mut self, file: String, len: u64) -> Result<(), String> {
        match self.len_now(&file) {
            Some(now) if len <= now => {
                self.know(&file);
                self.pending.push(PendingOp::Truncate { file, len });
                Ok(())
            }
            Some(now) => Err(format!(
                "truncate {file:?} to {len} bytes: it has only {now}; truncation never extends"
            )),
            None => Err(format!("truncate {file:?}: no such file")),
        }
    }

    /// The length `file` has counting pending changes, or `None` if it does not exist.
    fn len_now(&self, file: &str) -> Option<u64> {
        let mut len = self.durable.get(file).map(|bytes| bytes.len() as u64);
        for op in self.pending.iter().filter(|op| op.file() == file) {
            len = match op {
                PendingOp::Write { bytes, .. } => Some(bytes.len() as u64),
                PendingOp::Remove { .. } => None,
                PendingOp::Append { bytes, .. } => Some(len.unwrap_or(0) + bytes.len() as u64),
                PendingOp::Truncate { len: cut, .. } => Some(*cut),
            };
        }
        len
    }

    /// Makes every pending change durable, in the order it was made.
    pub fn sync(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for op in pending {
            self.apply(op, usize::MAX);
        }
    }

    /// Applies one change to the durable image; an append keeps at most `append_max` bytes.
    fn apply(&mut self, op: PendingOp, append_max: usize) {
        match op {
            PendingOp::Write { file, bytes } => {
                self.durable.insert(file, bytes);
            }
            PendingOp::Remove { file } => {
                self.durable.remove(&file);
            }
            PendingOp::Append { file, bytes } => {
                let kept = &bytes[..bytes.len().min(append_max)];
                let old = self.durable.remove(&file).unwrap_or_default();
                // Reuse the file's buffer when nothing else holds it, so a log that grows by
                // small appends is not copied whole at every sync.
                let mut grown = old
                    .try_into_mut()
                    .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                grown.extend_from_slice(kept);
                self.durable.insert(file, grown.freeze());
            }
            PendingOp::Truncate { file, len } => {
                let bytes = self
                    .durable
                    .get_mut(&file)
                    .expect("truncate was checked against the file when queued");
                let len = usize::try_from(len).expect("checked against an in-memory length");
                bytes.truncate(len);
            }
        }
    }

    /// Power loss: unsynced writes and removes are lost, and of each file's unsynced appends and
    /// truncates a random prefix survives, the last append possibly torn (see the module doc).
    pub fn crash(&mut self, rng: &mut Rng) {
        let mut runs: BTreeMap<String, (bool, Vec<PendingOp>)> = BTreeMap::new();
        for op in std::mem::take(&mut self.pending) {
            let (closed, run) = runs.entry(op.file().to_owned()).or_default();
            match op {
                PendingOp::Write { .. } | PendingOp::Remove { .. } => *closed = true,
                PendingOp::Append { .. } | PendingOp::Truncate { .. } if !*closed => run.push(op),
                PendingOp::Append { .. } | PendingOp::Truncate { .. } => {}
            }
        }
        for (_, (_, mut run)) in runs {
            if run.is_empty() {
                continue;
            }
            let kept = rng.below(run.len() as u64 + 1) as usize;
            run.truncate(kept);
            let Some(last) = run.pop() else { continue };
            for op in run {
                self.apply(op, usize::MAX);
            }
            let append_max = match &last {
                PendingOp::Append { bytes, .. } => rng.below(bytes.len() as u64 + 1) as usize,
                _ => usize::MAX,
            };
            self.apply(last, append_max);
        }
    }

    /// Power loss and the data directory wiped: nothing survives.
    pub fn lose(&mut self) {
        self.pending.clear();
        self.durable.clear();
        self.appended.clear();
    }

    /// A new process starts on this disk, after a crash or a clean stop (nothing is pending):
    /// every file the process before appended to gains reserved zeros at its end (module doc),
    /// in name order, and the new process knows no file yet. Returns the files padded and by
    /// how many bytes (zero included), for the trace. Then [`SimDisk::durable`] is what the new
    /// process reads.
    ///
    /// # Panics
    /// If changes are pending: a node that went down has either flushed or lost them.
    pub fn boot(&mut self, rng: &mut Rng) -> Vec<(String, u64)> {
        assert!(
            self.pending.is_empty(),
            "boot with {} changes pending: a kill syncs them and a crash decides them",
            self.pending.len()
        );
        self.known.clear();
        let appended = std::mem::take(&mut self.appended);
        let mut padded = Vec::new();
        for file in appended {
            // An appended file a crash or a later `Remove` took away has no end to pad.
            let Some(bytes) = self.durable.get_mut(&file) else {
                continue;
            };
            let zeros = padding_len(rng);
            if zeros > 0 {
                let mut grown = BytesMut::from(&bytes[..]);
                grown.resize(bytes.len() + zeros as usize, 0);
                *bytes = grown.freeze();
            }
            padded.push((file, zeros));
        }
        padded
    }

    /// What a restarted node would read back.
    pub fn durable(&self) -> &DiskImage {
        &self.durable
    }

    /// How many changes are waiting for a sync.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Bytes of file content in the durable image (names not counted), for disk-use limits
    /// such as SPEC §9.3 `Test5DiskUse`.
    pub fn durable_bytes(&self) -> u64 {
        self.durable.values().map(|bytes| bytes.len() as u64).sum()
    }
}

/// How many reserved zero bytes one file gains at one boot. A quarter of the time none (a file
/// whose reservation was used up exactly, or that the runtime never extended); a quarter of the
/// time 1 to 16, which is shorter than a record header or just longer, so a reader sees zeros
/// it cannot even parse as a length; otherwise up to [`PADDING_BYTES_MAX`].
fn padding_len(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => 0,
        1 => rng.range(1, 16),
        _ => rng.range(1, PADDING_BYTES_MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rpc::Rng;

    #[derive(Clone, Debug)]
    enum Op {
        Write(u8, u8),
        Remove(u8),
        Append(u8, Vec<u8>),
        Truncate(u8, u64),
        Sync,
        Crash(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..3, any::<u8>()).prop_map(|(f, b)| Op::Write(f, b)),
            (0u8..3).prop_map(Op::Remove),
            (0u8..3, proptest::collection::vec(any::<u8>(), 0..5))
                .prop_map(|(f, b)| Op::Append(f, b)),
            (0u8..3, 0u64..6).prop_map(|(f, n)| Op::Truncate(f, n)),
            Just(Op::Sync),
            any::<u64>().prop_map(Op::Crash),
        ]
    }

    type Content = Option<Vec<u8>>;

    /// The model's change to one file's content.
    fn model_apply(content: &Content, op: &Op) -> Content {
        match op {
            Op::Write(_, b) => Some(vec![*b]),
            Op::Remove(_) => None,
            Op::Append(_, bytes) => {
                let mut grown = content.clone().unwrap_or_default();
                grown.extend(bytes);
                Some(grown)
            }
            Op::Truncate(_, n) => content.clone().map(|mut c| {
                c.truncate(*n as usize);
                c
            }),
            Op::Sync | Op::Crash(_) => unreachable!("not a change"),
        }
    }

    fn file_of(op: &Op) -> u8 {
        match op {
            Op::Write(f, _) | Op::Remove(f) | Op::Append(f, _) | Op::Truncate(f, _) => *f,
            Op::Sync | Op::Crash(_) => unreachable!("not a change"),
        }
    }

    /// Every content a crash may leave `file` with, enumerated independently of `SimDisk`: a
    /// prefix of its appends and truncates before its first write or remove, the last append
    /// cut at any byte.
    fn allowed_after_crash(durable: &Content, unsynced: &[Op], file: u8) -> Vec<Content> {
        let run: Vec<&Op> = unsynced
            .iter()
            .filter(|op| file_of(op) == file)
            .take_while(|op| matches!(op, Op::Append(..) | Op::Truncate(..)))
            .collect();
        let mut allowed = vec![durable.clone()];
        let mut content = durable.clone();
        for op in run {
            if let Op::Append(_, bytes) = op {
                for cut in 0..=bytes.len() {
                    allowed.push(model_apply(
                        &content,
                        &Op::Append(file, bytes[..cut].to_vec()),
                    ));
                }
            }
            content = model_apply(&content, op);
            allowed.push(content.clone());
        }
        allowed
    }

    proptest! {
        /// After any sequence of changes, syncs and crashes, the durable image is exactly what
        /// was synced, plus, after a crash, for each file one of the outcomes the crash model
        /// allows (checked against an enumeration of them). Invalid truncates are refused.
        #[test]
        fn durable_is_synced_plus_an_allowed_crash_outcome(ops in proptest::collection::vec(op(), 0..60)) {
            let mut disk = SimDisk::new();
            let mut model: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
            let mut unsynced: Vec<Op> = Vec::new();
            let now = |model: &BTreeMap<u8, Vec<u8>>, unsynced: &[Op], f: u8| {
                unsynced.iter().filter(|op| file_of(op) == f)
                    .fold(model.get(&f).cloned(), |c, op| model_apply(&c, op))
            };
            for op in ops {
                match op.clone() {
                    Op::Write(f, b) => disk.write(format!("f{f}"), Bytes::from(vec![b])),
                    Op::Remove(f) => disk.remove(format!("f{f}")),
                    Op::Append(f, bytes) => disk
                        .append(format!("f{f}"), Bytes::from(bytes))
                        .expect("no boot, so no file found at boot"),
                    Op::Truncate(f, n) => {
                        let valid = now(&model, &unsynced, f).is_some_and(|c| n <= c.len() as u64);
                        prop_assert_eq!(disk.truncate(format!("f{f}"), n).is_ok(), valid);
                        if !valid {
                            continue;
                        }
                    }
                    Op::Sync => disk.sync(),
                    Op::Crash(seed) => disk.crash(&mut Rng::new(seed)),
                }
                match op {
                    Op::Sync => {
                        for f in 0..3 {
                            match now(&model, &unsynced, f) {
                                Some(c) => model.insert(f, c),
                                None => model.remove(&f),
                            };
                        }
                        unsynced.clear();
                    }
                    Op::Crash(_) => {
                        for f in 0..3 {
                            let got = disk.durable().get(&format!("f{f}")).map(|b| b.to_vec());
                            let allowed = allowed_after_crash(&model.get(&f).cloned(), &unsynced, f);
                            prop_assert!(allowed.contains(&got), "f{}: {:?} not in {:?}", f, got, allowed);
                            match got {
                                Some(c) => model.insert(f, c),
                                None => model.remove(&f),
                            };
                        }
                        unsynced.clear();
                    }
                    change => unsynced.push(change),
                }
                let expected: DiskImage = model
                    .iter()
                    .map(|(f, c)| (format!("f{f}"), Bytes::from(c.clone())))
                    .collect();
                prop_assert_eq!(disk.durable(), &expected);
                prop_assert_eq!(disk.pending_len(), unsynced.len());
            }
        }
    }

    /// Over many seeds a crash keeps every amount of a pending append, from none to all, so
    /// torn last records really occur; the synced prefix is always kept; the same seed always
    /// keeps the same amount.
    #[test]
    fn crash_keeps_every_byte_prefix_of_unsynced_appends_across_seeds() {
        let mut kept_lengths = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let crash_once = |seed| {
                let mut disk = SimDisk::new();
                disk.append("log".into(), Bytes::from_static(b"synced"))
                    .expect("not a file found at boot");
                disk.sync();
                disk.append("log".into(), Bytes::from_static(b"abc"))
                    .expect("not a file found at boot");
                disk.append("log".into(), Bytes::from_static(b"defg"))
                    .expect("not a file found at boot");
                disk.crash(&mut Rng::new(seed));
                disk.durable()["log"].clone()
            };
            let log = crash_once(seed);
            assert_eq!(
                log,
                crash_once(seed),
                "seed {seed}: same seed, same outcome"
            );
            assert!(log.starts_with(b"synced"), "seed {seed}: {log:?}");
            assert!(b"syncedabcdefg".starts_with(&log), "seed {seed}: {log:?}");
            kept_lengths.insert(log.len() - 6);
        }
        assert_eq!(
            kept_lengths,
            (0..=7).collect(),
            "every cut, torn ones included"
        );
    }

    /// Appends queued after an unsynced write of the same file cannot survive without it.
    #[test]
    fn crash_drops_appends_after_an_unsynced_write() {
        for seed in 0..50 {
            let mut disk = SimDisk::new();
            disk.write("f".into(), Bytes::from_static(b"new"));
            disk.append("f".into(), Bytes::from_static(b"more"))
                .expect("not a file found at boot");
            disk.crash(&mut Rng::new(seed));
            assert!(
                disk.durable().is_empty(),
                "seed {seed}: {:?}",
                disk.durable()
            );
        }
    }

    #[test]
    fn truncate_refuses_missing_files_and_extension() {
        let mut disk = SimDisk::new();
        assert!(disk.truncate("f".into(), 0).is_err());
        disk.append("f".into(), Bytes::from_static(b"abc"))
            .expect("not a file found at boot");
        assert!(disk.truncate("f".into(), 4).is_err());
        disk.truncate("f".into(), 1)
            .expect("within the pending length");
        disk.append("f".into(), Bytes::from_static(b"z"))
            .expect("not a file found at boot");
        disk.sync();
        assert_eq!(disk.durable()["f"], Bytes::from_static(b"az"));
    }

    #[test]
    fn lose_clears_durable_and_pending() {
        let mut disk = SimDisk::new();
        disk.write("a".into(), Bytes::from_static(b"1"));
        disk.sync();
        disk.write("b".into(), Bytes::from_static(b"22"));
        disk.append("c".into(), Bytes::from_static(b"333"))
            .expect("not a file found at boot");
        assert_eq!(disk.durable_bytes(), 1);
        disk.lose();
        assert!(disk.durable().is_empty());
        assert_eq!(disk.pending_len(), 0);
    }

    /// A disk with a synced log "log" of `content` appended by the process before, and a file
    /// "snap" it wrote whole, booted with `seed`: the log as the new process reads it.
    fn boot_after_kill(content: &'static [u8], seed: u64) -> (SimDisk, Vec<(String, u64)>) {
        let mut disk = SimDisk::new();
        disk.append("log".into(), Bytes::from_static(content))
            .expect("not a file found at boot");
        disk.write("snap".into(), Bytes::from_static(b"whole"));
        disk.sync();
        let padded = disk.boot(&mut Rng::new(seed));
        (disk, padded)
    }

    /// Goal: at boot an appended file gains reserved zeros: the same seed always the same
    /// number; over seeds none, fewer than a record header (8 bytes today, 9 planned), and up to
    /// a few KiB all occur. A file only written whole is never padded.
    #[test]
    fn boot_pads_appended_files_deterministically_per_seed() {
        let (mut none, mut short, mut long) = (0, 0, 0);
        for seed in 0..400 {
            let (disk, padded) = boot_after_kill(b"records", seed);
            assert_eq!(
                disk.durable(),
                boot_after_kill(b"records", seed).0.durable(),
                "seed {seed}: same seed, same padding"
            );
            let log = &disk.durable()["log"];
            let zeros = log.len() - 7;
            assert_eq!(&log[..7], b"records", "seed {seed}: content kept");
            assert!(log[7..].iter().all(|&b| b == 0), "seed {seed}: {log:?}");
            assert_eq!(padded, [("log".to_owned(), zeros as u64)], "seed {seed}");
            assert!(zeros as u64 <= PADDING_BYTES_MAX, "seed {seed}: {zeros}");
            assert_eq!(disk.durable()["snap"], Bytes::from_static(b"whole"));
            match zeros {
                0 => none += 1,
                1..=8 => short += 1,
                17.. => long += 1,
                _ => {}
            }
        }
        assert!(
            none > 50 && short > 30 && long > 150,
            "none {none}, short {short}, long {long}"
        );
    }

    /// Goal: only files the process before appended to are padded; a process that appended
    /// nothing leaves the next boot's image as it found it (the zeros already there stay, as
    /// the runtime's would, until a core truncates them).
    #[test]
    fn boot_pads_only_files_the_previous_process_appended_to() {
        let seed = (0..)
            .find(|&seed| boot_after_kill(b"abc", seed).1[0].1 > 0)
            .expect("some seed pads");
        let (mut disk, _) = boot_after_kill(b"abc", seed);
        let padded_once = disk.durable().clone();
        disk.append("other".into(), Bytes::from_static(b"x"))
            .expect("not a file found at boot");
        disk.sync();
        for boot_seed in 0..20 {
            let mut again = disk.clone();
            let padded = again.boot(&mut Rng::new(boot_seed));
            assert_eq!(again.durable()["log"], padded_once["log"]);
            assert_eq!(padded.len(), 1, "{padded:?}");
            assert_eq!(padded[0].0, "other");
        }
        let mut quiet = disk.clone();
        quiet.boot(&mut Rng::new(0));
        let image = quiet.durable().clone();
        assert!(quiet.boot(&mut Rng::new(1)).is_empty());
        assert_eq!(quiet.durable(), &image, "nothing appended, nothing padded");
    }

    /// Goal: after a crash the zeros come after what the crash kept (the synced prefix and a
    /// prefix of the unsynced appends), never inside it; a lost disk boots empty.
    #[test]
    fn boot_pads_after_what_a_crash_kept_and_a_lost_disk_stays_empty() {
        let mut padded_some = false;
        for seed in 0..100 {
            let mut disk = SimDisk::new();
            disk.append("log".into(), Bytes::from_static(b"synced"))
                .expect("not a file found at boot");
            disk.sync();
            disk.append("log".into(), Bytes::from_static(b"abcd"))
                .expect("not a file found at boot");
            let mut rng = Rng::new(seed);
            disk.crash(&mut rng);
            let kept = disk.durable()["log"].clone();
            let padded = disk.boot(&mut rng);
            let log = &disk.durable()["log"];
            assert_eq!(log[..kept.len()], kept[..], "seed {seed}");
            assert!(log[kept.len()..].iter().all(|&b| b == 0), "seed {seed}");
            assert_eq!(padded, [("log".into(), (log.len() - kept.len()) as u64)]);
            padded_some |= log.len() > kept.len();

            let mut lost = disk.clone();
            lost.append("log2".into(), Bytes::from_static(b"x"))
                .expect("not a file found at boot");
            lost.lose();
            assert!(lost.boot(&mut rng).is_empty(), "seed {seed}");
            assert!(lost.durable().is_empty(), "seed {seed}");
        }
        assert!(padded_some);
    }

    /// Goal: the truncate-first rule. An append to a file found on disk at boot is refused
    /// (and queues nothing) until the process truncated, wrote or removed it; a file the
    /// process created by `Append` takes appends at once.
    #[test]
    fn append_to_a_file_found_at_boot_needs_a_truncate_write_or_remove_first() {
        let mut disk = SimDisk::new();
        for file in ["cut", "written", "removed"] {
            disk.append(file.into(), Bytes::from_static(b"old"))
                .expect("not a file found at boot");
        }
        disk.sync();
        disk.boot(&mut Rng::new(7));
        for file in ["cut", "written", "removed"] {
            let err = disk
                .append(file.into(), Bytes::from_static(b"new"))
                .expect_err("found at boot, not truncated");
            assert!(err.contains("before truncating"), "{err}");
        }
        assert_eq!(disk.pending_len(), 0, "a refused append queues nothing");
        disk.truncate("cut".into(), 3).expect("within its length");
        disk.write("written".into(), Bytes::from_static(b"W"));
        disk.remove("removed".into());
        disk.append("fresh".into(), Bytes::from_static(b"f1"))
            .expect("not a file found at boot");
        for file in ["cut", "written", "removed", "fresh"] {
            disk.append(file.into(), Bytes::from_static(b"+"))
                .expect("not a file found at boot");
        }
        disk.sync();
        let image: Vec<(&str, &[u8])> = disk
            .durable()
            .iter()
            .map(|(f, b)| (f.as_str(), &b[..]))
            .collect();
        assert_eq!(
            image,
            [
                ("cut", &b"old+"[..]),
                ("fresh", b"f1+"),
                ("removed", b"+"),
                ("written", b"W+")
            ]
        );
        disk.boot(&mut Rng::new(8));
        assert!(
            disk.append("fresh".into(), Bytes::new()).is_err(),
            "a new boot forgets what the process before knew"
        );
    }

    /// Goal: zeros after complete records read as a torn tail at the end of the last record,
    /// so a log reader cuts them (`rpc::record` today).
    #[test]
    fn padding_after_complete_records_reads_as_a_torn_tail() {
        use rpc::record::{Tail, decode_records, encode_record};
        let mut torn = 0;
        for seed in 0..50 {
            let mut disk = SimDisk::new();
            let mut log = encode_record(b"one").to_vec();
            log.extend_from_slice(&encode_record(b"two"));
            let len = log.len() as u64;
            disk.append("wal".into(), Bytes::from(log))
                .expect("not a file found at boot");
            disk.sync();
            let zeros = disk.boot(&mut Rng::new(seed))[0].1;
            let (records, tail) = decode_records(&disk.durable()["wal"]);
            assert_eq!(records, [&b"one"[..], b"two"], "seed {seed}");
            let expected = if zeros == 0 {
                Tail::Clean
            } else {
                torn += 1;
                Tail::Torn { offset: len }
            };
            assert_eq!(tail, expected, "seed {seed}: {zeros} zeros");
        }
        assert!(torn > 20, "padded in {torn} of 50 seeds");
    }
}
