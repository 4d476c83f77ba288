//! Group commit across inputs: the disk batches of an actor and the effects they hold back.
//!
//! When an input's effects include a `Sync`, the actor does not fsync at once. Every effect that
//! leaves the node (or answers a call) from that `Sync` on is held back until the disk batch
//! holding the `Sync` has run; the inputs handled meanwhile add their disk operations to that
//! batch, or, while it is on the disk, to the next one. So one fsync covers every input handled
//! while the previous one ran, and the actor never waits for the disk itself: it goes on handling
//! inputs while a batch is written (a pipeline of depth one, as in a database's group commit).
//! This module is that bookkeeping, with no I/O of its own; the actor decides when a batch starts
//! and runs it.
//!
//! Batches are numbered in the order they are taken. Each held effect carries the number of the
//! batch it waits for: the latest batch holding a `Sync` (or a call's changes) at the time it was
//! emitted. Those numbers never decrease, so effects are released in order, a prefix at a time,
//! as batches complete.
//!
//! A `Sync` is merged into a later one only where merging changes nothing that a crash may keep
//! (driver contract, step 5): when every change since the last real `Sync`, and the change about
//! to be added, appends to the same one file. A crash then keeps some byte prefix of that file's
//! appends, exactly as it could have had the node crashed before the earlier `Sync` completed,
//! and nothing that depended on that `Sync` has left the node. Across two files it would not be
//! the same (a crash could keep the second file's new record without the first file's older one),
//! and a `Write` or `Remove` is not a prefix of anything, so the batch keeps a real `Sync` before
//! such a change. The case that matters, a log that appends and syncs for every message, shares
//! one fsync across the whole batch.

use crate::disk::DiskOp;
use std::collections::VecDeque;

/// What the changes since the last `Sync` (in the open batch, or in batches taken before it that
/// ended without one) touch: whether a `Sync` owed now may be merged into a later one.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Unsynced {
    /// Nothing: a `Sync` now would have nothing to make durable.
    Nothing,
    /// Only appends, all to this one file.
    AppendsTo(String),
    /// Anything else: writes, removes, truncates, or appends to more than one file.
    Mixed,
}

/// The open disk batch, the batches taken but not completed, and the effects held for them.
/// `T` is what the actor holds back (a message, a reply, a call's answer).
#[derive(Debug)]
pub(crate) struct GroupCommit<T> {
    /// Operations of the open batch, in order.
    batch: Vec<DiskOp>,
    /// Bytes of file content in `batch` (writes and appends).
    batch_bytes: usize,
    unsynced: Unsynced,
    /// A `Sync` has been seen whose `DiskOp::Sync` is not in `batch` yet: the batch must end
    /// with one, or get one before a change that cannot share it.
    sync_owed: bool,
    /// `Sync` effects noted in the open batch, counted once it is durable.
    syncs: u64,
    /// Inputs handled since the last batch was taken.
    inputs: usize,
    /// The number of the last batch taken; the open batch is `taken + 1`.
    taken: u64,
    /// The number of the last batch completed.
    durable: u64,
    /// The batch an effect emitted now must wait for; at most `durable` when none.
    wait_for: u64,
    /// Effects waiting, each with the batch it waits for, in the order the cores emitted them.
    held: VecDeque<(u64, T)>,
}

/// A batch, closed and ready to run.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Its number: pass it to [`GroupCommit::completed`] once it has run.
    pub(crate) number: u64,
    /// The operations, ending with a `Sync` if any effect waits for one.
    pub(crate) ops: Vec<DiskOp>,
    /// `Sync` effects the batch covers.
    pub(crate) syncs: u64,
    /// Inputs handled into it.
    pub(crate) inputs: usize,
    /// Some effect waits for it: a group commit, not a flush of changes nothing waited for.
    pub(crate) awaited: bool,
}

impl<T> GroupCommit<T> {
    pub(crate) fn new() -> Self {
        GroupCommit {
            batch: Vec::new(),
            batch_bytes: 0,
            unsynced: Unsynced::Nothing,
            sync_owed: false,
            syncs: 0,
            inputs: 0,
            taken: 0,
            durable: 0,
            wait_for: 0,
            held: VecDeque::new(),
        }
    }

    /// True while an effect emitted now must be held ([`GroupCommit::hold`]): some batch it
    /// waits for has not completed.
    pub(crate) fn must_hold(&self) -> bool {
        self.wait_for > self.durable
    }

