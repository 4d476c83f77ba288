//! Budgets: a spent budget is Unknown, never a pass; realistic histories fit the default.

use check::{Budget, History, KvInput, KvOutput, Outcome, check_kv};

use crate::synth::{SplitMix, Workload, corrupt_one_read, linearizable_history};
use crate::verdict;

/// Eight overlapping appends of distinct values, an overlapping Put of "", and a final read of
/// a value no order gives: every order of the appends before the Put yields a distinct state,
/// so memoization cannot help, and the search must try them all before it may say Illegal.
/// (Without the Put, the read alone would prune every order at once: appends only extend.)
fn hard_history() -> History {
    let mut history = History::new();
    for client in 0..8u64 {
        history.record(
            client,
            KvInput::append("k", client.to_string()),
            0,
            KvOutput::Ok,
            100,
        );
    }
    history.record(8, KvInput::put("k", ""), 0, KvOutput::Ok, 100);
    history.record(9, KvInput::get("k"), 200, KvOutput::value("01234567!"), 210);
    history
}

/// A tiny budget on a hard history gives Unknown (not Linearizable); the default budget is
/// enough to prove it Illegal.
#[test]
fn tiny_budget_on_hard_history_is_unknown() {
    let history = hard_history();
    let outcome = check_kv(&history, Budget::new(1_000));
    assert_eq!(
        outcome,
        Outcome::Unknown {
            key: "k".to_owned(),
            search_steps_max: 1_000
        }
    );
    assert!(matches!(verdict(&history), Outcome::Illegal(_)));
}

/// A checker timeout is a failure, never a pass.
#[test]
#[should_panic(expected = "a checker timeout is a failure, not a pass")]
fn unknown_fails_assert_linearizable() {
    check_kv(&hard_history(), Budget::new(1_000)).assert_linearizable();
}

/// An illegal key is reported even if another key (checked first) ran out of budget: a
/// definite violation is more useful than "unknown".
#[test]
fn illegal_key_wins_over_unknown_key() {
    let mut history = hard_history();
    history.record(1, KvInput::put("z", "x"), 300, KvOutput::Ok, 310);
    history.record(2, KvInput::get("z"), 320, KvOutput::value(""), 330);
    match check_kv(&history, Budget::new(1_000)) {
        Outcome::Illegal(found) => assert_eq!(found.key(), "z"),
        other => panic!("expected the violation on z, got: {other}"),
    }
}

/// The workloads of the benches, generated from a real linearizable execution, are proved
/// linearizable within the default budget, pending operations included.
#[test]
fn synthetic_linearizable_histories_pass() {
    let workloads = [
        Workload {
            seed: 7,
            ops: 10_000,
            clients: 10,
            keys: 100,
            pending_percent: 2,
        },
        Workload {
            seed: 8,
            ops: 2_000,
            clients: 5,
            keys: 1,
            pending_percent: 2,
        },
        Workload {
            seed: 9,
            ops: 300,
            clients: 10,
            keys: 1,
            pending_percent: 5,
        },
    ];
    for workload in workloads {
        let outcome = verdict(&linearizable_history(workload));
        assert!(outcome.is_linearizable(), "{workload:?}: {outcome}");
    }
}

/// Corrupting one read in a long linearizable history is caught, and the report is a small
/// sub-history on that read's key that is itself not linearizable. Two corruptions: a value
/// never written (always illegal), and a value an earlier read saw (a stale read; illegal
/// unless a write restored it, so only most of the trials must fail).
#[test]
fn corrupted_read_in_long_history_is_caught_with_a_small_report() {
    let workload = Workload {
        seed: 11,
        ops: 3_000,
        clients: 10,
        keys: 20,
        pending_percent: 1,
    };
    let history = linearizable_history(workload);
    let mut rng = SplitMix::new(12);
    let mut stale_caught = 0;
    for trial in 0..10 {
        let stale = trial % 2 == 1;
        let (corrupted, key) = corrupt_one_read(&history, &mut rng, stale);
        let found = match verdict(&corrupted) {
            Outcome::Illegal(found) => found,
            Outcome::Linearizable if stale => continue,
            other => panic!("corruption missed: {other}"),
        };
        stale_caught += usize::from(stale);
        assert_eq!(found.key(), key);
        assert!(found.ops().len() <= 8, "report too long:\n{found}");
        let sub = crate::brute::sub_history(&corrupted, found.ops());
        assert!(
            !verdict(&sub).is_linearizable(),
            "report is no counterexample:\n{found}"
        );
    }
    assert!(
        stale_caught >= 3,
        "only {stale_caught} of 5 stale reads caught"
    );
}

/// Ten clients each append ten distinct values, all overlapping, then two reads see one
/// interleaving: 100!/(10!)^10 orders, but once no Put is left the search prunes every append
/// that the reads' value does not continue, so a small budget proves it linearizable, and a
/// read that no order explains is found illegal as cheaply.
#[test]
fn concurrent_appenders_then_reads_fit_a_small_budget() {
    let mut history = History::new();
    let mut value = String::new();
    for round in 0..10u64 {
        for client in 0..10u64 {
            let piece = format!("[{client}.{round}]");
            value.push_str(&piece);
            let call = round * 10;
            history.record(
                client,
                KvInput::append("k", piece),
                call,
                KvOutput::Ok,
                call + 500,
            );
        }
    }
    let mut bad = history.clone();
    history.record(
        20,
        KvInput::get("k"),
        1_000,
        KvOutput::value(value.clone()),
        1_010,
    );
    history.record(21, KvInput::get("k"), 1_000, KvOutput::value(value), 1_010);
    let budget = Budget::new(100_000);
    assert_eq!(check_kv(&history, budget), Outcome::Linearizable);
    bad.record(
        20,
        KvInput::get("k"),
        1_000,
        KvOutput::value("[9.9][0.0]"),
        1_010,
    );
    assert!(matches!(check_kv(&bad, budget), Outcome::Illegal(_)));
}
