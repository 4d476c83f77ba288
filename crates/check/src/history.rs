//! Recording a concurrent history: one invoke event and at most one return event per operation.
//!
//! Times are any monotonic `u64` clock shared by all clients (simulator micros or real
//! nanoseconds). Two operations overlap unless one returns strictly before the other is
//! invoked, so equal timestamps are treated as concurrent: the permissive reading of a clock
//! too coarse to order them.

use std::fmt;

use thiserror::Error;

use crate::kv::{KvInput, KvOutput};

/// Handle of a recorded operation, returned by [`History::invoke`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(usize);

impl OpId {
    /// Position of the operation in its history, in invoke-recording order.
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op#{}", self.0)
    }
}

/// One operation: who called it, with what, when, and (if it returned) what it returned when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    client: u64,
    input: I,
    call_time: u64,
    /// The output and return time, or `None` while (or if forever) pending.
    completion: Option<(O, u64)>,
}

impl<I, O> Operation<I, O> {
    /// The client that issued the operation.
    pub fn client(&self) -> u64 {
        self.client
    }

    /// The request.
    pub fn input(&self) -> &I {
        &self.input
    }

    /// When the client invoked the operation.
    pub fn call_time(&self) -> u64 {
        self.call_time
    }

    /// The reply, or `None` if the operation never returned.
    pub fn output(&self) -> Option<&O> {
        self.completion.as_ref().map(|(output, _)| output)
    }

    /// When the reply arrived, or `None` (+infinity) if it never did.
    pub fn return_time(&self) -> Option<u64> {
        self.completion.as_ref().map(|&(_, time)| time)
    }

    /// Whether the operation never returned (the client timed out or crashed): it may or may
    /// not have taken effect.
    pub fn is_pending(&self) -> bool {
        self.completion.is_none()
    }
}

/// Why [`History::try_complete`] refused an event. Each one is a bug in the recording harness.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HistoryError {
    /// The id came from another history.
    #[error("{id} is not in this history")]
    UnknownOp {
        /// The offending id.
        id: OpId,
    },
    /// The operation already has a return event.
    #[error("{id} completed twice")]
    AlreadyCompleted {
        /// The offending id.
        id: OpId,
    },
    /// The return event is earlier than the invoke event.
    #[error("{id} returns at {return_time}, before its call at {call_time}")]
    ReturnBeforeCall {
        /// The offending id.
        id: OpId,
        /// When the operation was invoked.
        call_time: u64,
        /// The rejected return time.
        return_time: u64,
    },
}

/// A concurrent history of operations, by default on the key/value [`crate::KvModel`].
///
/// Operations that are never completed count as pending forever. The recorder is not
/// synchronized: concurrent clients share it behind a `Mutex`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<I = KvInput, O = KvOutput> {
    ops: Vec<Operation<I, O>>,
}

impl History {
    /// An empty key/value history. For other models use [`History::default`].
    pub fn new() -> Self {
        Self::default()
    }
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        Self { ops: Vec::new() }
    }
}

impl<I, O> History<I, O> {
    /// Records that `client` invoked `input` at `call_time`; the operation is pending until
    /// [`History::complete`].
    pub fn invoke(&mut self, client: u64, input: I, call_time: u64) -> OpId {
        self.ops.push(Operation {
            client,
            input,
            call_time,
            completion: None,
        });
        OpId(self.ops.len() - 1)
    }

    /// Records that operation `id` returned `output` at `return_time`.
    ///
    /// # Errors
    ///
    /// [`HistoryError`] if `id` is unknown, already completed, or `return_time` precedes its
    /// call time. The history is unchanged then.
    pub fn try_complete(
        &mut self,
        id: OpId,
        output: O,
        return_time: u64,
    ) -> Result<(), HistoryError> {
        let op = self
            .ops
            .get_mut(id.0)
            .ok_or(HistoryError::UnknownOp { id })?;
        if op.completion.is_some() {
            return Err(HistoryError::AlreadyCompleted { id });
        }
        if return_time < op.call_time {
            return Err(HistoryError::ReturnBeforeCall {
                id,
                call_time: op.call_time,
                return_time,
            });
        }
        op.completion = Some((output, return_time));
        Ok(())
    }

    /// Records that operation `id` returned `output` at `return_time`.
    ///
    /// # Panics
    ///
    /// On any [`HistoryError`]: a history with such an event is a harness bug, and checking
    /// it would give a meaningless verdict.
    #[track_caller]
    pub fn complete(&mut self, id: OpId, output: O, return_time: u64) {
        if let Err(error) = self.try_complete(id, output, return_time) {
            panic!("invalid history event: {error}");
        }
    }

    /// Records a whole completed operation at once; handy for hand-written histories.
    ///
    /// # Panics
    ///
    /// If `return_time < call_time`.
    #[track_caller]
    pub fn record(
        &mut self,
        client: u64,
        input: I,
        call_time: u64,
        output: O,
        return_time: u64,
    ) -> OpId {
        let id = self.invoke(client, input, call_time);
        self.complete(id, output, return_time);
        id
    }

    /// Number of operations, pending ones included.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether no operation was recorded.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operation `id`, if it belongs to this history.
    pub fn get(&self, id: OpId) -> Option<&Operation<I, O>> {
        self.ops.get(id.0)
    }

    /// All operations with their ids, in invoke-recording order.
    pub fn iter(&self) -> impl Iterator<Item = (OpId, &Operation<I, O>)> {
        self.ops
            .iter()
            .enumerate()
            .map(|(index, op)| (OpId(index), op))
    }

    /// The operation `id`; ids handed out by this history are always valid.
    pub(crate) fn op(&self, id: OpId) -> &Operation<I, O> {
        &self.ops[id.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_and_complete_fill_in_an_operation() {
        let mut history = History::new();
        let id = history.invoke(7, KvInput::get("k"), 10);
        assert!(history.op(id).is_pending());
        history.complete(id, KvOutput::value("v"), 10);
        let op = history.get(id).expect("just recorded");
        assert_eq!(
            (op.client(), op.call_time(), op.return_time()),
            (7, 10, Some(10))
        );
        assert_eq!(op.output(), Some(&KvOutput::value("v")));
        assert_eq!(history.len(), 1);
    }

    #[test]
    fn bad_completions_are_rejected_without_change() {
        let mut history = History::new();
        let id = history.invoke(1, KvInput::get("k"), 10);
        let early = history.try_complete(id, KvOutput::Ok, 9);
        let expected = HistoryError::ReturnBeforeCall {
            id,
            call_time: 10,
            return_time: 9,
        };
        assert_eq!(early, Err(expected));
        assert!(history.op(id).is_pending());
        assert_eq!(history.try_complete(id, KvOutput::Ok, 11), Ok(()));
        let twice = history.try_complete(id, KvOutput::Ok, 12);
        assert_eq!(twice, Err(HistoryError::AlreadyCompleted { id }));
        let unknown = History::new().try_complete(id, KvOutput::Ok, 12);
        assert_eq!(unknown, Err(HistoryError::UnknownOp { id }));
    }
}
