//! Group commit across inputs: the disk batch of one actor turn and the effects it holds back.
//!
//! When an input's effects include a `Sync`, the actor does not fsync at once. It keeps handling
//! the inputs already waiting in its inbox, adding their disk operations to one batch and holding
//! back every effect that leaves the node (or answers a call) from the first `Sync` on. Then it
//! runs the batch once and releases what it held, in order. This module is that bookkeeping, with
//! no I/O of its own; the actor decides when a turn ends and runs the batch.
//!
//! A `Sync` is merged into a later one only where merging changes nothing that a crash may keep
//! (driver contract, step 5): when every change since the last real `Sync`, and the change about
//! to be added, appends to the same one file. A crash then keeps some byte prefix of that file's
//! appends, exactly as it could have had the node crashed before the earlier `Sync` completed,
//! and nothing that depended on that `Sync` has left the node. Across two files it would not be
//! the same (a crash could keep the second file's new record without the first file's older one),
//! and a `Write` or `Remove` is not a prefix of anything, so the batch keeps a real `Sync` before
//! such a change. The case that matters, a log that appends and syncs for every message, shares
//! one fsync across the whole turn.

use crate::disk::DiskOp;

/// What the changes since the last `Sync` (in the batch, or already applied by an earlier batch
/// that ended without one) touch: whether a `Sync` owed now may be merged into a later one.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Unsynced {
    /// Nothing: a `Sync` now would have nothing to make durable.
    Nothing,
    /// Only appends, all to this one file.
    AppendsTo(String),
    /// Anything else: writes, removes, truncates, or appends to more than one file.
    Mixed,
}

/// The disk batch being built in the current turn and the effects held until it is durable.
/// `T` is what the actor holds back (a message, a reply, a call's answer).
#[derive(Debug)]
pub(crate) struct GroupCommit<T> {
    /// Operations to run at the end of the turn, in order.
    batch: Vec<DiskOp>,
    /// Bytes of file content in `batch` (writes and appends).
    batch_bytes: usize,
    unsynced: Unsynced,
    /// A `Sync` has been seen whose `DiskOp::Sync` is not in `batch` yet: the batch must end
    /// with one, or get one before a change that cannot share it.
    sync_owed: bool,
    /// A `Sync` of this turn had something to make durable: effects are held until the batch
    /// has run. The owed `Sync` may become a real one inside the batch (before a change that
    /// cannot share it) while the effects after it still wait.
    holding: bool,
    /// Effects that came after a `Sync` of this turn, in the order the cores emitted them.
    held: Vec<T>,
    /// `Sync` effects seen this turn, counted once the batch is durable.
    syncs: u64,
}

/// A turn's batch, closed and ready to run.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The operations, ending with a `Sync` if any effect was held for one.
    pub(crate) ops: Vec<DiskOp>,
    /// `Sync` effects the batch covers.
    pub(crate) syncs: u64,
}

impl<T> GroupCommit<T> {
    pub(crate) fn new() -> Self {
        GroupCommit {
            batch: Vec::new(),
            batch_bytes: 0,
            unsynced: Unsynced::Nothing,
            sync_owed: false,
            holding: false,
            held: Vec::new(),
            syncs: 0,
        }
    }

    /// True once a `Sync` of this turn had something to make durable, or
    /// [`GroupCommit::hold_from_now`] was called: from then on every effect that leaves the node
    /// must be held (`hold`) until the batch has run.
    pub(crate) fn is_holding(&self) -> bool {
        self.holding
    }

    /// True if the batch has changes not yet handed to the disk.
    pub(crate) fn has_changes(&self) -> bool {
        !self.batch.is_empty()
    }

    /// Holds every effect from now on until the batch has run, with no `Sync` owed: for a call's
    /// answer, which promises that the call's changes were applied, not that they are durable.
    pub(crate) fn hold_from_now(&mut self) {
        assert!(self.has_changes(), "nothing in the batch to wait for");
        self.holding = true;
    }

    /// Bytes of file content the batch holds so far.
    pub(crate) fn batch_bytes(&self) -> usize {
        self.batch_bytes
    }

    /// Adds a change to the batch, first closing the owed `Sync` if the change cannot share it.
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

    /// Notes a `Sync` effect. It owes a real `Sync` only if something is unsynced; if not, every
    /// earlier change is durable already, or will be by a `Sync` the batch holds.
    pub(crate) fn sync(&mut self) {
        self.syncs += 1;
        if self.unsynced != Unsynced::Nothing {
            self.sync_owed = true;
            self.holding = true;
        }
    }

    /// Holds back an effect until the batch has run. Only while [`GroupCommit::is_holding`].
    pub(crate) fn hold(&mut self, effect: T) {
        assert!(self.is_holding(), "an effect held with no Sync before it");
        self.held.push(effect);
    }

