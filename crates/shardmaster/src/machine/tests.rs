//! The machine's operations one by one (SPEC §7.2), its refusals, and its snapshots.

use super::*;
use crate::config::LAB_SHARDS;
use proptest::prelude::*;

fn join(gid: i64, servers: &[&str]) -> Op {
    Op::Join {
        gid: Gid(gid),
        servers: servers.iter().map(|s| s.to_string()).collect(),
    }
}

fn latest_num(m: &LabMachine) -> ConfigNum {
    m.latest().num
}

/// A machine after a few of every kind of change, for snapshot tests.
fn busy() -> LabMachine {
    let mut m = LabMachine::default();
    for op in [
        join(1, &["x", "y", "z"]),
        join(2, &["a", "b", "c"]),
        join(3, &["d"]),
        Op::Move {
            shard: 0,
            gid: Gid(3),
        },
        Op::Leave { gid: Gid(1) },
    ] {
        assert!(matches!(m.run(&op), Ok(Reply::Changed(_))), "{op:?}");
    }
    m
}

#[test]
fn joins_leaves_and_moves_make_numbered_configurations() {
    let mut m = LabMachine::default();
    assert_eq!(m.shard_count(), LAB_SHARDS);
    assert_eq!(m.run(&join(1, &["x"])), Ok(Reply::Changed(ConfigNum(1))));
    assert_eq!(m.latest().shards, vec![Gid(1); 10]);
    assert_eq!(m.run(&join(2, &["a"])), Ok(Reply::Changed(ConfigNum(2))));
    assert_eq!(
        m.latest()
            .shards_per_group()
            .values()
            .copied()
            .collect::<Vec<_>>(),
        [5, 5]
    );
    let before = m.latest().shards.clone();
    assert_eq!(
        m.run(&Op::Move {
            shard: 0,
            gid: Gid(2)
        }),
        Ok(Reply::Changed(ConfigNum(3)))
    );
    let changed: Vec<usize> = (0..10)
        .filter(|&s| m.latest().shards[s] != before[s])
        .collect();
    assert_eq!(changed, [0], "a Move changes exactly its shard");
    assert_eq!(
        m.run(&Op::Leave { gid: Gid(1) }),
        Ok(Reply::Changed(ConfigNum(4)))
    );
    assert_eq!(m.latest().shards, vec![Gid(2); 10]);
    assert_eq!(
        m.run(&Op::Leave { gid: Gid(2) }),
        Ok(Reply::Changed(ConfigNum(5)))
    );
    assert_eq!(
        m.latest().shards,
        vec![Gid::NONE; 10],
        "no group left: back to gid 0"
    );
    assert_eq!(
        m.configs()[1].shards,
        vec![Gid(1); 10],
        "history is immutable"
    );
}

#[test]
fn duplicates_change_nothing() {
    let mut m = LabMachine::default();
    m.run(&join(1, &["x", "y"])).expect("joins");
    assert_eq!(
        m.run(&join(1, &["x", "y"])),
        Ok(Reply::Unchanged(ConfigNum(1)))
    );
    let shard = (0..10)
        .find(|&s| m.latest().shards[s as usize] == Gid(1))
        .expect("owns all");
    assert_eq!(
        m.run(&Op::Move { shard, gid: Gid(1) }),
        Ok(Reply::Unchanged(ConfigNum(1)))
    );
    m.run(&Op::Leave { gid: Gid(1) }).expect("leaves");
    assert_eq!(
        m.run(&Op::Leave { gid: Gid(1) }),
        Ok(Reply::Unchanged(ConfigNum(2)))
    );
    assert_eq!(m.configs().len(), 3);
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let mut m = LabMachine::default();
    m.run(&join(1, &["x"])).expect("joins");
    m.run(&join(2, &["y"])).expect("joins");
    m.run(&Op::Leave { gid: Gid(2) }).expect("leaves");
    let long = "h".repeat(ADDRESS_BYTES_MAX + 1);
    let many: Vec<String> = (0..=SERVERS_MAX).map(|i| format!("s{i}")).collect();
    let cases = [
        (join(0, &["x"]), ShardError::InvalidGid(Gid(0))),
        (join(-3, &["x"]), ShardError::InvalidGid(Gid(-3))),
        (join(5, &[]), ShardError::NoServers(Gid(5))),
        (
            join(5, &[""]),
            ShardError::BadAddress {
                gid: Gid(5),
                bytes: 0,
            },
        ),
        (
            join(5, &[&long]),
            ShardError::BadAddress {
                gid: Gid(5),
                bytes: long.len(),
            },
        ),
        (
            Op::Join {
                gid: Gid(5),
                servers: many,
            },
            ShardError::TooManyServers {
                gid: Gid(5),
                count: SERVERS_MAX + 1,
            },
        ),
        (join(2, &["y"]), ShardError::GidRetired(Gid(2))),
        (join(1, &["other"]), ShardError::GidInUse(Gid(1))),
        (Op::Leave { gid: Gid(0) }, ShardError::InvalidGid(Gid(0))),
        (Op::Leave { gid: Gid(7) }, ShardError::NotJoined(Gid(7))),
        (
            Op::Move {
                shard: 0,
                gid: Gid(7),
            },
            ShardError::NotJoined(Gid(7)),
        ),
        (
            Op::Move {
                shard: 0,
                gid: Gid(2),
            },
            ShardError::NotJoined(Gid(2)),
        ),
        (
            Op::Move {
                shard: 0,
                gid: Gid(-1),
            },
            ShardError::InvalidGid(Gid(-1)),
        ),
        (
            Op::Move {
                shard: 10,
                gid: Gid(1),
            },
            ShardError::ShardOutOfRange {
                shard: 10,
                shards: 10,
            },
        ),
        (Op::Query { num: -2 }, ShardError::BadConfigNum(-2)),
    ];
    let before = m.clone();
    for (op, error) in cases {
        assert_eq!(m.run(&op), Err(error), "{op:?}");
        assert_eq!(m, before, "{op:?} changed the state");
    }
}

