//! The group machine's rules, applied directly (no log, no network).

use super::*;
use crate::msg::Output;
use kvpaxos::msg::KvOutput;
use kvstore::Op;
use std::collections::BTreeMap;

const A: Gid = Gid(100);
const B: Gid = Gid(101);

/// Configuration `num` of 10 shards: shards `0..split` to `A`, the rest to `B` (or all to `A`
/// when `split` is 10, all to `B` when 0).
fn config(num: u64, split: u32) -> Config {
    let shards = (0..10).map(|s| if s < split { A } else { B }).collect();
    let mut groups = BTreeMap::new();
    groups.insert(A, vec!["a0".to_string(), "a1".to_string()]);
    groups.insert(B, vec!["b0".to_string()]);
    Config {
        num: ConfigNum(num),
        shards,
        groups,
    }
}

fn reconfigure(m: &mut ShardKvMachine, gid: Gid, c: Config) {
    let cmd = Command::Reconfigure {
        gid,
        mapping: Mapping::Lab,
        config: c,
    };
    assert_eq!(m.apply(Seq(0), &cmd), Output::Internal);
}

fn client(m: &mut ShardKvMachine, clerk: u64, seq: u64, op: Op) -> Output {
    let cmd = Command::Client {
        clerk,
        seq,
        cmd: KvCommand::Lab(op),
    };
    m.apply(Seq(0), &cmd)
}

fn put(key: &str, value: &str) -> Op {
    Op::Put {
        key: key.into(),
        value: value.into(),
    }
}

fn append(key: &str, value: &str) -> Op {
    Op::Append {
        key: key.into(),
        value: value.into(),
    }
}

fn get(key: &str) -> Op {
    Op::Get { key: key.into() }
}

fn done(text: &str) -> Output {
    Output::Done(KvOutput::Lab(text.into()))
}

/// Moves every shard of `from` that `to` now pulls, through images, the way the nodes do.
fn hand_off(from: &mut ShardKvMachine, to: &mut ShardKvMachine) {
    let num = to.config_num();
    let pulling: Vec<u32> = to
        .shards()
        .filter(|(_, sh)| matches!(sh.phase, Phase::Pulling { .. }))
        .map(|(s, _)| s)
        .collect();
    for s in pulling {
        let image = from.shard(s).expect("offered").image();
        let total = image.len() as u64;
        for (i, piece) in image.chunks(7).enumerate() {
            let cmd = Command::Install {
                shard: s,
                num,
                offset: (i * 7) as u64,
                total,
                bytes: Bytes::copy_from_slice(piece),
            };
            to.apply(Seq(0), &cmd);
            to.apply(Seq(0), &cmd); // a repeat changes nothing
        }
        assert!(to.shard(s).expect("arrived").is_serving());
        from.apply(Seq(0), &Command::Delete { shard: s, num });
        assert!(from.shard(s).is_none(), "deleted once the new owner has it");
    }
}

#[test]
fn before_any_configuration_every_command_is_wrong_group() {
    let mut m = ShardKvMachine::default();
    assert_eq!(
        client(&mut m, 1, 1, get("a")),
        Output::Refused(Refusal::WrongGroup)
    );
}

#[test]
fn a_group_serves_its_shards_and_refuses_the_others() {
    let mut m = ShardKvMachine::default();
    reconfigure(&mut m, A, config(1, 5));
    // Lab mapping: shard = first byte % 10; '0' is 48 -> shard 8, '5' is 53 -> shard 3.
    assert_eq!(client(&mut m, 1, 1, put("5", "x")), done(""));
    assert_eq!(client(&mut m, 1, 2, get("5")), done("x"));
    assert_eq!(
        client(&mut m, 1, 3, put("0", "y")),
        Output::Refused(Refusal::WrongGroup)
    );
    assert_eq!(m.get_text("0"), "");
}

#[test]
fn a_retried_write_runs_once_and_an_older_one_is_stale() {
    let mut m = ShardKvMachine::default();
    reconfigure(&mut m, A, config(1, 10));
    assert_eq!(client(&mut m, 1, 1, append("k", "x")), done("1"));
    assert_eq!(
        client(&mut m, 1, 1, append("k", "x")),
        done("1"),
        "answered from the table"
    );
    assert_eq!(m.get_text("k"), "x");
    assert_eq!(client(&mut m, 1, 2, append("k", "y")), done("2"));
    assert_eq!(
        client(&mut m, 1, 1, append("k", "x")),
        Output::Refused(Refusal::Stale)
    );
    assert_eq!(m.get_text("k"), "xy");
}

