//! The checker's bounds and verdicts, and the readable report of a violation.

use std::fmt;

use crate::history::OpId;
use crate::model::{Model, ModelOp};

/// Bounds on the checker's work, in search steps so verdicts never depend on machine speed.
///
/// One step is one move of the search (looking at one event of the list), roughly 30–50 ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Steps allowed to decide one partition (key). Running out gives [`Outcome::Unknown`].
    pub search_steps_max: u64,
    /// Steps allowed, in total, to shrink a violation to a minimal sub-history. Running out
    /// only makes the report longer: the verdict stays [`Outcome::Illegal`].
    pub shrink_steps_max: u64,
}

impl Budget {
    /// Up to about half a second per key. A key with 1,000 operations needs some 30,000 steps
    /// when about five overlap at any time, but one to more than ten million when ten do
    /// (see the crate docs, "Limits"). Memory stays within a few hundred MB, since only some
    /// steps add to the memo table.
    pub const DEFAULT: Self = Self {
        search_steps_max: 10_000_000,
        shrink_steps_max: 10_000_000,
    };

    /// The default budget with `search_steps_max` steps per key.
    pub const fn new(search_steps_max: u64) -> Self {
        Self {
            search_steps_max,
            ..Self::DEFAULT
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The verdict on a whole history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every partition has a legal order that respects real time.
    Linearizable,
    /// Some partition has none; the violation of the first such key (in key order).
    Illegal(Violation),
    /// No partition is illegal, but this one (the first in key order) ran out of budget.
    Unknown {
        /// The partition whose search ran out; for a component of partitions coupled by
        /// multi-partition operations ([`Model::partitions`]), its smallest name.
        key: String,
        /// The budget it ran out of.
        search_steps_max: u64,
    },
}

impl Outcome {
    /// Whether the history was proven linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Self::Linearizable)
    }

    /// Passes only on [`Outcome::Linearizable`].
    ///
    /// # Panics
    ///
    /// On [`Outcome::Illegal`], with the minimal offending sub-history, and on
    /// [`Outcome::Unknown`]: a checker timeout is a failure, never a pass.
    #[track_caller]
    pub fn assert_linearizable(&self) {
        if !self.is_linearizable() {
            panic!("{self}");
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Linearizable => write!(f, "linearizable"),
            Self::Illegal(violation) => write!(f, "{violation}"),
            Self::Unknown {
                key,
                search_steps_max,
            } => write!(
                f,
                "linearizability unknown: the search for key {key:?} exceeded its budget of \
                 {search_steps_max} steps (a checker timeout is a failure, not a pass)"
            ),
        }
    }
}

/// A non-linearizable partition, reduced to a small sub-history that is still not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The component's partitions, sorted: one, unless multi-partition operations coupled
    /// several ([`Model::partitions`]).
    keys: Vec<String>,
    ops: Vec<OpId>,
    lines: Vec<String>,
    key_op_count: usize,
    minimal: bool,
}

impl Violation {
    /// Builds the report for `ops` (the reduced sub-history) of the component of `keys`.
    pub(crate) fn new<M: Model>(
        model: &M,
        keys: Vec<String>,
        mut ops: Vec<(OpId, &ModelOp<M>)>,
        key_op_count: usize,
        minimal: bool,
    ) -> Self {
        ops.sort_by_key(|&(id, op)| (op.call_time(), id));
        let lines = render(model, &ops);
        let ops = ops.into_iter().map(|(id, _)| id).collect();
        assert!(!keys.is_empty(), "a violation names its partition");
        assert!(keys.is_sorted(), "component names out of order");
        Self {
            keys,
            ops,
            lines,
            key_op_count,
            minimal,
        }
    }

    /// The partition (key) that is not linearizable; for a component of several coupled
    /// partitions, its smallest name.
    pub fn key(&self) -> &str {
        &self.keys[0]
    }

    /// Every partition of the component that is not linearizable, sorted: just
    /// [`Violation::key`] unless multi-partition operations coupled several.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The operations of the reduced sub-history, sorted by call time.
    pub fn ops(&self) -> &[OpId] {
        &self.ops
    }

    /// How many operations the partition had before reduction.
    pub fn key_op_count(&self) -> usize {
        self.key_op_count
    }