    /// True if a batch was taken and has not completed.
    pub(crate) fn in_flight(&self) -> bool {
        self.taken > self.durable
    }

    /// True if some effect waits for the open batch: it should be taken as soon as no other
    /// batch is on the disk.
    pub(crate) fn open_batch_awaited(&self) -> bool {
        self.wait_for > self.taken
    }

    /// True if the open batch holds changes (or a `Sync`) not yet handed to the disk.
    pub(crate) fn has_changes(&self) -> bool {
        !self.batch.is_empty() || self.sync_owed
    }

    /// Bytes of file content the open batch holds so far.
    pub(crate) fn batch_bytes(&self) -> usize {
        self.batch_bytes
    }

    /// Inputs handled into the open batch so far.
    pub(crate) fn batch_inputs(&self) -> usize {
        self.inputs
    }

    /// Counts one input handled into the open batch.
    pub(crate) fn input(&mut self) {
        self.inputs += 1;
    }

    /// From now on effects wait until every change so far has been carried out, durable or
    /// not: for a call's answer, which promises that the call's changes were applied. No `Sync`
    /// is added for it.
    pub(crate) fn wait_for_changes(&mut self) {
        let last_change = if self.batch.is_empty() {
            self.taken
        } else {
            self.taken + 1
        };
        self.wait_for = self.wait_for.max(last_change);
    }

    /// Adds a change to the open batch, first closing the owed `Sync` if the change cannot share
    /// it.
    pub(crate) fn disk(&mut self, op: DiskOp) {
        assert!(!op.is_sync(), "a Sync goes through GroupCommit::sync");
        if self.sync_owed && !self.shares_sync(&op) {
            self.batch.push(DiskOp::Sync);
            self.sync_owed = false;
            self.unsynced = Unsynced::Nothing;
        }
        self.unsynced = match (&self.unsynced, &op) {
            (Unsynced::Nothing, DiskOp::Append { file, .. }) => Unsynced::AppendsTo(file.clone()),
            (Unsynced::AppendsTo(last), DiskOp::Append { file, .. }) if last == file => {
                Unsynced::AppendsTo(file.clone())
            }
            _ => Unsynced::Mixed,
        };
        self.batch_bytes += op.content_len();
        self.batch.push(op);
    }

    /// Notes a `Sync` effect. It owes a real `Sync` in the open batch only if something is
    /// unsynced; if not, every earlier change is durable already, or will be by a `Sync` of a
    /// batch already taken, which effects already wait for.
    pub(crate) fn sync(&mut self) {
        self.syncs += 1;
        if self.unsynced != Unsynced::Nothing {
            self.sync_owed = true;
            self.wait_for = self.taken + 1;
        }
    }

    /// Holds back an effect until the batches it waits for have run. Only while
    /// [`GroupCommit::must_hold`].
    pub(crate) fn hold(&mut self, effect: T) {
        assert!(self.must_hold(), "an effect held with nothing to wait for");
        self.held.push_back((self.wait_for, effect));
    }

    /// Closes the open batch: what to run, ending with the owed `Sync`. A new open batch starts.
    pub(crate) fn take_batch(&mut self) -> Batch {
        if self.sync_owed {
            self.batch.push(DiskOp::Sync);
            self.sync_owed = false;
            self.unsynced = Unsynced::Nothing;
        }
        self.taken += 1;
        assert!(
            !(self.batch.is_empty() && self.wait_for >= self.taken),
            "effects wait for batch {} but it is empty",
            self.taken
        );
        self.batch_bytes = 0;
        Batch {
            number: self.taken,
            ops: std::mem::take(&mut self.batch),
            syncs: std::mem::take(&mut self.syncs),
            inputs: std::mem::take(&mut self.inputs),
            awaited: self.wait_for >= self.taken,
        }
    }

    /// Once batch `number` (and every batch before it) has run: the held effects that may leave
    /// now, in order.
    pub(crate) fn completed(&mut self, number: u64) -> Vec<T> {
        assert!(
            number == self.durable + 1 && number <= self.taken,
            "batch {number} completed after {} of {} taken",
            self.durable,
            self.taken
        );
        self.durable = number;
        let ready = self
            .held
            .iter()
            .take_while(|(waits_for, _)| *waits_for <= number)
            .count();
        self.held.drain(..ready).map(|(_, effect)| effect).collect()
    }

