//! The checker's entry points: partition the history, search each part, report the first bad one.

use std::collections::BTreeMap;

use crate::history::{History, OpId};
use crate::kv::KvModel;
use crate::model::Model;
use crate::outcome::{Budget, Outcome, Violation};
use crate::search::{Order, Verdict, search};
use crate::shrink::shrink;

/// Checks that `history` is linearizable with respect to `model`.
///
/// The history is split with [`Model::partition`] and each partition is searched on its own,
/// in key order, with at most `budget.search_steps_max` steps. Pending read-only operations
/// are dropped first, since they constrain nothing. The result is [`Outcome::Illegal`] if any
/// partition is not linearizable (for the first such key), else [`Outcome::Unknown`] if any
/// search ran out of budget, else [`Outcome::Linearizable`]. The verdict is deterministic.
pub fn check<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    budget: Budget,
) -> Outcome {
    let mut unknown = None;
    for (key, ids) in partition(model, history) {
        let ops: Vec<_> = ids.iter().map(|&id| history.op(id)).collect();
        match search(model, &ops, Order::RealTime, budget.search_steps_max).0 {
            Verdict::Linearizable => {}
            Verdict::Exhausted => {
                unknown.get_or_insert(Outcome::Unknown {
                    key,
                    search_steps_max: budget.search_steps_max,
                });
            }
            Verdict::Illegal => {
                let shrunk = shrink(model, &ops, budget);
                let kept = shrunk
                    .kept
                    .iter()
                    .map(|&index| (ids[index], ops[index]))
                    .collect();
                let violation = Violation::new(model, key, kept, ops.len(), shrunk.minimal);
                return Outcome::Illegal(violation);
            }
        }
    }
    unknown.unwrap_or(Outcome::Linearizable)
}

/// [`check`] with the key/value [`KvModel`].
pub fn check_kv(history: &History, budget: Budget) -> Outcome {
    check(&KvModel, history, budget)
}

/// Operation ids per partition key, each list in recording order. A `BTreeMap` so that keys
/// are checked, and reported, in the same order on every run.
fn partition<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
) -> BTreeMap<String, Vec<OpId>> {
    let mut parts: BTreeMap<String, Vec<OpId>> = BTreeMap::new();
    for (id, op) in history.iter() {
        if op.is_pending() && model.is_read_only(op.input()) {
            continue;
        }
        parts
            .entry(model.partition(op.input()))
            .or_default()
            .push(id);
    }
    parts
}
