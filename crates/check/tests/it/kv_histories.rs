//! Hand-written key/value histories with a known verdict. Times are arbitrary units; each
//! history's timeline is drawn in its doc comment as `[call, return]` intervals.

use check::{History, KvInput, KvOutput};

use crate::{assert_linearizable, violation};

/// A sequential put then get of the same value is linearizable; so is an empty history and a
/// read of a missing key as "".
#[test]
fn sequential_put_get_is_linearizable() {
    let mut history = History::new();
    assert_linearizable(&history);
    history.record(1, KvInput::get("k"), 0, KvOutput::value(""), 5);
    history.record(1, KvInput::put("k", "x"), 10, KvOutput::Ok, 20);
    history.record(2, KvInput::get("k"), 30, KvOutput::value("x"), 40);
    history.record(2, KvInput::append("k", "y"), 50, KvOutput::Ok, 60);
    history.record(1, KvInput::get("k"), 70, KvOutput::value("xy"), 80);
    assert_linearizable(&history);
}

/// Stale read: after Put(x) then Put(y) both returned, a read that starts later sees x.
#[test]
fn stale_read_is_illegal() {
    let mut history = History::new();
    history.record(1, KvInput::put("k", "x"), 0, KvOutput::Ok, 10);
    history.record(1, KvInput::put("k", "y"), 20, KvOutput::Ok, 30);
    history.record(2, KvInput::get("k"), 40, KvOutput::value("x"), 50);
    assert_eq!(violation(&history).key(), "k");
}

/// Lost append: both appends returned before the read started, but the read misses one.
#[test]
fn lost_append_is_illegal() {
    let mut history = History::new();
    history.record(1, KvInput::append("k", "x"), 0, KvOutput::Ok, 10);
    history.record(2, KvInput::append("k", "y"), 20, KvOutput::Ok, 30);
    history.record(3, KvInput::get("k"), 40, KvOutput::value("x"), 50);
    assert_eq!(violation(&history).ops().len(), 3);
}

/// Reordered appends: Append(x) returned before Append(y) was called, so "yx" is impossible;
/// the same appends made concurrent allow it.
#[test]
fn reordered_sequential_appends_are_illegal_but_concurrent_ones_are_not() {
    let mut sequential = History::new();
    sequential.record(1, KvInput::append("k", "x"), 0, KvOutput::Ok, 10);
    sequential.record(2, KvInput::append("k", "y"), 20, KvOutput::Ok, 30);
    sequential.record(3, KvInput::get("k"), 40, KvOutput::value("yx"), 50);
    violation(&sequential);

    let mut concurrent = History::new();
    concurrent.record(1, KvInput::append("k", "x"), 0, KvOutput::Ok, 25);
    concurrent.record(2, KvInput::append("k", "y"), 20, KvOutput::Ok, 30);
    concurrent.record(3, KvInput::get("k"), 40, KvOutput::value("yx"), 50);
    assert_linearizable(&concurrent);
}

/// A read of a value no operation wrote is illegal whatever the timing, and the report is
/// just that read.
#[test]
fn read_of_never_written_value_is_illegal() {
    let mut history = History::new();
    history.record(1, KvInput::put("k", "x"), 0, KvOutput::Ok, 100);
    let bad = history.record(2, KvInput::get("k"), 0, KvOutput::value("z"), 100);
    history.record(3, KvInput::append("k", "y"), 0, KvOutput::Ok, 100);
    assert_eq!(violation(&history).ops(), &[bad]);
}

