//! The Redis model's sequential semantics, one command at a time.

use super::semantics::parse_i64;
use super::*;

fn state(pairs: &[(&str, &str)]) -> RedisState {
    pairs
        .iter()
        .map(|&(key, value)| (key.to_owned(), value.as_bytes().to_vec()))
        .collect()
}

/// The reply and state after `input` on `pairs`.
fn run(pairs: &[(&str, &str)], input: RedisInput) -> (RedisOutput, RedisState) {
    let mut store = state(pairs);
    let reply = semantics::apply(&mut store, &input);
    (reply, store)
}

#[test]
fn integers_parse_only_in_canonical_form() {
    assert_eq!(parse_i64(b"0"), Some(0));
    assert_eq!(parse_i64(b"-17"), Some(-17));
    assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        &b""[..],
        b"+1",
        b" 1",
        b"1 ",
        b"01",
        b"-0",
        b"-",
        b"1.0",
        b"9223372036854775808",
        b"\xff",
        b"000000000000000000001",
    ] {
        assert_eq!(parse_i64(bad), None, "{bad:?} is not canonical");
    }
}

#[test]
fn incr_by_follows_redis_rules_and_errors_change_nothing() {
    let (reply, after) = run(&[], RedisInput::incr_by("n", 5));
    assert_eq!((reply, after), (RedisOutput::Int(5), state(&[("n", "5")])));
    let (reply, after) = run(&[("n", "-3")], RedisInput::incr_by("n", -4));
    assert_eq!(
        (reply, after),
        (RedisOutput::Int(-7), state(&[("n", "-7")]))
    );
    for bad in ["x", "007", "+1", " 1", ""] {
        let (reply, after) = run(&[("n", bad)], RedisInput::incr_by("n", 1));
        assert_eq!(reply, RedisOutput::Error(RedisError::NotInteger), "{bad:?}");
        assert_eq!(after, state(&[("n", bad)]));
    }
    let max = i64::MAX.to_string();
    let (reply, after) = run(&[("n", &max)], RedisInput::incr_by("n", 1));
    assert_eq!(reply, RedisOutput::Error(RedisError::Overflow));
    assert_eq!(after, state(&[("n", &max)]));
}

#[test]
fn del_counts_keys_that_existed_once_each() {
    let (reply, after) = run(&[("a", "1"), ("b", "2")], RedisInput::del(["a", "c", "a"]));
    assert_eq!((reply, after), (RedisOutput::Int(1), state(&[("b", "2")])));
    let (reply, _) = run(&[], RedisInput::del(["a"]));
    assert_eq!(reply, RedisOutput::Int(0));
}

#[test]
fn set_nx_sets_only_missing_keys() {
    let (reply, after) = run(&[], RedisInput::set_nx("k", "x"));
    assert_eq!(
        (reply, after),
        (RedisOutput::Bool(true), state(&[("k", "x")]))
    );
    let (reply, after) = run(&[("k", "y")], RedisInput::set_nx("k", "x"));
    assert_eq!(
        (reply, after),
        (RedisOutput::Bool(false), state(&[("k", "y")]))
    );
    let (reply, _) = run(&[("k", "")], RedisInput::set_nx("k", "x"));
    assert_eq!(reply, RedisOutput::Bool(false), "an empty value is present");
}

#[test]
fn append_replies_the_new_length_and_values_are_binary() {
    let (reply, after) = run(&[("k", "ab")], RedisInput::append("k", vec![0u8, 0xff]));
    assert_eq!(reply, RedisOutput::Int(4));
    assert_eq!(after.get("k"), Some(&vec![b'a', b'b', 0, 0xff]));
    let (reply, _) = run(&[], RedisInput::append("k", "xyz"));
    assert_eq!(reply, RedisOutput::Int(3));
}