    /// True if `op` may come after the owed `Sync` without a real `Sync` between them.
    fn shares_sync(&self, op: &DiskOp) -> bool {
        match (&self.unsynced, op) {
            (Unsynced::AppendsTo(last), DiskOp::Append { file, .. }) => last == file,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn append(file: &str) -> DiskOp {
        DiskOp::Append {
            file: file.into(),
            bytes: Bytes::from_static(b"record"),
        }
    }

    fn write(file: &str) -> DiskOp {
        DiskOp::Write {
            file: file.into(),
            bytes: Bytes::from_static(b"state"),
        }
    }

    /// The ops of a batch as short labels, for readable assertions.
    fn labels(batch: &Batch) -> Vec<String> {
        batch
            .ops
            .iter()
            .map(|op| match op {
                DiskOp::Write { file, .. } => format!("W {file}"),
                DiskOp::Remove { file } => format!("R {file}"),
                DiskOp::Append { file, .. } => format!("A {file}"),
                DiskOp::Truncate { file, len } => format!("T {file} {len}"),
                DiskOp::Sync => "S".to_owned(),
            })
            .collect()
    }

    /// Inputs that each append to one log and sync share the one `Sync` at the end of the batch,
    /// and everything after the first of them is held.
    #[test]
    fn appends_to_one_log_share_the_last_sync() {
        let mut commit = GroupCommit::<u32>::new();
        commit.disk(append("log"));
        assert!(!commit.must_hold(), "no Sync yet: effects leave at once");
        commit.sync();
        assert!(commit.must_hold());
        assert!(commit.open_batch_awaited());
        for input in 1..=3 {
            commit.hold(input);
            commit.disk(append("log"));
            commit.sync();
        }
        let batch = commit.take_batch();
        assert_eq!(labels(&batch), ["A log", "A log", "A log", "A log", "S"]);
        assert_eq!(batch.syncs, 4);
        assert!(batch.awaited);
        assert!(commit.in_flight());
        assert_eq!(commit.completed(batch.number), [1, 2, 3]);
        assert!(!commit.must_hold());
        assert!(!commit.in_flight());
    }

    /// A real `Sync` stays between changes that a crash could otherwise keep out of order:
    /// appends to two files, and a whole-file write.
    #[test]
    fn a_sync_stays_between_changes_to_different_files() {
        let mut commit = GroupCommit::<u32>::new();
        for op in [
            append("a"),
            append("b"),
            write("state"),
            append("b"),
            append("b"),
        ] {
            commit.disk(op);
            commit.sync();
        }
        let batch = commit.take_batch();
        assert_eq!(
            labels(&batch),
            ["A a", "S", "A b", "S", "W state", "S", "A b", "A b", "S"]
        );
        assert_eq!(batch.syncs, 5);
    }

    /// An append after an owed `Sync` with no `Sync` of its own still joins the log's group, and
    /// the batch still ends with the `Sync` the held effects wait for.
    #[test]
    fn an_unsynced_append_joins_the_group() {
        let mut commit = GroupCommit::<u32>::new();
        commit.disk(append("log"));
        commit.sync();
        commit.hold(1);
        commit.disk(append("log"));
        let batch = commit.take_batch();
        assert_eq!(labels(&batch), ["A log", "A log", "S"]);
    }

    /// A `Sync` with nothing unsynced holds nothing back: nothing waits when nothing needs it.
    #[test]
    fn a_sync_with_nothing_unsynced_holds_nothing() {
        let mut commit = GroupCommit::<u32>::new();
        commit.sync();
        assert!(!commit.must_hold());
        assert!(!commit.open_batch_awaited());
        let batch = commit.take_batch();
        assert!(batch.ops.is_empty());
        assert!(!batch.awaited);
        assert_eq!(batch.syncs, 1, "still counted as a Sync completed");
    }

    /// Changes of an earlier batch that ended without a `Sync` are still unsynced: a later
    /// `Sync` must be real, and it cannot be merged across a change to another file.
    #[test]
    fn unsynced_changes_of_an_earlier_batch_still_need_the_sync() {
        let mut commit = GroupCommit::<u32>::new();
        commit.disk(append("log"));
        let first = commit.take_batch();
        assert_eq!(labels(&first), ["A log"]);
        assert!(!first.awaited, "nothing waits for an unsynced append");
        assert!(commit.completed(first.number).is_empty());
        commit.sync();
        assert!(commit.must_hold());
        commit.hold(1);
        commit.disk(append("other"));
        commit.sync();
        let second = commit.take_batch();
        assert_eq!(labels(&second), ["S", "A other", "S"]);
        assert_eq!(commit.completed(second.number), [1]);
    }

    /// A call's answer after unsynced changes waits for them to be carried out, and so does
    /// every effect after it, but no `Sync` is added for it.
    #[test]
    fn waiting_for_unsynced_changes_holds_without_a_sync() {
        let mut commit = GroupCommit::<u32>::new();
        commit.wait_for_changes();
        assert!(!commit.must_hold(), "no changes: nothing to wait for");
        assert!(!commit.has_changes());
        commit.disk(write("state"));
        assert!(commit.has_changes());
        assert!(!commit.must_hold(), "no Sync: effects leave at once");
        commit.wait_for_changes();
        commit.hold(1);
        commit.hold(2);
        let batch = commit.take_batch();
        assert_eq!(labels(&batch), ["W state"]);
        assert!(batch.awaited);
        assert_eq!(commit.completed(batch.number), [1, 2]);
        assert!(!commit.must_hold());
    }

    /// The pipeline: while one batch is on the disk, later inputs fill the next one. Every effect
    /// emitted meanwhile waits at least for the batch on the disk (it may depend on what that
    /// batch makes durable), and those after a new `Sync` for the next batch too; completing
    /// the first releases exactly the effects that waited for it alone.
    #[test]
    fn effects_wait_for_the_batch_on_the_disk_and_for_their_own() {
        let mut commit = GroupCommit::<u32>::new();
        commit.disk(append("log"));
        commit.sync();
        commit.hold(1);
        let first = commit.take_batch();
        assert!(commit.in_flight());
        assert!(commit.must_hold(), "batch 1 is not durable yet");
        assert!(
            !commit.open_batch_awaited(),
            "nothing waits for batch 2 yet"
        );
        commit.hold(2);
        commit.disk(append("log"));
        commit.sync();
        assert!(commit.open_batch_awaited());
        commit.hold(3);
        commit.wait_for_changes();
        commit.hold(4);
        assert_eq!(commit.held.len(), 4);
        assert_eq!(commit.completed(first.number), [1, 2]);
        assert!(commit.must_hold(), "3 and 4 wait for batch 2");
        let second = commit.take_batch();
        assert_eq!(labels(&second), ["A log", "S"]);
        assert_eq!(commit.completed(second.number), [3, 4]);
        assert!(!commit.must_hold());
    }

    /// A call's answer with nothing in the open batch waits for the batch on the disk, whose
    /// changes it may report.
    #[test]
    fn a_calls_answer_waits_for_the_batch_on_the_disk() {
        let mut commit = GroupCommit::<u32>::new();
        commit.disk(write("state"));
        let first = commit.take_batch();
        commit.wait_for_changes();
        assert!(commit.must_hold());
        commit.hold(1);
        assert_eq!(commit.completed(first.number), [1]);
    }

    /// Effects stay held after the owed `Sync` became a real one inside the batch, and a `Sync`
    /// right after it (nothing unsynced since) adds nothing.
    #[test]
    fn holding_lasts_until_the_batch_has_run() {
        let mut commit = GroupCommit::<u32>::new();
        commit.disk(append("a"));
        commit.sync();
        commit.disk(write("b"));
        commit.hold(1);
        commit.sync();
        commit.disk(write("c"));
        commit.sync();
        commit.sync();
        commit.input();
        commit.input();
        assert!(commit.must_hold());
        assert_eq!(commit.batch_bytes(), 6 + 5 + 5);
        assert_eq!(commit.batch_inputs(), 2);
        let batch = commit.take_batch();
        assert_eq!(labels(&batch), ["A a", "S", "W b", "S", "W c", "S"]);
        assert_eq!(batch.syncs, 4);
        assert_eq!(batch.inputs, 2);
        assert_eq!(commit.batch_bytes(), 0);
        assert!(commit.must_hold(), "held effects wait for the batch");
        assert_eq!(commit.completed(batch.number), [1]);
        assert!(!commit.must_hold());
    }
}