    /// Ends the turn's batch: what to run, ending with the owed `Sync`. Afterwards the batch is
    /// empty; the held effects wait for [`GroupCommit::release`].
    pub(crate) fn take_batch(&mut self) -> Batch {
        if self.sync_owed {
            self.batch.push(DiskOp::Sync);
            self.sync_owed = false;
            self.unsynced = Unsynced::Nothing;
        }
        assert!(
            !self.holding || !self.batch.is_empty(),
            "{} effects held but the batch is empty",
            self.held.len()
        );
        self.batch_bytes = 0;
        Batch {
            ops: std::mem::take(&mut self.batch),
            syncs: std::mem::take(&mut self.syncs),
        }
    }

    /// Once the batch from [`GroupCommit::take_batch`] is durable: the held effects, in order.
    pub(crate) fn release(&mut self) -> Vec<T> {
        assert!(self.batch.is_empty(), "release before the batch was taken");
        self.holding = false;
        std::mem::take(&mut self.held)
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
        let mut turn = GroupCommit::<u32>::new();
        turn.disk(append("log"));
        assert!(!turn.is_holding(), "no Sync yet: effects leave at once");
        turn.sync();
        assert!(turn.is_holding());
        for input in 1..=3 {
            turn.hold(input);
            turn.disk(append("log"));
            turn.sync();
        }
        let batch = turn.take_batch();
        assert_eq!(labels(&batch), ["A log", "A log", "A log", "A log", "S"]);
        assert_eq!(batch.syncs, 4);
        assert_eq!(turn.release(), [1, 2, 3]);
        assert!(!turn.is_holding());
    }

    /// A real `Sync` stays between changes that a crash could otherwise keep out of order:
    /// appends to two files, and a whole-file write.
    #[test]
    fn a_sync_stays_between_changes_to_different_files() {
        let mut turn = GroupCommit::<u32>::new();
        for op in [
            append("a"),
            append("b"),
            write("state"),
            append("b"),
            append("b"),
        ] {
            turn.disk(op);
            turn.sync();
        }
        let batch = turn.take_batch();
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
        let mut turn = GroupCommit::<u32>::new();
        turn.disk(append("log"));
        turn.sync();
        turn.hold(1);
        turn.disk(append("log"));
        let batch = turn.take_batch();
        assert_eq!(labels(&batch), ["A log", "A log", "S"]);
    }

    /// A `Sync` with nothing unsynced holds nothing back: nothing waits when nothing needs it.
    #[test]
    fn a_sync_with_nothing_unsynced_holds_nothing() {
        let mut turn = GroupCommit::<u32>::new();
        turn.sync();
        assert!(!turn.is_holding());
        let batch = turn.take_batch();
        assert!(batch.ops.is_empty());
        assert_eq!(batch.syncs, 1, "still counted as a Sync completed");
    }

    /// Changes applied by an earlier batch without a `Sync` are still unsynced: a later `Sync`
    /// must be real, and it cannot be merged across a change to another file.
    #[test]
    fn unsynced_changes_of_an_earlier_turn_still_need_the_sync() {
        let mut turn = GroupCommit::<u32>::new();
        turn.disk(append("log"));
        assert_eq!(labels(&turn.take_batch()), ["A log"]);
        turn.sync();
        assert!(turn.is_holding());
        turn.hold(1);
        turn.disk(append("other"));
        turn.sync();
        assert_eq!(labels(&turn.take_batch()), ["S", "A other", "S"]);
        assert_eq!(turn.release().len(), 1);
    }

    /// A call's answer after unsynced changes waits for them to be applied, and so does every
    /// effect after it, but no `Sync` is added for it.
    #[test]
    fn waiting_for_unsynced_changes_holds_without_a_sync() {
        let mut turn = GroupCommit::<u32>::new();
        assert!(!turn.has_changes());
        turn.disk(write("state"));
        assert!(turn.has_changes());
        assert!(!turn.is_holding(), "no Sync: effects leave at once");
        turn.hold_from_now();
        turn.hold(1);
        turn.hold(2);
        assert_eq!(labels(&turn.take_batch()), ["W state"]);
        assert_eq!(turn.release(), [1, 2]);
        assert!(!turn.is_holding());
    }

    /// Effects stay held after the owed `Sync` became a real one inside the batch, and a `Sync`
    /// right after it (nothing unsynced since) adds nothing.
    #[test]
    fn holding_lasts_until_the_batch_has_run() {
        let mut turn = GroupCommit::<u32>::new();
        turn.disk(append("a"));
        turn.sync();
        turn.disk(write("b"));
        turn.hold(1);
        turn.sync();
        turn.disk(write("c"));
        turn.sync();
        turn.sync();
        assert!(turn.is_holding());
        assert_eq!(turn.batch_bytes(), 6 + 5 + 5);
        let batch = turn.take_batch();
        assert_eq!(labels(&batch), ["A a", "S", "W b", "S", "W c", "S"]);
        assert_eq!(batch.syncs, 4);
        assert_eq!(turn.batch_bytes(), 0);
        assert!(turn.is_holding(), "held effects wait for release");
        assert_eq!(turn.release(), [1]);
        assert!(!turn.is_holding());
    }
}