#[test]
fn mset_takes_the_last_value_and_mget_reads_nils() {
    let mset = RedisInput::mset([("a", "1"), ("b", "2"), ("a", "3")]);
    let (reply, after) = run(&[], mset);
    assert_eq!(
        (reply, after.clone()),
        (RedisOutput::Ok, state(&[("a", "3"), ("b", "2")]))
    );
    let read = semantics::read(&after, &RedisInput::mget(["b", "c", "a"]));
    let expected = vec![Some(b"2".to_vec()), None, Some(b"3".to_vec())];
    assert_eq!(read, RedisOutput::Values(expected));
}

#[test]
fn txn_runs_in_order_and_an_error_does_not_stop_it() {
    let txn = RedisInput::Txn(vec![
        RedisInput::set("a", "x"),
        RedisInput::incr_by("a", 1),
        RedisInput::append("a", "y"),
        RedisInput::get("a"),
    ]);
    let (reply, after) = run(&[], txn);
    let expected = RedisOutput::Txn(vec![
        RedisOutput::Ok,
        RedisOutput::Error(RedisError::NotInteger),
        RedisOutput::Int(2),
        RedisOutput::value("xy"),
    ]);
    assert_eq!((reply, after), (expected, state(&[("a", "xy")])));
}

#[test]
fn step_accepts_exactly_the_sequential_reply() {
    let model = RedisModel;
    let start = state(&[("n", "1")]);
    let incr = RedisInput::incr_by("n", 1);
    let next = Step::Next(state(&[("n", "2")]));
    assert_eq!(model.step(&start, &incr, Some(&RedisOutput::Int(2))), next);
    assert_eq!(
        model.step(&start, &incr, None),
        next,
        "pending: may take effect"
    );
    assert_eq!(
        model.step(&start, &incr, Some(&RedisOutput::Int(1))),
        Step::Illegal
    );
    assert_eq!(
        model.step(&start, &incr, Some(&RedisOutput::Ok)),
        Step::Illegal
    );
    let get = RedisInput::get("n");
    assert_eq!(
        model.step(&start, &get, Some(&RedisOutput::value("1"))),
        Step::Unchanged
    );
    assert_eq!(
        model.step(&start, &get, Some(&RedisOutput::nil())),
        Step::Illegal
    );
}

#[test]
fn partitions_list_each_key_once_and_keyless_requests_go_to_the_empty_key() {
    let model = RedisModel;
    let txn = RedisInput::Txn(vec![
        RedisInput::mget(["b", "a"]),
        RedisInput::del(["b", "c"]),
    ]);
    assert_eq!(model.partitions(&txn), ["a", "b", "c"]);
    assert_eq!(model.partition(&txn), "b");
    assert_eq!(model.partitions(&RedisInput::Txn(Vec::new())), [""]);
    assert!(model.is_read_only(&RedisInput::Txn(vec![RedisInput::get("a")])));
    assert!(!model.is_read_only(&txn));
}

#[test]
fn describe_quotes_binary_values() {
    let model = RedisModel;
    let set = model.describe(
        &RedisInput::set("k", vec![b'a', 0xff]),
        Some(&RedisOutput::Ok),
    );
    assert_eq!(set, r#"Set("k","a\xff") -> ok"#);
    let mget = RedisInput::mget(["a", "b"]);
    let values = RedisOutput::Values(vec![None, Some(b"v".to_vec())]);
    assert_eq!(
        model.describe(&mget, Some(&values)),
        r#"MGet("a","b") -> [nil,"v"]"#
    );
    let txn = RedisInput::Txn(vec![RedisInput::incr_by("k", 1), RedisInput::del(["k"])]);
    let shown = model.describe(&txn, None);
    assert_eq!(shown, r#"Txn[IncrBy("k",1); Del("k")] -> (no reply)"#);
    let error = RedisOutput::Error(RedisError::NotInteger);
    let shown = model.describe(&RedisInput::incr_by("k", 1), Some(&error));
    assert_eq!(
        shown,
        r#"IncrBy("k",1) -> (ERR value is not an integer or out of range)"#
    );
}
