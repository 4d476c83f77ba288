//! A node's simulated disk: what survives a crash is what was synced, plus a prefix of appends.
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
//! Every draw comes from the simulator's generator, files in name order: same seed, same outcome.

use bytes::{Bytes, BytesMut};
use rpc::{DiskImage, Rng};
use std::collections::BTreeMap;

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

/// The durable image of one node plus the changes not yet synced.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    durable: DiskImage,
    pending: Vec<PendingOp>,
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> Self {
        SimDisk::default()
    }

    /// Queues an atomic whole-file write.
    pub fn write(&mut self, file: String, bytes: Bytes) {
        self.pending.push(PendingOp::Write { file, bytes });
    }

    /// Queues a removal.
    pub fn remove(&mut self, file: String) {
        self.pending.push(PendingOp::Remove { file });
    }

    /// Queues an append to `file`, creating it if it does not exist.
    pub fn append(&mut self, file: String, bytes: Bytes) {
        self.pending.push(PendingOp::Append { file, bytes });
    }

    /// Queues cutting `file` to `len` bytes.
    ///
    /// # Errors
    /// If the file does not exist or is shorter than `len` (counting pending changes): a core
    /// that does this has a bug, and the caller reports it with the node's id.
    pub fn truncate(&mut self, file: String, len: u64) -> Result<(), String> {
        match self.len_now(&file) {
            Some(now) if len <= now => {
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
                    Op::Append(f, bytes) => disk.append(format!("f{f}"), Bytes::from(bytes)),
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
                disk.append("log".into(), Bytes::from_static(b"synced"));
                disk.sync();
                disk.append("log".into(), Bytes::from_static(b"abc"));
                disk.append("log".into(), Bytes::from_static(b"defg"));
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
            disk.append("f".into(), Bytes::from_static(b"more"));
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
        disk.append("f".into(), Bytes::from_static(b"abc"));
        assert!(disk.truncate("f".into(), 4).is_err());
        disk.truncate("f".into(), 1)
            .expect("within the pending length");
        disk.append("f".into(), Bytes::from_static(b"z"));
        disk.sync();
        assert_eq!(disk.durable()["f"], Bytes::from_static(b"az"));
    }

    #[test]
    fn lose_clears_durable_and_pending() {
        let mut disk = SimDisk::new();
        disk.write("a".into(), Bytes::from_static(b"1"));
        disk.sync();
        disk.write("b".into(), Bytes::from_static(b"22"));
        disk.append("c".into(), Bytes::from_static(b"333"));
        assert_eq!(disk.durable_bytes(), 1);
        disk.lose();
        assert!(disk.durable().is_empty());
        assert_eq!(disk.pending_len(), 0);
    }
}