#[test]
fn too_many_groups_is_refused() {
    let mut m = ShardMachine::<4>::default();
    for gid in 1..=GROUPS_MAX as i64 {
        m.run(&join(gid, &["s"])).expect("within the bound");
    }
    assert_eq!(
        m.run(&join(GROUPS_MAX as i64 + 1, &["s"])),
        Err(ShardError::TooManyGroups)
    );
}

#[test]
fn query_answers_any_configuration_and_the_latest_past_the_end() {
    let mut m = busy();
    let latest = m.latest().clone();
    for (num, expected) in [(-1, &latest), (99, &latest), (i64::MAX, &latest)] {
        assert_eq!(
            m.run(&Op::Query { num }),
            Ok(Reply::Config(Arc::new(expected.clone())))
        );
    }
    for (i, c) in m.configs().to_vec().iter().enumerate() {
        assert_eq!(
            m.run(&Op::Query { num: i as i64 }),
            Ok(Reply::Config(c.clone()))
        );
    }
    assert_eq!(latest_num(&m), latest.num, "queries change nothing");
}

#[test]
fn the_shard_count_is_the_clusters() {
    let m = ShardMachine::<10>::new(1024);
    assert_eq!(m.shard_count(), 1024);
    assert_eq!(ShardMachine::<64>::default().shard_count(), 64);
    let back = LabMachine::restore(&m.snapshot()).expect("restores");
    assert_eq!(back.shard_count(), 1024, "the snapshot's count wins");
}

#[test]
fn snapshot_restores_an_equal_machine() {
    let m = busy();
    let back = LabMachine::restore(&m.snapshot()).expect("restores");
    assert_eq!(back, m);
    assert_eq!(back.retained_bytes(), m.retained_bytes());
    let mut back = back;
    assert_eq!(
        back.run(&join(1, &["x"])),
        Err(ShardError::GidRetired(Gid(1)))
    );
}

/// A snapshot written from the shared history is byte for byte the owned layout that
/// `restore` reads (and that snapshots were before configurations were shared).
#[test]
fn snapshots_encode_the_owned_layout() {
    let m = busy();
    let owned = Image {
        version: IMAGE_VERSION,
        configs: m.configs().iter().map(|c| Config::clone(c)).collect(),
        retired: m.retired.iter().copied().collect(),
    };
    assert_eq!(postcard::to_stdvec(&owned).expect("encodes"), m.snapshot());
}

#[test]
fn restore_refuses_snapshots_this_machine_could_not_have_made() {
    let broken = |edit: fn(&mut Image)| {
        let m = busy();
        let mut image = Image {
            version: IMAGE_VERSION,
            configs: m.configs().iter().map(|c| Config::clone(c)).collect(),
            retired: m.retired.iter().copied().collect(),
        };
        edit(&mut image);
        LabMachine::restore(&postcard::to_stdvec(&image).expect("encodes"))
    };
    assert!(broken(|_| {}).is_ok());
    assert!(broken(|i| i.version = 9).is_err());
    assert!(broken(|i| i.configs.clear()).is_err());
    assert!(broken(|i| i.configs[2].num = ConfigNum(7)).is_err());
    assert!(broken(|i| i.configs[2].shards.pop().map(drop).unwrap_or(())).is_err());
    assert!(broken(|i| i.configs[2].shards[0] = Gid(42)).is_err());
    assert!(broken(|i| i.configs[0].shards[0] = Gid(1)).is_err());
    assert!(broken(|i| i.retired.push(Gid(2))).is_err());
    assert!(
        broken(|i| {
            i.configs[1].groups.insert(Gid(-4), vec!["s".into()]);
        })
        .is_err()
    );
}

proptest! {
    /// Untrusted bytes never panic `restore`: arbitrary bytes, and a real snapshot with bytes
    /// flipped, cut or appended.
    #[test]
    fn restore_never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = LabMachine::restore(&bytes);
    }

    #[test]
    fn restore_never_panics_on_a_damaged_snapshot(
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
        tail in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut bytes = busy().snapshot().to_vec();
        for (at, x) in flips {
            let len = bytes.len();
            bytes[at % len] ^= x;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        bytes.extend(tail);
        if let Ok(m) = LabMachine::restore(&bytes) {
            // Whatever restores is a machine that works.
            let mut m = m;
            let _ = m.run(&join(1000, &["s"]));
            let _ = m.run(&Op::Query { num: -1 });
        }
    }
}
