//! Integration tests of the checker: hand-written histories (linearizable and not, with and
//! without pending operations), the violation report, budgets, large synthetic histories, and
//! a property test against a brute-force checker; and the same for the Redis model.

mod brute;
mod budget;
mod kv_histories;
mod pending;
mod property;
mod redis_histories;
mod redis_property;
mod report;
mod synth;

use check::{Budget, History, Outcome, Violation, check_kv};

/// Checks `history` with the default budget.
fn verdict(history: &History) -> Outcome {
    check_kv(history, Budget::default())
}

/// The violation of a history that must not be linearizable.
#[track_caller]
fn violation(history: &History) -> Violation {
    match verdict(history) {
        Outcome::Illegal(violation) => violation,
        other => panic!("expected a violation, got: {other}"),
    }
}

/// Panics with the report unless `history` is linearizable.
#[track_caller]
fn assert_linearizable(history: &History) {
    verdict(history).assert_linearizable();
}
