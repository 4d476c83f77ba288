//! The sequential specification the checker tests a history against.

use std::hash::Hash;

use crate::history::Operation;

/// A recorded operation of model `M`.
pub(crate) type ModelOp<M> = Operation<<M as Model>::Input, <M as Model>::Output>;

/// What a legal operation does to the model state.
///
/// A separate `Unchanged` case (rather than returning a copy of the state) lets reads skip a
/// clone in the search's hot loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<S> {
    /// The operation cannot produce this output in this state.
    Illegal,
    /// The operation is legal and leaves the state as it was (for example a read).
    Unchanged,
    /// The operation is legal and moves the model to this state.
    Next(S),
}

/// A sequential object: its initial state, its transition function, and how to split a history
/// into independent parts.
///
/// The checker decides linearizability of each partition on its own, which is sound only if
/// operations in different partitions never interact (for a key/value store: different keys).
/// `State` is the state of *one* partition.
pub trait Model {
    /// State of one partition. Compared and hashed for memoization, so keep it small.
    type State: Clone + Eq + Hash;
    /// An operation's input (its name and arguments).
    type Input;
    /// An operation's output (its reply).
    type Output;

    /// The state of every partition before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state`, expecting `output`.
    ///
    /// `output` is `None` for an operation that never returned: it may have taken effect with
    /// any output, so the step should accept it whenever `input` can be applied. The checker
    /// also allows such an operation never to take effect.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Step<Self::State>;

    /// The partition `input` belongs to (for a key/value store, its key). Models that cannot be
    /// partitioned return the same string for every input.
    fn partition(&self, input: &Self::Input) -> String;

    /// Every partition `input` touches, for models whose operations may span several (an
    /// `MGET` of two keys). The checker merges partitions that any one operation spans, and
    /// then those that share one with another such operation: it checks the connected
    /// components of "appear in one operation together", which keeps compositionality sound
    /// (no operation crosses a component). The default, just [`Model::partition`], keeps every
    /// partition apart. Must return at least one name.
    fn partitions(&self, input: &Self::Input) -> Vec<String> {
        vec![self.partition(input)]
    }

    /// Whether `input` never changes the state, whatever the state and output: its `step` is
    /// always `Illegal`, `Unchanged`, or `Next` of an equal state. The default, `false`, is
    /// always safe; `true` makes the search much cheaper. The checker drops a read that never
    /// returned (it constrains nothing) and linearizes a legal read as soon as it may, without
    /// branching on it; both are sound only if this contract holds.
    fn is_read_only(&self, input: &Self::Input) -> bool {
        let _ = input;
        false
    }

    /// Whether `input` may replace the state with one that does not extend it (a Put, in the
    /// key/value model; an Append only extends). The default, `true`, is always safe. See
    /// [`Model::may_grow_into`].
    fn may_reset(&self, input: &Self::Input) -> bool {
        let _ = input;
        true
    }

    /// Whether operations that do not reset ([`Model::may_reset`] is `false` for them) could
    /// take `state` to a state in which the read `input` returns `output`. The search uses it
    /// only once no resetting operation is left: a write whose resulting state cannot grow into
    /// the answer of some read still to come is pruned at once, instead of after every
    /// ordering of the remaining writes was tried. The default, `true`, is always safe; `false`
    /// must mean "impossible".
    fn may_grow_into(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> bool {
        let _ = (state, input, output);
        true
    }

    /// One-line description of an operation for reports, such as `Get("k") -> "v"`.
    /// `output` is `None` if the operation never returned.
    fn describe(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;
}
