use super::*;
use crate::msg::{Body, Msg, ballot};
use crate::{Fate, PaxosOutbox};
use rpc::Node;

/// Carries out the disk effects of `out` on `disk`, as a driver that never crashes would, and
/// returns the other effects.
fn apply(disk: &mut DiskImage, out: &mut PaxosOutbox) -> Vec<Effect<Msg, rpc::NoRequest>> {
    let mut rest = Vec::new();
    for effect in out.drain() {
        match effect {
            Effect::Write { file, bytes } => {
                disk.insert(file, bytes);
            }
            Effect::Remove { file } => {
                disk.remove(&file);
            }
            Effect::Append { file, bytes } => {
                let mut content = disk.get(&file).map(|b| b.to_vec()).unwrap_or_default();
                content.extend_from_slice(&bytes);
                disk.insert(file, Bytes::from(content));
            }
            Effect::Truncate { file, len } => {
                let content = disk[&file].slice(..len as usize);
                disk.insert(file, content);
            }
            other => rest.push(other),
        }
    }
    rest
}

fn msg(from: u32, body: Body) -> Msg {
    Msg {
        incarnation: 100 + u64::from(from),
        done: None,
        min: Seq(0),
        body,
    }
}

/// Peer 0 of 3 opened on `disk`, welcomed by both others if it is joining.
fn opened(disk: &mut DiskImage) -> Peer {
    let mut peer = Peer::open(NodeId(0), 3, 7, disk).expect("opens").peer;
    let mut out = PaxosOutbox::new();
    for from in [1, 2] {
        peer.on_message(NodeId(from), msg(from, Body::Welcome), &mut out);
    }
    apply(disk, &mut out);
    assert!(!peer.is_joining());
    peer
}

fn value(s: &'static str) -> Value {
    Value::from_static(s.as_bytes())
}

#[test]
fn a_vote_leaves_only_after_its_record_is_synced() {
    let mut disk = DiskImage::new();
    let mut peer = opened(&mut disk);
    let mut out = PaxosOutbox::new();
    let prepare = Body::Prepare {
        seq: Seq(3),
        ballot: ballot(1, 1),
    };
    peer.on_message(NodeId(1), msg(1, prepare), &mut out);
    let effects = out.effects();
    let respond = effects
        .iter()
        .position(|e| matches!(e, Effect::Respond { .. }))
        .expect("a promise");
    let append = effects
        .iter()
        .position(|e| matches!(e, Effect::Append { .. }))
        .expect("a record");
    let sync = effects
        .iter()
        .position(|e| matches!(e, Effect::Sync))
        .expect("a sync");
    assert!(append < sync && sync < respond, "{effects:?}");
}

#[test]
fn a_joining_peer_does_not_vote_until_every_peer_welcomed_it() {
    let mut disk = DiskImage::new();
    let mut peer = Peer::open(NodeId(0), 3, 7, &disk).expect("opens").peer;
    let mut out = PaxosOutbox::new();
    peer.on_message(NodeId(1), msg(1, Body::Welcome), &mut out);
    let prepare = Body::Prepare {
        seq: Seq(0),
        ballot: ballot(1, 1),
    };
    peer.on_message(NodeId(1), msg(1, prepare.clone()), &mut out);
    let answered = |effects: &[Effect<Msg, rpc::NoRequest>]| {
        effects.iter().any(|e| matches!(e, Effect::Respond { .. }))
    };
    assert!(
        !answered(&apply(&mut disk, &mut out)),
        "a joining peer voted"
    );
    // It crashes while joining: it must ask again.
    let mut peer = Peer::open(NodeId(0), 3, 7, &disk).expect("opens").peer;
    assert!(peer.is_joining(), "the joined flag is on disk");
    for from in [1, 2] {
        peer.on_message(NodeId(from), msg(from, Body::Welcome), &mut out);
    }
    peer.on_message(NodeId(1), msg(1, prepare), &mut out);
    assert!(answered(&apply(&mut disk, &mut out)));
    let peer = Peer::open(NodeId(0), 3, 7, &disk).expect("opens").peer;
    assert!(!peer.is_joining(), "joined for good");
}

