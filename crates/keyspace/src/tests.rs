//! The store's semantics, command by command, as Redis answers them; plus properties: any
//! arguments never panic, snapshots restore equal stores, transactions are all or nothing.

#![allow(clippy::unwrap_used)] // Tests may unwrap (STYLE 2.5).

use crate::{Batch, Cmd, Keyspace, MAX_VALUE_BYTES, Value, parse};
use bytes::Bytes;
use proptest::prelude::*;

fn args(line: &str) -> Vec<Bytes> {
    line.split_whitespace()
        .map(|a| Bytes::from(a.to_owned()))
        .collect()
}

fn cmd(line: &str) -> Cmd {
    match parse(&args(line)) {
        Some(Ok(cmd)) => cmd,
        other => panic!("{line:?} does not parse: {other:?}"),
    }
}

/// Runs `line` at `now_ms` and returns its answer.
fn run(store: &mut Keyspace, now_ms: u64, line: &str) -> Value {
    let mut answers = store.apply_batch(&Batch {
        now_ms,
        cmds: vec![cmd(line)],
    });
    assert_eq!(answers.len(), 1);
    answers.remove(0)
}

fn bulk(s: &str) -> Value {
    Value::Bulk(Bytes::from(s.to_owned()))
}

fn parse_error(line: &str) -> String {
    match parse(&args(line)) {
        Some(Err(text)) => text,
        other => panic!("{line:?} should be refused: {other:?}"),
    }
}

#[test]
fn get_set_del_exists_as_redis() {
    let mut s = Keyspace::new();
    assert_eq!(run(&mut s, 0, "GET k"), Value::Nil);
    assert_eq!(run(&mut s, 0, "SET k v"), Value::Ok);
    assert_eq!(run(&mut s, 0, "GET k"), bulk("v"));
    assert_eq!(run(&mut s, 0, "SET k w NX"), Value::Nil);
    assert_eq!(run(&mut s, 0, "SET k w XX GET"), bulk("v"));
    assert_eq!(run(&mut s, 0, "SET other w XX"), Value::Nil);
    assert_eq!(run(&mut s, 0, "GETSET k x"), bulk("w"));
    assert_eq!(run(&mut s, 0, "SETNX k y"), Value::Int(0));
    assert_eq!(run(&mut s, 0, "SETNX j y"), Value::Int(1));
    assert_eq!(run(&mut s, 0, "EXISTS k j k nope"), Value::Int(3));
    assert_eq!(run(&mut s, 0, "DBSIZE"), Value::Int(2));
    assert_eq!(run(&mut s, 0, "TYPE k"), Value::Status("string".into()));
    assert_eq!(run(&mut s, 0, "TYPE nope"), Value::Status("none".into()));
    assert_eq!(run(&mut s, 0, "DEL k j nope"), Value::Int(2));
    assert_eq!(run(&mut s, 0, "GETDEL k"), Value::Nil);
    assert_eq!(run(&mut s, 0, "SET k v"), Value::Ok);
    assert_eq!(run(&mut s, 0, "GETDEL k"), bulk("v"));
    assert!(s.is_empty());
    assert_eq!(s.retained_bytes(), 0, "accounting returns to zero");
}

#[test]
fn mset_mget_msetnx() {
    let mut s = Keyspace::new();
    assert_eq!(run(&mut s, 0, "MSET a 1 b 2 a 3"), Value::Ok);
    assert_eq!(
        run(&mut s, 0, "MGET a b c"),
        Value::Array(vec![bulk("3"), bulk("2"), Value::Nil])
    );
    assert_eq!(run(&mut s, 0, "MSETNX c 1 a 9"), Value::Int(0));
    assert_eq!(
        run(&mut s, 0, "GET c"),
        Value::Nil,
        "MSETNX is all or nothing"
    );
    assert_eq!(run(&mut s, 0, "MSETNX c 1 d 2"), Value::Int(1));
    assert_eq!(
        parse_error("MSET a 1 b"),
        "ERR wrong number of arguments for 'mset' command"
    );
}

