//! Reduces a non-linearizable partition to a small sub-history that is still non-linearizable.
//!
//! The core is a simplified delta debugging: try dropping chunks of half, a quarter, … of the
//! operations, then single operations until no single removal keeps the history illegal
//! (1-minimal). Chunks make long histories cheap to cut; the single-operation passes repeat
//! because illegality is not monotone. Removal walks from the latest call back.
//!
//! Plain deletion makes poor reports, though: deleting the `Put` whose value a stale `Get` saw
//! leaves "a read of a value nobody wrote", which is illegal but hides the real bug. So:
//!
//! 1. Drop read-only operations. A read never supplies a value to another operation, so this
//!    cannot hide a cause; it leaves the writes and the few reads the violation needs.
//! 2. Find where the history first fails: the shortest prefix, in call order, that is illegal.
//! 3. Grow a window of operations around that point until it is illegal *and* its
//!    values have some legal order once real time is ignored (so the violation is about order,
//!    and every value read has its writer in the window). Reduce that window, keeping both
//!    properties at every removal.
//! 4. If no such window exists, no order explains the values at all (a read of a value never
//!    written, say): reduce the failing prefix by plain deletion.

use crate::model::{Model, ModelOp};
use crate::outcome::Budget;
use crate::search::{Order, Verdict, search};

/// Cap on one search ignoring real time. Such a search has no return events to cut it short,
/// so when no order exists it is exponential in the number of writes; giving up early only
/// refuses a removal, or stops a window from growing. When an order exists, trying operations
/// in call order usually finds it within a few steps per operation.
const ANY_ORDER_STEPS_MAX: u64 = 100_000;

/// Result of a reduction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shrunk {
    /// Indices into the input of the operations kept, ascending.
    pub(crate) kept: Vec<usize>,
    /// Whether `kept` is 1-minimal; `false` if the budget cut the reduction short.
    pub(crate) minimal: bool,
}

/// Shrinks `ops`, which must be non-linearizable, within `budget`.
pub(crate) fn shrink<M: Model>(model: &M, ops: &[&ModelOp<M>], budget: Budget) -> Shrunk {
    let mut reducer = Reducer {
        model,
        ops,
        search_steps_max: budget.search_steps_max,
        steps_left: budget.shrink_steps_max,
        inconclusive: false,
    };
    let mut kept: Vec<usize> = (0..ops.len()).collect();
    let complete = reducer.reduce(&mut kept).is_some();
    kept.sort_unstable();
    Shrunk {
        kept,
        minimal: complete && !reducer.inconclusive,
    }
}

/// What a reduced history must still satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// Not linearizable.
    Illegal,
    /// Not linearizable, yet legal in some order that ignores real time.
    IllegalButOrderable,
}

struct Reducer<'a, M: Model> {
    model: &'a M,
    ops: &'a [&'a ModelOp<M>],
    search_steps_max: u64,
    /// What is left of the budget's `shrink_steps_max`.
    steps_left: u64,
    /// Whether some removal was refused only because a search ran out of steps.
    inconclusive: bool,
}

impl<'a, M: Model> Reducer<'a, M> {
    /// Runs the four stages of the module docs; `None` once the step budget is spent.
    fn reduce(&mut self, kept: &mut Vec<usize>) -> Option<()> {
        let read_only: Vec<bool> = self
            .ops
            .iter()
            .map(|op| self.model.is_read_only(op.input()))
            .collect();
        self.sweep(kept, &|index| read_only[index], Keep::Illegal, false)?;
        let mut base = kept.clone();
        base.sort_unstable_by_key(|&index| (self.ops[index].call_time(), index));
        let failing_len = self.failing_prefix_len(&base)?;
        match self.orderable_window(&base, failing_len)? {
            Some(window) => {
                *kept = window;
                self.sweep(kept, &|_| true, Keep::IllegalButOrderable, true)
            }
            None => {
                *kept = base[..failing_len].to_vec();
                self.sweep(kept, &|_| true, Keep::Illegal, true)
            }
        }
    }