/// Promises, votes, the floor, decisions (by value and by commit) and the incarnations heard
/// all come back after a reopen, and the torn tail of an unsynced append is cut.
#[test]
fn a_reopened_peer_keeps_its_state_and_cuts_a_torn_tail() {
    let mut disk = DiskImage::new();
    let mut peer = opened(&mut disk);
    let mut out = PaxosOutbox::new();
    let steps = [
        Body::Prepare {
            seq: Seq(1),
            ballot: ballot(2, 1),
        },
        Body::Accept {
            seq: Seq(2),
            ballot: ballot(3, 1),
            value: value("two"),
        },
        Body::Accept {
            seq: Seq(4),
            ballot: ballot(3, 1),
            value: value("four"),
        },
        Body::Commit {
            seq: Seq(4),
            ballot: ballot(3, 1),
        },
        Body::Decided {
            seq: Seq(5),
            value: value("five"),
        },
        Body::PrepareAll {
            from: Seq(6),
            ballot: ballot(9, 2),
        },
    ];
    for body in steps {
        let from = if matches!(body, Body::PrepareAll { .. }) {
            2
        } else {
            1
        };
        peer.on_message(NodeId(from), msg(from, body), &mut out);
        apply(&mut disk, &mut out);
    }
    let file = log_file(1);
    let whole = disk[&file].clone();
    // A torn append: half a record at the end.
    let mut torn = whole.to_vec();
    torn.extend_from_slice(&rpc::encode_record(b"a record cut short")[..11]);
    disk.insert(file.clone(), Bytes::from(torn));

    let opened = Peer::open(NodeId(0), 3, 7, &disk).expect("a torn tail opens");
    assert!(!opened.fresh);
    let mut again = opened.peer;
    assert_eq!(again.status(Seq(4)), (Fate::Decided, Some(value("four"))));
    assert_eq!(again.status(Seq(5)), (Fate::Decided, Some(value("five"))));
    assert_eq!(again.status(Seq(2)).0, Fate::Pending);
    assert_eq!(again.floor, Some(ballot(9, 2)));
    let acceptor = |p: &Peer, seq| p.instances[&Seq(seq)].acceptor.clone();
    assert_eq!(acceptor(&again, 1).promised(), Some(ballot(2, 1)));
    assert_eq!(
        acceptor(&again, 2).accepted(),
        Some(&(ballot(3, 1), value("two")))
    );
    assert_eq!(again.incarnations.known_of(NodeId(1)), Some(101));
    assert!(!again.is_joining());
    // The first flush cuts the tail before anything else.
    let mut out = PaxosOutbox::new();
    again.on_tick(&mut out);
    assert!(matches!(
        out.effects().first(),
        Some(Effect::Truncate { len, .. }) if *len == whole.len() as u64
    ));
    apply(&mut disk, &mut out);
    assert_eq!(disk[&file], whole);
}

#[test]
fn damage_before_the_end_is_refused_with_the_file_and_offset() {
    let mut disk = DiskImage::new();
    let mut peer = opened(&mut disk);
    let mut out = PaxosOutbox::new();
    for seq in 0..3 {
        let accept = Body::Accept {
            seq: Seq(seq),
            ballot: ballot(1, 1),
            value: value("v"),
        };
        peer.on_message(NodeId(1), msg(1, accept), &mut out);
        apply(&mut disk, &mut out);
    }
    let file = log_file(1);
    let mut bytes = disk[&file].to_vec();
    let (payloads, _) = decode_records(&bytes);
    let second = (payloads[1].as_ptr() as usize - bytes.as_ptr() as usize) as u64 - 8;
    bytes[second as usize + 9] ^= 0x40; // a bit flipped in the second record's payload
    disk.insert(file.clone(), Bytes::from(bytes));
    let err = Peer::open(NodeId(0), 3, 7, &disk).expect_err("damage is refused");
    match &err {
        OpenError::Corrupt {
            file: f, offset, ..
        } => {
            assert_eq!(f, &file);
            assert_eq!(*offset, second);
        }
        other => panic!("not a corruption: {other}"),
    }
    assert!(err.to_string().contains(&file));
}