/// Put(a) and Append(b) overlap. A later read of "ab" forces Put first, "a" forces Append
/// first, and "b" or "ba" match no order.
///
/// ```text
/// c1 Put(a)    [0 ........ 50]
/// c2 Append(b)     [10 ........ 60]
/// c3 Get                            [70, 80]
/// ```
#[test]
fn overlapping_put_and_append_are_linearizable_in_the_order_the_read_implies() {
    for (seen, legal) in [("ab", true), ("a", true), ("b", false), ("ba", false)] {
        let mut history = History::new();
        history.record(1, KvInput::put("k", "a"), 0, KvOutput::Ok, 50);
        history.record(2, KvInput::append("k", "b"), 10, KvOutput::Ok, 60);
        history.record(3, KvInput::get("k"), 70, KvOutput::value(seen), 80);
        let outcome = crate::verdict(&history);
        assert_eq!(outcome.is_linearizable(), legal, "read {seen:?}: {outcome}");
    }
}

/// A read that overlaps both appends fixes their order: it saw y alone, so y went first and
/// the final value must be "yx".
#[test]
fn a_concurrent_read_fixes_the_order_of_overlapping_appends() {
    for (last, legal) in [("yx", true), ("xy", false)] {
        let mut history = History::new();
        history.record(1, KvInput::append("k", "x"), 0, KvOutput::Ok, 100);
        history.record(2, KvInput::append("k", "y"), 0, KvOutput::Ok, 100);
        history.record(3, KvInput::get("k"), 10, KvOutput::value("y"), 20);
        history.record(4, KvInput::get("k"), 110, KvOutput::value(last), 120);
        assert_eq!(
            crate::verdict(&history).is_linearizable(),
            legal,
            "final read {last:?}"
        );
    }
}

/// New-old inversion: a read that finished saw the new value y, and a read that started after
/// it sees the old x. Each read alone is fine; together they are not.
///
/// ```text
/// c1 Put(x) [0, 10]
/// c2 Put(y)        [15 ............... 50]
/// c3 Get -> y           [20, 40]
/// c4 Get -> x                    [45, 60]
/// ```
#[test]
fn new_old_inversion_is_illegal() {
    let mut history = History::new();
    history.record(1, KvInput::put("k", "x"), 0, KvOutput::Ok, 10);
    history.record(2, KvInput::put("k", "y"), 15, KvOutput::Ok, 50);
    history.record(3, KvInput::get("k"), 20, KvOutput::value("y"), 40);
    let mut without_second_read = history.clone();
    history.record(4, KvInput::get("k"), 45, KvOutput::value("x"), 60);
    violation(&history);
    without_second_read.record(4, KvInput::get("k"), 45, KvOutput::value("y"), 60);
    assert_linearizable(&without_second_read);
}

/// Keys are independent: a read of key a is not affected by writes to key b, and a violation
/// on one key is reported for that key only.
#[test]
fn keys_are_checked_independently() {
    let mut history = History::new();
    history.record(1, KvInput::put("a", "1"), 0, KvOutput::Ok, 10);
    history.record(2, KvInput::put("b", "2"), 20, KvOutput::Ok, 30);
    history.record(3, KvInput::get("a"), 40, KvOutput::value("1"), 50);
    history.record(3, KvInput::get("c"), 60, KvOutput::value(""), 70);
    assert_linearizable(&history);
    let bad = history.record(4, KvInput::get("b"), 80, KvOutput::value(""), 90);
    let found = violation(&history);
    assert_eq!(found.key(), "b");
    assert_eq!(found.key_op_count(), 2);
    assert!(found.ops().contains(&bad));
}

/// Equal timestamps mean "could not be ordered": a return and a call at the same instant
/// overlap, so the read may see the put.
#[test]
fn equal_timestamps_count_as_concurrent() {
    let mut history = History::new();
    history.record(1, KvInput::get("k"), 0, KvOutput::value("x"), 10);
    history.record(2, KvInput::put("k", "x"), 10, KvOutput::Ok, 20);
    assert_linearizable(&history);
}

/// A reply of the wrong kind (a value for a put) matches no execution.
#[test]
fn wrong_reply_kind_is_illegal() {
    let mut history = History::new();
    history.record(1, KvInput::put("k", "x"), 0, KvOutput::value("x"), 10);
    violation(&history);
}
