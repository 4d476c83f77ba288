//! The report of a violation: minimal, relevant, readable.

use check::{History, KvInput, KvOutput, Outcome};

use crate::{brute, violation};

/// A stale read buried in a longer history, next to traffic on other keys, is reported as
/// just the two writes and the stale read, and the rendered report has exactly those lines.
#[test]
fn minimal_report_contains_only_the_relevant_ops() {
    let mut history = History::new();
    let put_1 = history.record(1, KvInput::put("k", "1"), 0, KvOutput::Ok, 10);
    history.record(4, KvInput::put("other", "1"), 0, KvOutput::Ok, 200);
    history.record(1, KvInput::get("k"), 20, KvOutput::value("1"), 30);
    let put_2 = history.record(2, KvInput::put("k", "2"), 40, KvOutput::Ok, 50);
    history.record(2, KvInput::get("k"), 60, KvOutput::value("2"), 70);
    history.record(4, KvInput::get("other"), 60, KvOutput::value("1"), 250);
    let stale = history.record(3, KvInput::get("k"), 80, KvOutput::value("1"), 90);
    history.record(3, KvInput::append("k", "3"), 100, KvOutput::Ok, 110);
    history.record(1, KvInput::get("k"), 120, KvOutput::value("23"), 130);
    history.invoke(2, KvInput::append("k", "4"), 140);

    let found = violation(&history);
    assert_eq!(found.ops(), &[put_1, put_2, stale]);
    assert!(found.is_minimal());
    let expected = "\
not linearizable: key \"k\"; minimal offending sub-history, 3 of 8 ops on the key:
  c1 [ 0, 10] Put(\"k\",\"1\") -> ok
  c2 [40, 50] Put(\"k\",\"2\") -> ok
  c3 [80, 90] Get(\"k\") -> \"1\"
";
    assert_eq!(found.to_string(), expected);
}

/// The reported sub-history is a genuine counterexample: re-checked on its own, by the brute
/// force checker, it is still not linearizable.
#[test]
fn reported_sub_history_is_itself_not_linearizable() {
    let mut history = History::new();
    history.record(1, KvInput::append("k", "x"), 0, KvOutput::Ok, 10);
    history.record(2, KvInput::get("k"), 5, KvOutput::value("x"), 15);
    history.record(2, KvInput::append("k", "y"), 20, KvOutput::Ok, 30);
    history.record(3, KvInput::get("k"), 25, KvOutput::value("xy"), 35);
    history.record(1, KvInput::get("k"), 40, KvOutput::value("x"), 50);
    let found = violation(&history);
    let sub = brute::sub_history(&history, found.ops());
    assert!(!brute::is_linearizable(&sub), "{found}");
    assert!(found.ops().len() < history.len());
}

/// The report sorts by call time and shows pending operations with return time `inf`.
#[test]
fn report_shows_pending_ops_as_never_returning() {
    let mut history = History::new();
    history.record(7, KvInput::get("k"), 1_000, KvOutput::value("x"), 1_500);
    history.invoke(12, KvInput::append("k", "x"), 2_000);
    let expected = "\
not linearizable: key \"k\"; minimal offending sub-history, 2 of 2 ops on the key:
  c7  [1000, 1500] Get(\"k\") -> \"x\"
  c12 [2000,  inf] Append(\"k\",\"x\") -> (no reply)
";
    assert_eq!(violation(&history).to_string(), expected);
}

/// `assert_linearizable` fails with the readable report.
#[test]
#[should_panic(expected = "c2 [20, 30] Get(\"k\") -> \"\"")]
fn assert_linearizable_panics_with_the_report() {
    let mut history = History::new();
    history.record(1, KvInput::put("k", "x"), 0, KvOutput::Ok, 10);
    history.record(2, KvInput::get("k"), 20, KvOutput::value(""), 30);
    crate::verdict(&history).assert_linearizable();
}

/// Outcomes print one-line summaries for the passing and inconclusive cases.
#[test]
fn outcomes_display_readably() {
    assert_eq!(Outcome::Linearizable.to_string(), "linearizable");
    let unknown = Outcome::Unknown {
        key: "k".to_owned(),
        search_steps_max: 10,
    };
    assert!(
        unknown
            .to_string()
            .starts_with("linearizability unknown: the search for key \"k\"")
    );
}
