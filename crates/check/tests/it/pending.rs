//! Operations that never returned (the client timed out or crashed): they may have taken
//! effect at any time after their call, or never, and a read without a reply says nothing.

use check::{History, KvInput, KvOutput};

use crate::{assert_linearizable, violation};

/// A put whose client crashed may still have taken effect: a later read may see it.
#[test]
fn pending_put_may_have_taken_effect() {
    let mut history = History::new();
    history.invoke(1, KvInput::put("k", "x"), 0);
    history.record(2, KvInput::get("k"), 10, KvOutput::value("x"), 20);
    assert_linearizable(&history);
}

/// …or may never have taken effect: reads may keep seeing the old value.
#[test]
fn pending_put_may_have_had_no_effect() {
    let mut history = History::new();
    history.invoke(1, KvInput::put("k", "x"), 0);
    history.record(2, KvInput::get("k"), 10, KvOutput::value(""), 20);
    history.record(2, KvInput::get("k"), 30, KvOutput::value(""), 40);
    assert_linearizable(&history);
}

/// A pending operation cannot take effect before it was invoked.
#[test]
fn pending_put_cannot_take_effect_before_its_call() {
    let mut history = History::new();
    history.record(2, KvInput::get("k"), 0, KvOutput::value("x"), 5);
    history.invoke(1, KvInput::put("k", "x"), 10);
    let found = violation(&history);
    assert!(
        found
            .to_string()
            .contains("inf] Put(\"k\",\"x\") -> (no reply)"),
        "{found}"
    );
}

/// Once a pending put was seen, it has taken effect for good: a later read of the old value
/// is illegal.
#[test]
fn pending_effect_once_seen_is_permanent() {
    let mut history = History::new();
    history.invoke(1, KvInput::put("k", "x"), 0);
    history.record(2, KvInput::get("k"), 10, KvOutput::value("x"), 20);
    history.record(2, KvInput::get("k"), 30, KvOutput::value(""), 40);
    violation(&history);
}

/// A pending append takes effect at most once.
#[test]
fn pending_append_takes_effect_at_most_once() {
    let mut history = History::new();
    history.invoke(1, KvInput::append("k", "x"), 0);
    history.record(2, KvInput::get("k"), 10, KvOutput::value("x"), 20);
    history.record(2, KvInput::get("k"), 30, KvOutput::value("x"), 40);
    assert_linearizable(&history);
    history.record(2, KvInput::get("k"), 50, KvOutput::value("xx"), 60);
    violation(&history);
}

/// A pending operation may take effect long after its call, after operations that started
/// later: its return time is +infinity.
#[test]
fn pending_append_may_take_effect_after_later_operations() {
    let mut history = History::new();
    history.record(1, KvInput::put("k", "a"), 0, KvOutput::Ok, 10);
    history.invoke(2, KvInput::append("k", "b"), 5);
    history.record(1, KvInput::put("k", "c"), 20, KvOutput::Ok, 30);
    history.record(3, KvInput::get("k"), 40, KvOutput::value("cb"), 50);
    assert_linearizable(&history);
}

/// A read that never returned constrains nothing, and a history of only pending operations is
/// linearizable.
#[test]
fn pending_read_constrains_nothing() {
    let mut history = History::new();
    history.invoke(1, KvInput::get("k"), 0);
    history.invoke(2, KvInput::append("k", "x"), 0);
    assert_linearizable(&history);
    history.record(3, KvInput::put("k", "y"), 10, KvOutput::Ok, 20);
    history.record(3, KvInput::get("k"), 30, KvOutput::value("yx"), 40);
    assert_linearizable(&history);
}

/// Two pending appends of the same value (say a timed-out attempt and its retry, recorded as
/// separate operations) may both have taken effect.
#[test]
fn duplicate_pending_appends_may_both_apply() {
    let mut history = History::new();
    history.invoke(1, KvInput::append("k", "x"), 0);
    history.invoke(1, KvInput::append("k", "x"), 10);
    history.record(2, KvInput::get("k"), 20, KvOutput::value("xx"), 30);
    assert_linearizable(&history);
}