#[test]
fn incr_follows_redis_integer_rules() {
    let mut s = Keyspace::new();
    assert_eq!(run(&mut s, 0, "INCR n"), Value::Int(1));
    assert_eq!(run(&mut s, 0, "INCRBY n 41"), Value::Int(42));
    assert_eq!(run(&mut s, 0, "DECR n"), Value::Int(41));
    assert_eq!(run(&mut s, 0, "DECRBY n 50"), Value::Int(-9));
    assert_eq!(run(&mut s, 0, "GET n"), bulk("-9"));
    run(&mut s, 0, "SET t abc");
    let not_int = Value::error("ERR value is not an integer or out of range");
    assert_eq!(run(&mut s, 0, "INCR t"), not_int);
    assert_eq!(
        run(&mut s, 0, "GET t"),
        bulk("abc"),
        "an error changes nothing"
    );
    run(&mut s, 0, "SET big 9223372036854775807");
    assert_eq!(
        run(&mut s, 0, "INCR big"),
        Value::error("ERR increment or decrement would overflow")
    );
    assert_eq!(run(&mut s, 0, "GET big"), bulk("9223372036854775807"));
    assert_eq!(
        parse_error("INCRBY n 1.5"),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        parse_error("DECRBY n -9223372036854775808"),
        "ERR decrement would overflow"
    );
    run(&mut s, 0, "SET z 007");
    assert_eq!(
        run(&mut s, 0, "INCR z"),
        not_int,
        "leading zeros are not integers"
    );
}

#[test]
fn ranges_append_strlen() {
    let mut s = Keyspace::new();
    assert_eq!(run(&mut s, 0, "APPEND k Hello"), Value::Int(5));
    assert_eq!(run(&mut s, 0, "APPEND k World"), Value::Int(10));
    assert_eq!(run(&mut s, 0, "STRLEN k"), Value::Int(10));
    assert_eq!(run(&mut s, 0, "STRLEN nope"), Value::Int(0));
    assert_eq!(run(&mut s, 0, "GETRANGE k 0 4"), bulk("Hello"));
    assert_eq!(run(&mut s, 0, "GETRANGE k -5 -1"), bulk("World"));
    assert_eq!(run(&mut s, 0, "GETRANGE nope 0 -1"), bulk(""));
    assert_eq!(run(&mut s, 0, "SETRANGE k 5 Redis"), Value::Int(10));
    assert_eq!(run(&mut s, 0, "GET k"), bulk("HelloRedis"));
    assert_eq!(run(&mut s, 0, "SETRANGE pad 3 x"), Value::Int(4));
    assert_eq!(
        run(&mut s, 0, "GET pad"),
        Value::Bulk(Bytes::from_static(b"\0\0\0x"))
    );
    assert_eq!(parse_error("SETRANGE k -1 x"), "ERR offset is out of range");
}

#[test]
fn setrange_with_an_empty_value_creates_nothing() {
    let mut s = Keyspace::new();
    let answer = s.apply(&Cmd::SetRange {
        key: Bytes::from_static(b"k"),
        offset: 100,
        value: Bytes::new(),
    });
    assert_eq!(answer, Value::Int(0));
    assert!(s.is_empty());
}

#[test]
fn values_past_the_limit_are_refused_and_change_nothing() {
    let mut s = Keyspace::new();
    let half = Bytes::from(vec![b'x'; MAX_VALUE_BYTES / 2 + 1]);
    let key = Bytes::from_static(b"k");
    let append = Cmd::Append {
        key: key.clone(),
        value: half.clone(),
    };
    assert_eq!(s.apply(&append), Value::Int(half.len() as i64));
    let too_large = Value::error(format!(
        "ERR string exceeds maximum allowed size ({MAX_VALUE_BYTES} bytes)"
    ));
    assert_eq!(s.apply(&append), too_large);
    assert_eq!(s.get(b"k").map(Bytes::len), Some(half.len()));
    let setrange = Cmd::SetRange {
        key: key.clone(),
        offset: MAX_VALUE_BYTES as u64,
        value: Bytes::from_static(b"x"),
    };
    assert_eq!(s.apply(&setrange), too_large);
    // Exactly the limit is fine.
    let full = Cmd::Set {
        key,
        value: Bytes::from(vec![b'y'; MAX_VALUE_BYTES]),
        condition: crate::Condition::Always,
        get: false,
        expiry: crate::SetExpiry::Clear,
    };
    assert_eq!(s.apply(&full), Value::Ok);
    assert_eq!(s.get(b"k").map(Bytes::len), Some(MAX_VALUE_BYTES));
    let big = vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k"), {
        Bytes::from(vec![0u8; MAX_VALUE_BYTES + 1])
    }];
    assert!(matches!(parse(&big), Some(Err(e)) if e.starts_with("ERR string exceeds")));
}

