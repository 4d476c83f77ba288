//! A node's simulated disk: what survives a crash is exactly what was synced.
//!
//! `Write` and `Remove` effects queue up as pending operations; `Sync` applies them, in order, to
//! the durable image. A crash discards the pending operations (power loss: the page cache is
//! gone), a disk loss clears the durable image too (SPEC §1.6 `rm -rf` of the data directory),
//! and a clean kill flushes them (the process closed its files and the OS wrote them back).

use bytes::Bytes;
use rpc::DiskImage;

/// One not-yet-durable change.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PendingOp {
    Write { file: String, bytes: Bytes },
    Remove { file: String },
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

    /// Makes every pending change durable, in the order it was made.
    pub fn sync(&mut self) {
        for op in self.pending.drain(..) {
            match op {
                PendingOp::Write { file, bytes } => {
                    self.durable.insert(file, bytes);
                }
                PendingOp::Remove { file } => {
                    self.durable.remove(&file);
                }
            }
        }
    }

    /// Power loss: every change not yet synced is lost.
    pub fn crash(&mut self) {
        self.pending.clear();
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

    #[derive(Clone, Debug)]
    enum Op {
        Write(u8, u8),
        Remove(u8),
        Sync,
        Crash,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..4, any::<u8>()).prop_map(|(f, b)| Op::Write(f, b)),
            (0u8..4).prop_map(Op::Remove),
            Just(Op::Sync),
            Just(Op::Crash),
        ]
    }

    proptest! {
        /// After any sequence of writes, removes, syncs and crashes, the durable image equals a
        /// model that applies a change only once a sync follows it before the next crash.
        #[test]
        fn durable_is_exactly_what_was_synced(ops in proptest::collection::vec(op(), 0..60)) {
            let mut disk = SimDisk::new();
            let mut model = DiskImage::new();
            let mut unsynced: Vec<Op> = Vec::new();
            for op in ops {
                match op.clone() {
                    Op::Write(f, b) => disk.write(format!("f{f}"), Bytes::from(vec![b])),
                    Op::Remove(f) => disk.remove(format!("f{f}")),
                    Op::Sync => disk.sync(),
                    Op::Crash => disk.crash(),
                }
                match op {
                    Op::Write(..) | Op::Remove(_) => unsynced.push(op),
                    Op::Crash => unsynced.clear(),
                    Op::Sync => {
                        for change in unsynced.drain(..) {
                            match change {
                                Op::Write(f, b) => {
                                    model.insert(format!("f{f}"), Bytes::from(vec![b]));
                                }
                                Op::Remove(f) => {
                                    model.remove(&format!("f{f}"));
                                }
                                Op::Sync | Op::Crash => unreachable!("only changes are queued"),
                            }
                        }
                    }
                }
                prop_assert_eq!(disk.durable(), &model);
                prop_assert_eq!(disk.pending_len(), unsynced.len());
            }
        }
    }

    #[test]
    fn lose_clears_durable_and_pending() {
        let mut disk = SimDisk::new();
        disk.write("a".into(), Bytes::from_static(b"1"));
        disk.sync();
        disk.write("b".into(), Bytes::from_static(b"22"));
        assert_eq!(disk.durable_bytes(), 1);
        disk.lose();
        assert!(disk.durable().is_empty());
        assert_eq!(disk.pending_len(), 0);
    }
}
