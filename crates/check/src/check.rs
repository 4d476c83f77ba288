//! The checker's entry points: partition the history, search each part, report the first bad one.

use crate::component::components;
use crate::history::History;
use crate::kv::KvModel;
use crate::model::Model;
use crate::outcome::{Budget, Outcome, Violation};
use crate::redis::{RedisInput, RedisModel, RedisOutput};
use crate::search::{Order, Verdict, search};
use crate::shrink::shrink;

/// Checks that `history` is linearizable with respect to `model`.
///
/// The history is split into the components of [`Model::partitions`] (for single-partition
/// operations, one per [`Model::partition`]) and each component is searched on its own, in
/// name order, with at most `budget.search_steps_max` steps. Pending read-only operations are
/// dropped first, since they constrain nothing. The result is [`Outcome::Illegal`] if any
/// component is not linearizable (for the first such one), else [`Outcome::Unknown`] if any
/// search ran out of budget, else [`Outcome::Linearizable`]. The verdict is deterministic.
pub fn check<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    budget: Budget,
) -> Outcome {
    let mut unknown = None;
    for component in components(model, history) {
        let ids = &component.ops;
        let ops: Vec<_> = ids.iter().map(|&id| history.op(id)).collect();
        match search(model, &ops, Order::RealTime, budget.search_steps_max).0 {
            Verdict::Linearizable => {}
            Verdict::Exhausted => {
                unknown.get_or_insert(Outcome::Unknown {
                    key: component.name().to_owned(),
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
                let violation =
                    Violation::new(model, component.keys, kept, ops.len(), shrunk.minimal);
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

/// [`check`] with the Redis string [`RedisModel`]. Keys that a multi-key command (`DEL`,
/// `MSET`, `MGET`, a transaction) touches together are checked as one component.
pub fn check_redis(history: &History<RedisInput, RedisOutput>, budget: Budget) -> Outcome {
    check(&RedisModel, history, budget)
}