#[test]
fn another_members_directory_and_incomplete_ones_are_refused() {
    let mut disk = DiskImage::new();
    opened(&mut disk);
    let err = Peer::open(NodeId(1), 3, 7, &disk).expect_err("member 1 on member 0's directory");
    assert!(
        matches!(
            err,
            OpenError::WrongMember {
                found_me: 0,
                me: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = Peer::open(NodeId(0), 5, 7, &disk).expect_err("another cluster size");
    assert!(
        matches!(
            err,
            OpenError::WrongMember {
                found_count: 3,
                count: 5,
                ..
            }
        ),
        "{err}"
    );
    let mut no_log = disk.clone();
    no_log.remove(&log_file(1));
    assert!(matches!(
        Peer::open(NodeId(0), 3, 7, &no_log),
        Err(OpenError::Missing { .. })
    ));
    let mut no_identity = disk.clone();
    let mut out = PaxosOutbox::new();
    let mut peer = Peer::open(NodeId(0), 3, 7, &disk).expect("opens").peer;
    let accept = Body::Accept {
        seq: Seq(0),
        ballot: ballot(1, 1),
        value: value("v"),
    };
    peer.on_message(NodeId(1), msg(1, accept), &mut out);
    apply(&mut no_identity, &mut out);
    no_identity.remove(IDENTITY_FILE);
    assert!(matches!(
        Peer::open(NodeId(0), 3, 7, &no_identity),
        Err(OpenError::Missing { .. })
    ));
}

/// A directory of another format version (written by an older build, whose log payloads this
/// build could misread) is refused, naming the version found and the one read.
#[test]
fn a_directory_of_another_format_is_refused() {
    let mut disk = DiskImage::new();
    opened(&mut disk);
    let (records, _) = decode_records(&disk[IDENTITY_FILE]);
    let mut identity: Identity = postcard::from_bytes(records[0]).expect("decodes");
    identity.format = FORMAT_VERSION - 1;
    let payload = postcard::to_stdvec(&identity).expect("encodes");
    disk.insert(IDENTITY_FILE.into(), rpc::encode_record(&payload));
    let err = Peer::open(NodeId(0), 3, 7, &disk).expect_err("an older format");
    let want = format!(
        "format {} (this build reads {FORMAT_VERSION})",
        FORMAT_VERSION - 1
    );
    assert!(err.to_string().contains(&want), "{err}");
}

/// After a rotation only the state at and above the base is on disk, in one generation.
#[test]
fn rotation_keeps_the_state_above_the_base_in_one_generation() {
    let mut disk = DiskImage::new();
    let mut peer = opened(&mut disk);
    let mut out = PaxosOutbox::new();
    for seq in 0..10 {
        let decided = Body::Decided {
            seq: Seq(seq),
            value: value("decided"),
        };
        peer.on_message(NodeId(1), msg(1, decided), &mut out);
    }
    let accept = Body::Accept {
        seq: Seq(12),
        ballot: ballot(4, 1),
        value: value("pending"),
    };
    peer.on_message(NodeId(1), msg(1, accept), &mut out);
    // A promise above the vote: the image must replay both (durable_chaos seed 104 found a
    // vote replayed after its higher promise, refused, and the log taken for damaged).
    let prepare = Body::Prepare {
        seq: Seq(12),
        ballot: ballot(6, 2),
    };
    peer.on_message(NodeId(2), msg(2, prepare), &mut out);
    apply(&mut disk, &mut out);
    assert_eq!(peer.take_decided(100).len(), 10);
    peer.rotate_journal(Seq(8), &mut out);
    apply(&mut disk, &mut out);
    let logs: Vec<_> = disk
        .keys()
        .filter(|f| log_generation(f).is_some())
        .collect();
    assert_eq!(logs, vec![&log_file(2)]);
    let opened = Peer::open(NodeId(0), 3, 7, &disk).expect("opens");
    assert_eq!(opened.base, Seq(8));
    let again = opened.peer;
    assert_eq!(again.status(Seq(7)).0, Fate::Forgotten);
    assert_eq!(again.status(Seq(9)).0, Fate::Decided);
    assert_eq!(
        again.instances[&Seq(12)].acceptor.accepted(),
        Some(&(ballot(4, 1), value("pending")))
    );
    assert_eq!(
        again.instances[&Seq(12)].acceptor.promised(),
        Some(ballot(6, 2))
    );
}

/// Goal: a log as a preallocating runtime leaves it after a crash in mid-append (valid records,
/// a record cut short, zeros to the end of the file) opens, drops the record cut short, and is
/// cut where that record starts; a record that lost only its trailer is whole and is kept.
/// Method: an unsynced `Accept` cut at every byte, followed by 4 KB of zeros; each image is
/// opened and its first flush inspected.
#[test]
fn a_record_cut_short_before_zero_padding_is_cut() {
    let mut disk = DiskImage::new();
    let mut peer = opened(&mut disk);
    let mut out = PaxosOutbox::new();
    let accept = Body::Accept {
        seq: Seq(2),
        ballot: ballot(3, 1),
        value: value("two"),
    };
    peer.on_message(NodeId(1), msg(1, accept), &mut out);
    apply(&mut disk, &mut out);
    let file = log_file(1);
    let whole = disk[&file].clone();
    let mut unsynced = BytesMut::new();
    let four = Record::Accept {
        seq: Seq(4),
        ballot: ballot(3, 1),
        value: value("four"),
    };
    put(&mut unsynced, &four);
    let payload_end = unsynced.len() - 1;
    assert_ne!(
        unsynced[payload_end - 1],
        0,
        "cut before its trailer, it cannot check"
    );
    // What the first flush cuts to and whether the vote in 4 came back, for a cut at `cut`.
    let reopen = |cut: usize| {
        let mut bytes = whole.to_vec();
        bytes.extend_from_slice(&unsynced[..cut]);
        bytes.resize(bytes.len() + 4096, 0);
        let mut torn = disk.clone();
        torn.insert(file.clone(), Bytes::from(bytes));
        let opened = Peer::open(NodeId(0), 3, 7, &torn);
        let mut again = opened
            .unwrap_or_else(|err| panic!("cut at {cut}: {err}"))
            .peer;
        let accepted = |seq| {
            let instance = again.instances.get(&Seq(seq));
            instance.and_then(|i| i.acceptor.accepted().cloned())
        };
        assert_eq!(
            accepted(2),
            Some((ballot(3, 1), value("two"))),
            "cut at {cut}"
        );
        let four_kept = accepted(4).is_some();
        let mut out = PaxosOutbox::new();
        again.on_tick(&mut out);
        let Some(Effect::Truncate { file: f, len }) = out.effects().first().cloned() else {
            panic!("cut at {cut}: no truncate first: {:?}", out.effects());
        };
        assert_eq!(f, file);
        (len, four_kept)
    };
    for cut in 0..payload_end {
        assert_eq!(reopen(cut), (whole.len() as u64, false), "cut at {cut}");
    }
    let after_four = (whole.len() + unsynced.len()) as u64;
    assert_eq!(
        reopen(payload_end),
        (after_four, true),
        "only the trailer lost"
    );
}

/// Goal: damage to the last record of a log followed by zeros (a preallocated file) is refused
/// with the file and the offset, even though the record's payload ends in a zero byte, so that
/// it would read like a record cut short inside the zeros but for its trailer.
/// Method: the last record is a promise to a ballot of node 0 (its payload ends in 0); one
/// byte of its payload is flipped and 4 KB of zeros follow.
#[test]
fn a_damaged_last_record_before_zero_padding_is_refused() {
    let mut disk = DiskImage::new();
    let mut peer = opened(&mut disk);
    let mut out = PaxosOutbox::new();
    let prepare = Body::Prepare {
        seq: Seq(3),
        ballot: ballot(5, 0),
    };
    peer.on_message(NodeId(1), msg(1, prepare), &mut out);
    apply(&mut disk, &mut out);
    let file = log_file(1);
    let mut bytes = disk[&file].to_vec();
    let (payloads, tail) = decode_records(&bytes);
    assert_eq!(tail, Tail::Clean);
    let last = *payloads.last().expect("records");
    assert_eq!(last.last(), Some(&0), "the payload ends in a zero byte");
    let payload_at = last.as_ptr() as usize - bytes.as_ptr() as usize;
    let record_at = (payload_at - rpc::record::RECORD_HEADER_BYTES) as u64;
    bytes[payload_at] ^= 0x01;
    bytes.resize(bytes.len() + 4096, 0);
    disk.insert(file.clone(), Bytes::from(bytes));
    let err = Peer::open(NodeId(0), 3, 7, &disk).expect_err("damage is refused");
    match &err {
        OpenError::Corrupt {
            file: f, offset, ..
        } => {
            assert_eq!(f, &file);
            assert_eq!(*offset, record_at);
        }
        other => panic!("not a corruption: {other}"),
    }
    let message = err.to_string();
    assert!(message.contains(&file), "{message}");
    assert!(message.contains(&record_at.to_string()), "{message}");
}
