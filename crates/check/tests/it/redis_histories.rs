//! Hand-written Redis histories with a known verdict, and how multi-key commands couple keys
//! into components. Times are arbitrary units.

use check::{Budget, History, Outcome, RedisInput, RedisOutput, Violation, check_redis};

type RedisHistory = History<RedisInput, RedisOutput>;

fn some(value: &str) -> Option<Vec<u8>> {
    Some(value.as_bytes().to_vec())
}

#[track_caller]
fn redis_violation(history: &RedisHistory) -> Violation {
    match check_redis(history, Budget::default()) {
        Outcome::Illegal(violation) => violation,
        other => panic!("expected a violation, got: {other}"),
    }
}

/// An MGET concurrent with an MSET sees all of it or none of it: `[x, y]` or `[nil, nil]` are
/// fine, `[x, nil]` (half the MSET) is not.
#[test]
fn mget_seeing_half_an_mset_is_illegal() {
    for (seen, legal) in [
        (vec![some("x"), some("y")], true),
        (vec![None, None], true),
        (vec![some("x"), None], false),
    ] {
        let mut history = RedisHistory::default();
        history.record(
            1,
            RedisInput::mset([("a", "x"), ("b", "y")]),
            0,
            RedisOutput::Ok,
            10,
        );
        history.record(
            2,
            RedisInput::mget(["a", "b"]),
            5,
            RedisOutput::Values(seen),
            15,
        );
        let outcome = check_redis(&history, Budget::default());
        assert_eq!(outcome.is_linearizable(), legal, "{outcome}");
    }
}

/// A transaction's effects are seen all at once: a concurrent reader that sees its first SET
/// but not its second is illegal, though it may see neither or both.
#[test]
fn txn_seen_partially_is_illegal() {
    let txn = RedisInput::Txn(vec![RedisInput::set("a", "1"), RedisInput::set("b", "2")]);
    let reply = RedisOutput::Txn(vec![RedisOutput::Ok, RedisOutput::Ok]);
    let mut history = RedisHistory::default();
    history.record(1, txn, 0, reply, 10);
    let read = RedisInput::Txn(vec![RedisInput::get("a"), RedisInput::get("b")]);
    let seen = RedisOutput::Txn(vec![RedisOutput::value("1"), RedisOutput::nil()]);
    let read = history.record(2, read, 2, seen, 8);
    let violation = redis_violation(&history);
    assert_eq!(violation.keys(), ["a", "b"]);
    // No order of the two explains the read, so the report may shrink to the read alone.
    assert!(violation.ops().contains(&read), "{violation}");
    assert!(
        violation.to_string().contains("keys \"a\", \"b\""),
        "{violation}"
    );
}

/// One SET, then two concurrent DELs that both claim to have deleted the key: only one can.
#[test]
fn two_dels_removing_one_set_is_illegal() {
    let mut history = RedisHistory::default();
    history.record(1, RedisInput::set("k", "x"), 0, RedisOutput::Ok, 10);
    history.record(2, RedisInput::del(["k"]), 20, RedisOutput::Int(1), 40);
    history.record(3, RedisInput::del(["k"]), 25, RedisOutput::Int(1), 35);
    assert_eq!(redis_violation(&history).key(), "k");
    let mut history = RedisHistory::default();
    history.record(1, RedisInput::set("k", "x"), 0, RedisOutput::Ok, 10);
    history.record(2, RedisInput::del(["k"]), 20, RedisOutput::Int(1), 40);
    history.record(3, RedisInput::del(["k"]), 25, RedisOutput::Int(0), 35);
    check_redis(&history, Budget::default()).assert_linearizable();
}

/// Two concurrent SETNX on a missing key: exactly one wins, and a later GET sees its value.
#[test]
fn concurrent_set_nx_has_one_winner() {
    for (first, second, seen, legal) in [
        (true, false, "x", true),
        (false, true, "y", true),
        (true, false, "y", false),
        (true, true, "x", false),
    ] {
        let mut history = RedisHistory::default();
        history.record(
            1,
            RedisInput::set_nx("k", "x"),
            0,
            RedisOutput::Bool(first),
            10,
        );
        history.record(
            2,
            RedisInput::set_nx("k", "y"),
            0,
            RedisOutput::Bool(second),
            10,
        );
        history.record(3, RedisInput::get("k"), 20, RedisOutput::value(seen), 30);
        let outcome = check_redis(&history, Budget::default());
        assert_eq!(outcome.is_linearizable(), legal, "{outcome}");
    }
}

/// Concurrent INCRs each reply a distinct total; a lost update (two replies of 1) is illegal.
#[test]
fn concurrent_incrs_reply_distinct_totals() {
    for (replies, legal) in [([1, 2, 3], true), ([3, 1, 2], true), ([1, 1, 2], false)] {
        let mut history = RedisHistory::default();
        for (client, total) in (1..).zip(replies) {
            history.record(
                client,
                RedisInput::incr_by("n", 1),
                0,
                RedisOutput::Int(total),
                10,
            );
        }
        let outcome = check_redis(&history, Budget::default());
        assert_eq!(outcome.is_linearizable(), legal, "{outcome}");
    }
}

/// A pending write may or may not take effect; a pending read constrains nothing, and does
/// not couple the keys it names.
#[test]
fn pending_ops_may_take_effect_or_not() {
    let mut history = RedisHistory::default();
    history.invoke(1, RedisInput::incr_by("n", 5), 0);
    history.record(2, RedisInput::get("n"), 10, RedisOutput::nil(), 20);
    history.record(2, RedisInput::get("n"), 30, RedisOutput::value("5"), 40);
    history.invoke(3, RedisInput::mget(["n", "m"]), 0);
    history.record(3, RedisInput::set("m", "1"), 50, RedisOutput::Ok, 60);
    history.record(2, RedisInput::get("n"), 70, RedisOutput::nil(), 80);
    let violation = redis_violation(&history);
    assert_eq!(violation.keys(), ["n"], "the pending MGET couples nothing");
}

/// Single-key commands split per key, as the key/value model does; a multi-key command merges
/// its keys, and components chain transitively (a–b by one MGET, b–c by a DEL).
#[test]
fn components_follow_multi_key_commands() {
    let mut history = RedisHistory::default();
    history.record(1, RedisInput::set("a", "1"), 0, RedisOutput::Ok, 10);
    history.record(1, RedisInput::set("d", "1"), 0, RedisOutput::Ok, 10);
    // Stale: d is "1" by now. Alone, d's component is illegal.
    history.record(2, RedisInput::get("d"), 20, RedisOutput::nil(), 30);
    assert_eq!(redis_violation(&history).keys(), ["d"]);
    let reads = RedisOutput::Values(vec![some("1"), None]);
    history.record(2, RedisInput::mget(["a", "b"]), 20, reads, 30);
    history.record(3, RedisInput::del(["c", "b"]), 40, RedisOutput::Int(0), 50);
    // A stale read of a: the component a–b–c is illegal and comes first in key order.
    history.record(3, RedisInput::get("a"), 60, RedisOutput::nil(), 70);
    let violation = redis_violation(&history);
    assert_eq!(violation.keys(), ["a", "b", "c"]);
    assert_eq!(violation.key(), "a");
}