    /// Length of a shortest illegal prefix of `base` (whole `base` is illegal), by binary
    /// search. Illegality of prefixes is not monotone, but the search still ends at a prefix
    /// that is illegal while the one an operation shorter is not.
    fn failing_prefix_len(&mut self, base: &[usize]) -> Option<usize> {
        let (mut legal_len, mut illegal_len) = (0, base.len());
        while illegal_len - legal_len > 1 {
            let mid = legal_len + (illegal_len - legal_len) / 2;
            let prefix = self.select(&base[..mid]);
            if self.run(&prefix, Order::RealTime, self.search_steps_max)? == Verdict::Illegal {
                illegal_len = mid;
            } else {
                legal_len = mid;
            }
        }
        Some(illegal_len)
    }

    /// The smallest window of `base` around its failure point (the last operation of the
    /// failing prefix), growing by doubling, that is illegal but orderable; `Some(None)` if
    /// there is none or the order search gives up. The window reaches past the failure point
    /// too, since a later call may have written the value an earlier read returned.
    fn orderable_window(
        &mut self,
        base: &[usize],
        failing_len: usize,
    ) -> Option<Option<Vec<usize>>> {
        let mut radius = 1;
        loop {
            let start = failing_len.saturating_sub(radius);
            let end = (failing_len + radius - 1).min(base.len());
            let window = &base[start..end];
            let ops = self.select(window);
            if self.run(&ops, Order::RealTime, self.search_steps_max)? == Verdict::Illegal {
                match self.run(&ops, Order::Any, ANY_ORDER_STEPS_MAX)? {
                    Verdict::Linearizable => return Some(Some(window.to_vec())),
                    Verdict::Exhausted => return Some(None),
                    Verdict::Illegal => {}
                }
            }
            if start == 0 && end == base.len() {
                return Some(None);
            }
            radius *= 2;
        }
    }

    /// Drops eligible operations in chunks of halving size; with `until_stable`, repeats
    /// single-operation passes until none can be dropped.
    fn sweep(
        &mut self,
        kept: &mut Vec<usize>,
        eligible: &dyn Fn(usize) -> bool,
        keep: Keep,
        until_stable: bool,
    ) -> Option<()> {
        let eligible_count = kept.iter().filter(|&&index| eligible(index)).count();
        let mut chunk_len = (eligible_count / 2).max(1);
        loop {
            let removed = self.pass(kept, eligible, keep, chunk_len)?;
            if chunk_len > 1 {
                chunk_len /= 2;
            } else if !removed || !until_stable {
                return Some(());
            }
        }
    }

    /// Tries to drop each chunk of `chunk_len` eligible operations, latest calls first.
    /// Returns whether anything was dropped.
    fn pass(
        &mut self,
        kept: &mut Vec<usize>,
        eligible: &dyn Fn(usize) -> bool,
        keep: Keep,
        chunk_len: usize,
    ) -> Option<bool> {
        let mut pool: Vec<usize> = kept
            .iter()
            .copied()
            .filter(|&index| eligible(index))
            .collect();
        pool.sort_unstable_by_key(|&index| (self.ops[index].call_time(), index));
        let mut dropped = vec![false; self.ops.len()];
        let mut removed = false;
        let mut end = pool.len();
        while end > 0 {
            let start = end.saturating_sub(chunk_len);
            pool[start..end]
                .iter()
                .for_each(|&index| dropped[index] = true);
            let candidate: Vec<usize> = kept
                .iter()
                .copied()
                .filter(|&index| !dropped[index])
                .collect();
            if self.still_fails(&candidate, keep)? {
                *kept = candidate;
                removed = true;
            } else {
                pool[start..end]
                    .iter()
                    .for_each(|&index| dropped[index] = false);
            }
            end = start;
        }
        Some(removed)
    }

