//! The Wing–Gong search with Lowe's memoization, as in Porcupine's `checkSingle`.
//!
//! The operations of one partition become a doubly linked list of call and return events sorted
//! by time (a call sorts before a return at the same time, so they overlap). The search walks
//! the list from the front:
//!
//! - At a *call* event, it tries to linearize that operation next: if the model accepts it and
//!   the resulting (linearized set, state) was never seen, it lifts the operation's call and
//!   return events out of the list, pushes it on a stack and restarts from the front.
//! - At a *return* event, some operation that has already returned was not linearized, and no
//!   later call may go before it: the search pops the last choice, puts its events back, and
//!   tries the next call after it.
//!
//! The history is linearizable when every completed operation is linearized. An operation that
//! never returned has no return event, so it never blocks the walk; if it is still in the list
//! at the end it is taken to have had no effect (equivalently, to take effect after everything
//! else). The memo table makes the search visit each (set, state) configuration at most once.
//!
//! One refinement over Porcupine: a legal read-only operation is linearized as soon as it
//! reaches the front, as a forced move rather than a branch (see [`Search::walk`] for why this
//! is sound). Branching is then only over overlapping writes; on contended single-key
//! histories this cut the steps needed by a factor of two to four.

use crate::bitset::Bitset;
use crate::history::Operation;
use crate::memo::{StateId, StateTable, Visited};
use crate::model::{Model, ModelOp, Step};

/// Result of searching one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Some order of the operations is legal and respects real time.
    Linearizable,
    /// No such order exists.
    Illegal,
    /// The step budget ran out before a verdict.
    Exhausted,
}

/// Which orders of the operations the search may consider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// Orders that respect real time: linearizability.
    RealTime,
    /// Any order, as if every operation overlapped every other. Used when shrinking, to tell
    /// an ordering violation from values that no order could explain.
    Any,
}

/// Decides whether `ops` (one partition) has a legal `order`, in at most `steps_max` steps.
/// Returns the verdict and the steps taken.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[&ModelOp<M>],
    order: Order,
    steps_max: u64,
) -> (Verdict, u64) {
    Search::new(model, ops, order).run(steps_max)
}

/// Marks the end of the event list and absent return events.
const NIL: u32 = u32::MAX;
/// The list's sentinel node; events are nodes `1..`.
const HEAD: u32 = 0;

/// The time-sorted event list with O(1) removal and reinsertion ("dancing links").
#[derive(Debug)]
struct Events {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// The operation of each node (unused for `HEAD`).
    op_of: Vec<u32>,
    is_return: Vec<bool>,
    call_node: Vec<u32>,
    /// Each operation's return node, or `NIL` if it never returned.
    return_node: Vec<u32>,
}

impl Events {
    fn new<I, O>(ops: &[&Operation<I, O>], order: Order) -> Self {
        // Sort keys: (phase, time, is return, op). In real-time order every event is in phase 0.
        // Ignoring real time, all returns move to phase 1, behind every call, so nothing blocks;
        // calls stay in call order, which steers the search towards the recorded order.
        let return_phase = match order {
            Order::RealTime => 0,
            Order::Any => 1,
        };
        let mut events: Vec<(u8, u64, bool, u32)> = Vec::with_capacity(ops.len() * 2);
        for (index, op) in ops.iter().enumerate() {
            let index = u32::try_from(index)
                .ok()
                .filter(|&i| i != NIL)
                .expect("partition too large");
            events.push((0, op.call_time(), false, index));
            if let Some(time) = op.return_time() {
                events.push((return_phase, time, true, index));
            }
        }
        // `false < true`: calls sort before returns at the same time, so such operations overlap.
        events.sort_unstable();
        let nodes = events.len() + 1;
        let mut list = Self {
            next: (1..=nodes as u32).collect(),
            prev: (0..nodes as u32).map(|node| node.wrapping_sub(1)).collect(),
            op_of: vec![NIL; nodes],
            is_return: vec![false; nodes],
            call_node: vec![NIL; ops.len()],
            return_node: vec![NIL; ops.len()],
        };
        list.next[nodes - 1] = NIL;
        for (position, &(_, _, is_return, op)) in events.iter().enumerate() {
            let node = position as u32 + 1;
            list.op_of[node as usize] = op;
            list.is_return[node as usize] = is_return;
            let slot = if is_return {
                &mut list.return_node
            } else {
                &mut list.call_node
            };
            slot[op as usize] = node;
        }
        list
    }