/// Commands built without `parse` (they come from the network) are checked again: an
/// oversized key answers an error on every path that writes a new key, nothing panics.
#[test]
fn oversized_keys_from_the_network_are_refused_at_apply() {
    let mut s = Keyspace::new();
    let key = Bytes::from(vec![b'k'; crate::MAX_KEY_BYTES + 1]);
    let refused = Value::error(format!(
        "ERR key exceeds maximum allowed size ({} bytes)",
        crate::MAX_KEY_BYTES
    ));
    for cmd in [
        Cmd::IncrBy {
            key: key.clone(),
            by: 1,
        },
        Cmd::SetRange {
            key: key.clone(),
            offset: 0,
            value: Bytes::from_static(b"x"),
        },
        Cmd::Append {
            key: key.clone(),
            value: Bytes::from_static(b"x"),
        },
        Cmd::Keys {
            pattern: key.clone(),
        },
        Cmd::Exec {
            watched: Vec::new(),
            cmds: vec![Cmd::IncrBy {
                key: key.clone(),
                by: 1,
            }],
        },
    ] {
        assert_eq!(s.apply(&cmd), refused, "{:?}", std::mem::discriminant(&cmd));
    }
    assert!(s.is_empty());
}

#[test]
fn expiry_follows_the_log_clock() {
    let mut s = Keyspace::new();
    let t0 = 1_700_000_000_000;
    assert_eq!(run(&mut s, t0, "SET k v EX 10"), Value::Ok);
    assert_eq!(run(&mut s, t0 + 1_000, "TTL k"), Value::Int(9));
    assert_eq!(run(&mut s, t0 + 1_000, "PTTL k"), Value::Int(9_000));
    // A stamp from a slower clock does not move time back.
    assert_eq!(run(&mut s, t0, "PTTL k"), Value::Int(9_000));
    assert_eq!(run(&mut s, t0 + 9_999, "GET k"), bulk("v"));
    assert_eq!(run(&mut s, t0 + 10_000, "GET k"), Value::Nil);
    assert_eq!(s.expiring(), 0, "the expiry index forgets removed keys");
    assert_eq!(run(&mut s, t0 + 10_000, "TTL k"), Value::Int(-2));

    run(&mut s, t0 + 10_000, "SET k v PX 500");
    assert_eq!(run(&mut s, t0 + 10_000, "SET k w KEEPTTL"), Value::Ok);
    assert_eq!(run(&mut s, t0 + 10_000, "PTTL k"), Value::Int(500));
    assert_eq!(run(&mut s, t0 + 10_000, "INCR n"), Value::Int(1));
    assert_eq!(run(&mut s, t0 + 10_000, "TTL n"), Value::Int(-1));
    assert_eq!(run(&mut s, t0 + 10_000, "PERSIST k"), Value::Int(1));
    assert_eq!(run(&mut s, t0 + 10_000, "PERSIST k"), Value::Int(0));
    assert_eq!(run(&mut s, t0 + 10_000, "EXPIRE k 5 XX"), Value::Int(0));
    assert_eq!(run(&mut s, t0 + 10_000, "EXPIRE k 5 NX"), Value::Int(1));
    assert_eq!(run(&mut s, t0 + 10_000, "EXPIRE k 9 LT"), Value::Int(0));
    assert_eq!(run(&mut s, t0 + 10_000, "EXPIRE k 9 GT"), Value::Int(1));
    assert_eq!(run(&mut s, t0 + 10_000, "TTL k"), Value::Int(9));
    let at = (t0 + 20_000) / 1000;
    assert_eq!(
        run(&mut s, t0 + 10_000, &format!("EXPIREAT k {at}")),
        Value::Int(1)
    );
    assert_eq!(run(&mut s, t0 + 10_000, "TTL k"), Value::Int(10));
    assert_eq!(run(&mut s, t0 + 10_000, "EXPIRE k 0"), Value::Int(1));
    assert_eq!(run(&mut s, t0 + 10_000, "EXISTS k"), Value::Int(0));
    assert_eq!(run(&mut s, t0 + 10_000, "EXPIRE nope 10"), Value::Int(0));
    assert_eq!(
        parse_error("SET k v EX 0"),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(parse_error("SET k v EX 1 PX 1"), "ERR syntax error");
    assert_eq!(parse_error("SET k v NX XX"), "ERR syntax error");
    assert_eq!(parse_error("SET k v EX"), "ERR syntax error");
    assert_eq!(
        parse_error("EXPIRE k 1 NX XX"),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        run(&mut s, t0 + 10_000, "SETEX e 1 v"),
        Value::Ok,
        "SETEX sets with a time to live"
    );
    assert_eq!(run(&mut s, t0 + 11_000, "GET e"), Value::Nil);
}

#[test]
fn keys_and_scan_see_every_key() {
    let mut s = Keyspace::new();
    for i in 0..100 {
        run(&mut s, 0, &format!("SET user:{i} x"));
    }
    run(&mut s, 0, "SET other x");
    let Value::Array(keys) = run(&mut s, 0, "KEYS user:*") else {
        panic!("KEYS answers an array")
    };
    assert_eq!(keys.len(), 100);
    // A full SCAN returns every key exactly once here (no key changed during it).
    let mut cursor = 0u64;
    let mut seen = std::collections::BTreeSet::new();
    let mut pages = 0;
    loop {
        let Value::Array(page) = run(&mut s, 0, &format!("SCAN {cursor} MATCH user:* COUNT 7"))
        else {
            panic!("SCAN answers an array")
        };
        let [Value::Bulk(next), Value::Array(found)] = &page[..] else {
            panic!("SCAN answers [cursor, keys]: {page:?}")
        };
        for key in found {
            let Value::Bulk(key) = key else {
                panic!("keys are bulk strings")
            };
            assert!(seen.insert(key.clone()), "{key:?} returned twice");
        }
        pages += 1;
        cursor = std::str::from_utf8(next).unwrap().parse().unwrap();
        if cursor == 0 {
            break;
        }
        // Keys deleted mid-scan do not disturb the cursor.
        run(&mut s, 0, "DEL other");
    }
    assert_eq!(seen.len(), 100);
    assert!(pages >= 100 / 7, "COUNT bounds the page: {pages} pages");
    assert_eq!(
        parse_error("SCAN notanumber"),
        "ERR invalid cursor".to_owned()
    );
    assert_eq!(run(&mut s, 0, "FLUSHDB"), Value::Ok);
    assert_eq!(run(&mut s, 0, "DBSIZE"), Value::Int(0));
}

#[test]
fn exec_runs_all_or_nothing_by_watched_versions() {
    let mut s = Keyspace::new();
    run(&mut s, 0, "SET k 1");
    let version = |s: &mut Keyspace, key: &str| match s.apply(&Cmd::Versions {
        keys: vec![Bytes::from(key.to_owned())],
    }) {
        Value::Array(v) => match v[..] {
            [Value::Int(n)] => n as u64,
            _ => panic!("one version"),
        },
        other => panic!("versions answer an array: {other:?}"),
    };
    let watched_k = version(&mut s, "k");
    let exec = |watched: u64| Cmd::Exec {
        watched: vec![(Bytes::from_static(b"k"), watched)],
        cmds: vec![cmd("INCR k"), cmd("INCR notint"), cmd("GET k")],
    };
    // Nothing touched k since: it runs, errors inside do not stop the rest (as Redis).
    assert_eq!(
        s.apply(&exec(watched_k)),
        Value::Array(vec![Value::Int(2), Value::Int(1), bulk("2")])
    );
    // k was written since the versions were read: nothing runs.
    assert_eq!(s.apply(&exec(watched_k)), Value::Nil);
    assert_eq!(s.get(b"k"), Some(&Bytes::from_static(b"2")));
    // A missing key that gets created and deleted in between counts as changed.
    let watched_m = version(&mut s, "m");
    run(&mut s, 0, "SET m 1");
    run(&mut s, 0, "DEL m");
    let txn = Cmd::Exec {
        watched: vec![(Bytes::from_static(b"m"), watched_m)],
        cmds: vec![cmd("SET m 2")],
    };
    assert_eq!(s.apply(&txn), Value::Nil);
}

#[test]
fn every_listed_command_parses_with_its_arity() {
    for (name, arity, _) in crate::COMMANDS {
        let n = usize::try_from(arity.unsigned_abs()).unwrap();
        let numeric = ["0"; 8];
        let mut line = vec![*name];
        line.extend(&numeric[..n - 1]);
        let parsed = parse(&args(&line.join(" "))).expect("a store command");
        if let Err(text) = &parsed {
            assert!(!text.starts_with("ERR unknown"), "{name}: {text}");
        }
        let short = parse(&args(&line[..n - 1].join(" ")));
        if n > 1 {
            assert!(
                matches!(short, Some(Err(ref e)) if e.contains("wrong number")),
                "{name} with too few arguments: {short:?}"
            );
        }
    }
    assert_eq!(parse(&args("PING")), None);
    assert_eq!(parse(&[]), None);
}

#[test]
fn snapshot_restores_an_equal_store_and_refuses_garbage() {
    let mut s = Keyspace::new();
    run(&mut s, 5_000, "SET a 1 EX 100");
    run(&mut s, 5_000, "MSET b 2 c 3");
    run(&mut s, 5_000, "DEL c");
    let back = Keyspace::restore(&s.snapshot()).expect("restores");
    assert_eq!(back, s);
    assert!(Keyspace::restore(&[0xff, 0xff, 0xff]).is_err());
}

/// A command built from arbitrary words drawn from the command language and junk.
fn arb_args() -> impl Strategy<Value = Vec<Bytes>> {
    let word = prop_oneof![
        prop::sample::select(crate::COMMANDS.iter().map(|c| c.0).collect::<Vec<_>>())
            .prop_map(|s| s.to_owned()),
        prop::sample::select(vec![
            "NX",
            "XX",
            "GET",
            "EX",
            "PX",
            "EXAT",
            "PXAT",
            "KEEPTTL",
            "MATCH",
            "COUNT",
            "TYPE",
            "GT",
            "LT",
            "0",
            "1",
            "-1",
            "10",
            "*",
            "k",
            "a",
            "b",
            "9223372036854775807",
            "-9223372036854775808",
            "99999999999999999999",
        ])
        .prop_map(|s| s.to_owned()),
        "[ -~]{0,6}",
    ];
    prop::collection::vec(word, 1..7).prop_map(|words| words.into_iter().map(Bytes::from).collect())
}

proptest! {
    /// Whatever the arguments and clock, parsing and applying never panic, the byte
    /// accounting stays exact, and a snapshot restores the same store.
    #[test]
    fn arbitrary_commands_never_panic(
        lines in prop::collection::vec((arb_args(), 0u64..100_000), 1..40)
    ) {
        let mut s = Keyspace::new();
        for (args, now_ms) in lines {
            if let Some(Ok(cmd)) = parse(&args) {
                s.apply_batch(&Batch { now_ms, cmds: vec![cmd] });
            }
        }
        let back = Keyspace::restore(&s.snapshot()).expect("restores");
        prop_assert_eq!(&back, &s);
    }

    /// Every command a client can send reads back, from its canonical arguments, as itself.
    #[test]
    fn to_args_reads_back_as_the_same_command(args in arb_args()) {
        if let Some(Ok(cmd)) = parse(&args) {
            let again = parse(&crate::to_args(&cmd));
            prop_assert_eq!(again, Some(Ok(cmd)));
        }
    }

    /// A transaction whose watched key changed applies nothing; one whose keys did not
    /// change applies all of its commands, exactly as running them one by one would.
    #[test]
    fn exec_is_all_or_nothing(
        lines in prop::collection::vec(arb_args(), 1..10),
        touch in any::<bool>()
    ) {
        let cmds: Vec<Cmd> = lines.iter().filter_map(|a| parse(a).and_then(Result::ok)).collect();
        let mut s = Keyspace::new();
        s.apply(&cmd("SET k 1"));
        let Value::Array(v) = s.apply(&Cmd::Versions { keys: vec![Bytes::from_static(b"k")] })
        else { panic!("versions") };
        let Value::Int(version) = v[0] else { panic!("an integer") };
        if touch {
            s.apply(&cmd("SET k 2"));
        }
        let before = s.clone();
        let mut one_by_one = s.clone();
        let answer = s.apply(&Cmd::Exec {
            watched: vec![(Bytes::from_static(b"k"), version as u64)],
            cmds: cmds.clone(),
        });
        if touch {
            prop_assert_eq!(answer, Value::Nil);
            prop_assert_eq!(&s, &before);
        } else {
            let each: Vec<Value> = cmds.iter().map(|c| one_by_one.apply(c)).collect();
            prop_assert_eq!(answer, Value::Array(each));
            prop_assert_eq!(&s, &one_by_one);
        }
    }
}