    /// Whether `candidate` still satisfies `keep`.
    fn still_fails(&mut self, candidate: &[usize], keep: Keep) -> Option<bool> {
        let ops = self.select(candidate);
        let real_time = self.run(&ops, Order::RealTime, self.search_steps_max)?;
        let any_order = if real_time == Verdict::Illegal && keep == Keep::IllegalButOrderable {
            self.run(&ops, Order::Any, ANY_ORDER_STEPS_MAX)?
        } else {
            Verdict::Linearizable
        };
        self.inconclusive |= real_time == Verdict::Exhausted || any_order == Verdict::Exhausted;
        Some(real_time == Verdict::Illegal && any_order == Verdict::Linearizable)
    }

    fn select(&self, indices: &[usize]) -> Vec<&'a ModelOp<M>> {
        indices.iter().map(|&index| self.ops[index]).collect()
    }

    /// One search of at most `steps_max` steps; `None` once the shrink budget is spent.
    fn run(&mut self, ops: &[&ModelOp<M>], order: Order, steps_max: u64) -> Option<Verdict> {
        if self.steps_left == 0 {
            return None;
        }
        let (verdict, steps) = search(self.model, ops, order, steps_max.min(self.steps_left));
        self.steps_left -= steps;
        Some(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::kv::{KvInput, KvModel, KvOutput};

    fn shrink_all(history: &History, budget: Budget) -> Shrunk {
        let ops: Vec<_> = history.iter().map(|(_, op)| op).collect();
        shrink(&KvModel, &ops, budget)
    }

    #[test]
    fn stale_read_keeps_both_writes_and_the_read() {
        let mut history = History::new();
        history.record(1, KvInput::put("k", "1"), 0, KvOutput::Ok, 10);
        history.record(1, KvInput::get("k"), 20, KvOutput::value("1"), 30);
        history.record(2, KvInput::put("k", "2"), 40, KvOutput::Ok, 50);
        history.record(2, KvInput::get("k"), 60, KvOutput::value("2"), 70);
        history.record(3, KvInput::get("k"), 80, KvOutput::value("1"), 90);
        history.record(3, KvInput::append("k", "3"), 100, KvOutput::Ok, 110);
        let shrunk = shrink_all(&history, Budget::default());
        assert_eq!(
            shrunk,
            Shrunk {
                kept: vec![0, 2, 4],
                minimal: true
            }
        );
    }

    #[test]
    fn unexplainable_read_shrinks_to_itself() {
        let mut history = History::new();
        history.record(1, KvInput::put("k", "1"), 0, KvOutput::Ok, 10);
        history.record(2, KvInput::get("k"), 20, KvOutput::value("9"), 30);
        history.record(1, KvInput::append("k", "2"), 40, KvOutput::Ok, 50);
        let shrunk = shrink_all(&history, Budget::default());
        assert_eq!(
            shrunk,
            Shrunk {
                kept: vec![1],
                minimal: true
            }
        );
    }

    #[test]
    fn new_old_inversion_keeps_both_reads_and_both_writes() {
        let mut history = History::new();
        history.record(1, KvInput::put("k", "x"), 0, KvOutput::Ok, 10);
        history.record(2, KvInput::put("k", "y"), 15, KvOutput::Ok, 50);
        history.record(3, KvInput::get("k"), 20, KvOutput::value("y"), 40);
        history.record(4, KvInput::get("k"), 45, KvOutput::value("x"), 60);
        history.record(4, KvInput::get("k"), 70, KvOutput::value("y"), 80);
        let shrunk = shrink_all(&history, Budget::default());
        assert_eq!(
            shrunk,
            Shrunk {
                kept: vec![0, 1, 2, 3],
                minimal: true
            }
        );
    }

    #[test]
    fn a_spent_budget_is_reported_as_not_minimal() {
        let mut history = History::new();
        history.record(1, KvInput::put("k", "1"), 0, KvOutput::Ok, 10);
        history.record(1, KvInput::get("k"), 20, KvOutput::value("2"), 30);
        let budget = Budget {
            shrink_steps_max: 0,
            ..Budget::default()
        };
        let shrunk = shrink_all(&history, budget);
        assert_eq!(
            shrunk,
            Shrunk {
                kept: vec![0, 1],
                minimal: false
            }
        );
    }
}