    /// Whether removing any single operation of [`Violation::ops`] makes the rest linearizable
    /// (or, see the crate docs, hides the cause). `false` if the shrink budget ran out first.
    pub fn is_minimal(&self) -> bool {
        self.minimal
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.minimal {
            "minimal"
        } else {
            "reduced (shrink budget ran out)"
        };
        if let [key] = self.keys.as_slice() {
            writeln!(
                f,
                "not linearizable: key {key:?}; {kind} offending sub-history, {} of {} ops on \
                 the key:",
                self.ops.len(),
                self.key_op_count,
            )?;
        } else {
            writeln!(
                f,
                "not linearizable: keys {} (coupled by multi-key ops); {kind} offending \
                 sub-history, {} of {} ops on the keys:",
                list_keys(&self.keys),
                self.ops.len(),
                self.key_op_count,
            )?;
        }
        for line in &self.lines {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Keys named in a report, at most this many: a workload of random multi-key operations may
/// couple every key into one component.
const REPORT_KEYS_MAX: usize = 8;

/// `"a", "b", "c"`, cut after [`REPORT_KEYS_MAX`] keys with a count of the rest.
fn list_keys(keys: &[String]) -> String {
    let shown: Vec<String> = keys
        .iter()
        .take(REPORT_KEYS_MAX)
        .map(|key| format!("{key:?}"))
        .collect();
    let mut listed = shown.join(", ");
    if keys.len() > REPORT_KEYS_MAX {
        listed.push_str(&format!(" and {} more", keys.len() - REPORT_KEYS_MAX));
    }
    listed
}

/// One line per operation: `c3 [  120,   340] Append("k","x") -> ok`; `inf` for no return.
fn render<M: Model>(model: &M, ops: &[(OpId, &ModelOp<M>)]) -> Vec<String> {
    let time_width = ops
        .iter()
        .flat_map(|(_, op)| [Some(op.call_time()), op.return_time()])
        .map(|time| time.map_or(3, |t| t.to_string().len()))
        .max()
        .unwrap_or(0);
    let clients: Vec<String> = ops
        .iter()
        .map(|(_, op)| format!("c{}", op.client()))
        .collect();
    let client_width = clients.iter().map(String::len).max().unwrap_or(0);
    ops.iter()
        .zip(&clients)
        .map(|((_, op), client)| {
            let return_time = op
                .return_time()
                .map_or_else(|| "inf".to_owned(), |t| t.to_string());
            let described = model.describe(op.input(), op.output());
            format!(
                "{client:<client_width$} [{:>time_width$}, {return_time:>time_width$}] {described}",
                op.call_time(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::kv::{KvInput, KvModel, KvOutput};

    #[test]
    fn report_aligns_columns_and_sorts_by_call_time() {
        let mut history = History::new();
        let late = history.record(12, KvInput::get("k"), 340, KvOutput::value("x"), 1000);
        let early = history.record(3, KvInput::append("k", "x"), 120, KvOutput::Ok, 340);
        let pending = history.invoke(4, KvInput::put("k", "y"), 200);
        let ops = [late, early, pending]
            .map(|id| (id, history.op(id)))
            .to_vec();
        let violation = Violation::new(&KvModel, vec!["k".to_owned()], ops, 9, true);
        assert_eq!(violation.ops(), &[early, pending, late]);
        let expected = "\
not linearizable: key \"k\"; minimal offending sub-history, 3 of 9 ops on the key:
  c3  [ 120,  340] Append(\"k\",\"x\") -> ok
  c4  [ 200,  inf] Put(\"k\",\"y\") -> (no reply)
  c12 [ 340, 1000] Get(\"k\") -> \"x\"
";
        assert_eq!(violation.to_string(), expected);
    }

    #[test]
    fn report_of_coupled_keys_lists_them_and_cuts_long_lists() {
        let mut history = History::new();
        let get = history.record(1, KvInput::get("a"), 0, KvOutput::value("x"), 1);
        let keys: Vec<String> = ["a", "b"].map(str::to_owned).to_vec();
        let violation = Violation::new(&KvModel, keys, vec![(get, history.op(get))], 4, true);
        assert_eq!(violation.key(), "a");
        let header = violation.to_string();
        let expected = "not linearizable: keys \"a\", \"b\" (coupled by multi-key ops); minimal \
                        offending sub-history, 1 of 4 ops on the keys:";
        assert_eq!(header.lines().next(), Some(expected));
        let many: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        let listed = list_keys(&many);
        assert!(listed.ends_with("\"k7\" and 2 more"), "{listed}");
    }

    #[test]
    fn unknown_is_not_a_pass() {
        let outcome = Outcome::Unknown {
            key: "k".to_owned(),
            search_steps_max: 5,
        };
        assert!(!outcome.is_linearizable());
        let shown = outcome.to_string();
        assert!(
            shown.contains("\"k\"") && shown.contains("5 steps"),
            "{shown}"
        );
    }
}