    fn first(&self) -> u32 {
        self.next[HEAD as usize]
    }

    fn after(&self, node: u32) -> u32 {
        self.next[node as usize]
    }

    /// Removes both events of `op` from the list.
    fn lift(&mut self, op: u32) {
        self.unlink(self.call_node[op as usize]);
        let ret = self.return_node[op as usize];
        if ret != NIL {
            self.unlink(ret);
        }
    }

    /// Undoes [`Events::lift`]; the reverse order restores every pointer exactly.
    fn unlift(&mut self, op: u32) {
        let ret = self.return_node[op as usize];
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(self.call_node[op as usize]);
    }

    fn unlink(&mut self, node: u32) {
        let (prev, next) = (self.prev[node as usize], self.next[node as usize]);
        self.next[prev as usize] = next;
        if next != NIL {
            self.prev[next as usize] = prev;
        }
    }

    fn relink(&mut self, node: u32) {
        let (prev, next) = (self.prev[node as usize], self.next[node as usize]);
        self.next[prev as usize] = node;
        if next != NIL {
            self.prev[next as usize] = node;
        }
    }
}

/// One search in progress.
struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [&'a ModelOp<M>],
    /// [`Model::is_read_only`] of each operation.
    read_only: Vec<bool>,
    /// [`Model::may_reset`] of each writing operation (`false` for reads).
    resets: Vec<bool>,
    /// Operations that may reset the state and are not linearized yet (pending ones too: they
    /// may still take effect). While it is zero, the search prunes with
    /// [`Model::may_grow_into`].
    resets_left: usize,
    events: Events,
    states: StateTable<M::State>,
    visited: Visited,
    linearized: Bitset,
    /// Linearized operations in order.
    stack: Vec<Linearized>,
    state: StateId,
    /// Completed operations not yet linearized; the search succeeds when this reaches zero.
    returns_left: usize,
    steps: u64,
    steps_max: u64,
}

/// An entry of the search stack.
#[derive(Clone, Copy, Debug)]
struct Linearized {
    op: u32,
    /// The state before the operation.
    before: StateId,
    /// Whether the operation was a forced read rather than a choice among alternatives.
    forced: bool,
}

/// What happened when the search tried to linearize an operation next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attempt {
    /// The model rejects the operation in the current state.
    Illegal,
    /// The resulting configuration was explored before, and failed.
    Visited,
    /// The operation is linearized; the search is in a new configuration.
    Done,
}

/// Where the walk continues.
#[derive(Clone, Copy, Debug)]
enum Walk {
    /// A new configuration: take a forced read if any, else try writes from the front.
    Fresh,
    /// Back in an earlier configuration: try the writes from this node on.
    From(u32),
}