#[test]
fn configurations_apply_one_at_a_time_in_order() {
    let mut m = ShardKvMachine::default();
    reconfigure(&mut m, A, config(2, 10));
    assert_eq!(m.config_num(), ConfigNum(0), "2 is not next");
    reconfigure(&mut m, A, config(1, 10));
    reconfigure(&mut m, A, config(1, 10));
    assert_eq!(m.config_num(), ConfigNum(1));
    reconfigure(&mut m, B, config(2, 10));
    assert_eq!(
        m.config_num(),
        ConfigNum(1),
        "another group's reconfiguration is ignored"
    );
}

/// A shard moves with its keys and its client table: a write retried at the new owner runs
/// once. The old owner refuses the shard at once, and the next configuration waits for the
/// hand-off.
#[test]
fn a_moved_shard_carries_keys_and_clients_and_waits_for_the_hand_off() {
    let (mut a, mut b) = (ShardKvMachine::default(), ShardKvMachine::default());
    reconfigure(&mut a, A, config(1, 10));
    reconfigure(&mut b, B, config(1, 10));
    assert_eq!(client(&mut a, 7, 1, append("0", "x")), done("1")); // shard 8
    reconfigure(&mut a, A, config(2, 5));
    reconfigure(&mut b, B, config(2, 5));
    assert_eq!(
        client(&mut a, 7, 2, get("0")),
        Output::Refused(Refusal::WrongGroup)
    );
    assert_eq!(
        client(&mut b, 7, 2, get("0")),
        Output::Refused(Refusal::NotReady)
    );
    assert!(!a.is_settled() && !b.is_settled());
    reconfigure(&mut b, B, config(3, 10));
    assert_eq!(b.config_num(), ConfigNum(2), "waits while shards arrive");
    hand_off(&mut a, &mut b);
    assert!(a.is_settled() && b.is_settled());
    assert_eq!(
        client(&mut b, 7, 1, append("0", "x")),
        done("1"),
        "the retry runs once"
    );
    assert_eq!(client(&mut b, 7, 2, append("0", "y")), done("2"));
    assert_eq!(b.get_text("0"), "xy");
    // The shards A kept serve on through all of it.
    assert_eq!(client(&mut a, 8, 1, put("5", "z")), done(""));
}

#[test]
fn pieces_out_of_order_or_too_long_are_ignored_and_a_bad_image_is_pulled_again() {
    let (mut a, mut b) = (ShardKvMachine::default(), ShardKvMachine::default());
    reconfigure(&mut a, A, config(1, 10));
    reconfigure(&mut b, B, config(1, 10));
    reconfigure(&mut a, A, config(2, 9));
    reconfigure(&mut b, B, config(2, 9));
    let install = |offset, total, bytes: &'static [u8]| Command::Install {
        shard: 9,
        num: ConfigNum(2),
        offset,
        total,
        bytes: Bytes::from_static(bytes),
    };
    b.apply(Seq(0), &install(3, 6, b"abc")); // not the next piece
    b.apply(Seq(0), &install(0, 2, b"abc")); // past the total
    let received = |m: &ShardKvMachine| match &m.shard(9).expect("held").phase {
        Phase::Pulling { received, .. } => received.len(),
        other => panic!("{other:?}"),
    };
    assert_eq!(received(&b), 0);
    b.apply(Seq(0), &install(0, 3, b"\xff\xff\xff")); // complete, but garbage
    assert_eq!(received(&b), 0, "refused and pulled again from the start");
    hand_off(&mut a, &mut b);
}

#[test]
fn snapshots_restore_every_phase() {
    let (mut a, mut b) = (ShardKvMachine::default(), ShardKvMachine::default());
    reconfigure(&mut a, A, config(1, 10));
    client(&mut a, 1, 1, put("0", "v"));
    reconfigure(&mut a, A, config(2, 5));
    reconfigure(&mut b, B, config(1, 10));
    reconfigure(&mut b, B, config(2, 5));
    for m in [&a, &b] {
        let back = ShardKvMachine::restore(&m.snapshot()).expect("restores");
        assert_eq!(&back, m);
    }
    assert!(ShardKvMachine::restore(&[1, 2, 3]).is_err());
}

#[test]
fn a_command_across_shards_is_refused_whole() {
    let mut m = ShardKvMachine::default();
    reconfigure(&mut m, A, config(1, 10));
    let mset =
        keyspace::parse(&[b"MSET".as_slice(), b"a", b"1", b"b", b"2"].map(Bytes::from_static))
            .expect("a command")
            .expect("valid");
    let cmd = Command::Client {
        clerk: 1,
        seq: 1,
        cmd: KvCommand::Redis(keyspace::Batch {
            now_ms: 0,
            cmds: vec![mset],
        }),
    };
    assert_eq!(m.apply(Seq(0), &cmd), Output::Refused(Refusal::CrossShard));
    assert_eq!(m.get_text("a"), "");
}