/// Ran out of steps.
struct Exhausted;

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, ops: &'a [&'a ModelOp<M>], order: Order) -> Self {
        let mut states = StateTable::new();
        let state = states.intern(model.init());
        Self {
            model,
            ops,
            read_only: ops
                .iter()
                .map(|op| model.is_read_only(op.input()))
                .collect(),
            resets: ops
                .iter()
                .map(|op| !model.is_read_only(op.input()) && model.may_reset(op.input()))
                .collect(),
            resets_left: ops
                .iter()
                .filter(|op| !model.is_read_only(op.input()) && model.may_reset(op.input()))
                .count(),
            events: Events::new(ops, order),
            states,
            visited: Visited::new(ops.len()),
            linearized: Bitset::new(ops.len()),
            stack: Vec::new(),
            state,
            returns_left: ops.iter().filter(|op| !op.is_pending()).count(),
            steps: 0,
            steps_max: 0,
        }
    }

    fn run(&mut self, steps_max: u64) -> (Verdict, u64) {
        self.steps_max = steps_max;
        let verdict = self.walk().unwrap_or(Verdict::Exhausted);
        (verdict, self.steps)
    }

    /// The search proper. Reads get special treatment, which is what keeps histories with many
    /// concurrent reads cheap: a read-only operation whose call is in the frontier (before every
    /// remaining return event) and that is legal in the current state can always go next, since
    /// moving it to the front of any valid completion keeps real-time order and changes no
    /// state. So taking it is a forced move, not a choice: if the configuration after it fails,
    /// so does the one before, and backtracking skips past it.
    fn walk(&mut self) -> Result<Verdict, Exhausted> {
        let mut walk = Walk::Fresh;
        loop {
            if self.returns_left == 0 {
                return Ok(Verdict::Linearizable);
            }
            let from = match walk {
                Walk::Fresh => match self.take_read()? {
                    Attempt::Done => continue,
                    Attempt::Visited => None,
                    Attempt::Illegal => Some(self.events.first()),
                },
                Walk::From(node) => Some(node),
            };
            let advanced = match from {
                Some(node) => self.take_write(node)?,
                None => false,
            };
            walk = if advanced {
                Walk::Fresh
            } else {
                match self.backtrack() {
                    Some(node) => Walk::From(node),
                    None => return Ok(Verdict::Illegal),
                }
            };
        }
    }

    /// Linearizes the first legal read in the frontier, as a forced move. `Illegal` if there
    /// is none; `Visited` if its configuration already failed, so the current one fails too.
    fn take_read(&mut self) -> Result<Attempt, Exhausted> {
        let mut node = self.events.first();
        while node != NIL && !self.events.is_return[node as usize] {
            self.tick()?;
            let op = self.events.op_of[node as usize];
            if self.read_only[op as usize] {
                let attempt = self.try_linearize(op, true);
                if attempt != Attempt::Illegal {
                    return Ok(attempt);
                }
            }
            node = self.events.after(node);
        }
        Ok(Attempt::Illegal)
    }

    /// Linearizes the first writing operation from `node` on that leads to an unexplored
    /// configuration; `false` once the walk reaches a return event, which nothing may pass.
    /// Reads are skipped: no read in the frontier is legal here, or one would have been forced.
    fn take_write(&mut self, mut node: u32) -> Result<bool, Exhausted> {
        // A completed operation's return event always follows its call, so while returns are
        // left the walk meets one before the end of the list; NIL is defensive.
        while node != NIL && !self.events.is_return[node as usize] {
            self.tick()?;
            let op = self.events.op_of[node as usize];
            if !self.read_only[op as usize] && self.try_linearize(op, false) == Attempt::Done {
                return Ok(true);
            }
            node = self.events.after(node);
        }
        Ok(false)
    }

    fn tick(&mut self) -> Result<(), Exhausted> {
        if self.steps == self.steps_max {
            return Err(Exhausted);
        }
        self.steps += 1;
        Ok(())
    }

    /// Linearizes `op` next if the model allows it and the result is a new configuration.
    fn try_linearize(&mut self, op: u32, forced: bool) -> Attempt {
        let operation = self.ops[op as usize];
        let current = self.states.get(self.state);
        let next = match self
            .model
            .step(current, operation.input(), operation.output())
        {
            Step::Illegal => return Attempt::Illegal,
            Step::Unchanged => self.state,
            Step::Next(state) => {
                let resets_after = self.resets_left - usize::from(self.resets[op as usize]);
                if resets_after == 0 && !self.reads_left_reachable(op, &state) {
                    return Attempt::Illegal;
                }
                self.states.intern(state)
            }
        };
        self.linearized.set(op as usize);
        if !self.visited.insert(&self.linearized, next) {
            self.linearized.clear(op as usize);
            return Attempt::Visited;
        }
        self.stack.push(Linearized {
            op,
            before: self.state,
            forced,
        });
        self.state = next;
        self.events.lift(op);
        if !operation.is_pending() {
            self.returns_left -= 1;
        }
        if self.resets[op as usize] {
            self.resets_left -= 1;
        }
        Attempt::Done
    }

    /// Whether every completed read not yet linearized (other than `op`) could still see its
    /// answer from `state`, given that no resetting operation is left.
    fn reads_left_reachable(&self, op: u32, state: &M::State) -> bool {
        self.ops.iter().enumerate().all(|(index, other)| {
            let pending_read =
                self.read_only[index] && index != op as usize && !self.linearized.contains(index);
            match (pending_read, other.output()) {
                (true, Some(output)) => self.model.may_grow_into(state, other.input(), output),
                _ => true,
            }
        })
    }

    /// Undoes linearizations back to and including the last choice, and returns the node after
    /// that choice's call, where the alternatives continue; `None` if no choice is left.
    fn backtrack(&mut self) -> Option<u32> {
        loop {
            let Linearized { op, before, forced } = self.stack.pop()?;
            self.state = before;
            self.linearized.clear(op as usize);
            self.events.unlift(op);
            if !self.ops[op as usize].is_pending() {
                self.returns_left += 1;
            }
            if self.resets[op as usize] {
                self.resets_left += 1;
            }
            if !forced {
                return Some(self.events.after(self.events.call_node[op as usize]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::kv::{KvInput, KvModel, KvOutput};

    fn verdict(history: &History, steps_max: u64) -> Verdict {
        let ops: Vec<_> = history.iter().map(|(_, op)| op).collect();
        let (verdict, steps) = search(&KvModel, &ops, Order::RealTime, steps_max);
        assert!(steps <= steps_max);
        verdict
    }

    #[test]
    fn empty_and_pending_only_histories_are_linearizable() {
        let mut history = History::new();
        assert_eq!(verdict(&history, 1), Verdict::Linearizable);
        history.invoke(1, KvInput::put("k", "x"), 0);
        assert_eq!(verdict(&history, 1), Verdict::Linearizable);
    }

    #[test]
    fn concurrent_writes_may_go_either_way() {
        let mut history = History::new();
        history.record(1, KvInput::put("k", "x"), 0, KvOutput::Ok, 10);
        history.record(2, KvInput::put("k", "y"), 5, KvOutput::Ok, 10);
        let get = history.record(3, KvInput::get("k"), 20, KvOutput::value("x"), 30);
        assert_eq!(verdict(&history, 100), Verdict::Linearizable);
        history.record(4, KvInput::get("k"), 40, KvOutput::value("y"), 50);
        assert_eq!(verdict(&history, 100), Verdict::Illegal);
        assert_eq!(verdict(&history, 2), Verdict::Exhausted);
        assert_eq!(get.index(), 2);
        let ops: Vec<_> = history.iter().map(|(_, op)| op).collect();
        let (any_order, _) = search(&KvModel, &ops, Order::Any, 100);
        assert_eq!(
            any_order,
            Verdict::Linearizable,
            "ignoring time, y may be put between the reads"
        );
    }

    #[test]
    fn any_order_ignores_real_time() {
        let mut history = History::new();
        history.record(1, KvInput::get("k"), 0, KvOutput::value("x"), 10);
        history.record(2, KvInput::put("k", "x"), 20, KvOutput::Ok, 30);
        let ops: Vec<_> = history.iter().map(|(_, op)| op).collect();
        assert_eq!(
            search(&KvModel, &ops, Order::RealTime, 100).0,
            Verdict::Illegal
        );
        assert_eq!(
            search(&KvModel, &ops, Order::Any, 100).0,
            Verdict::Linearizable
        );
    }

    #[test]
    fn equal_times_count_as_overlapping() {
        let mut history = History::new();
        history.record(1, KvInput::get("k"), 0, KvOutput::value("x"), 10);
        history.record(2, KvInput::put("k", "x"), 10, KvOutput::Ok, 20);
        assert_eq!(verdict(&history, 100), Verdict::Linearizable);
    }
}
