//! Unit tests of the replica on a perfect network: every message delivered at once, in order.

use super::*;
use bytes::Bytes;
use rpc::{Effect, Outbox};

/// A register of text that answers every write with the register's new length.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Text(String);

impl StateMachine for Text {
    type Command = String;
    type Output = usize;

    fn apply(&mut self, _slot: Seq, cmd: &String) -> usize {
        self.0.push_str(cmd);
        self.0.len()
    }

    fn snapshot(&self) -> Bytes {
        Bytes::from(self.0.clone().into_bytes())
    }

    fn restore(bytes: &[u8]) -> Result<Self, crate::RestoreError> {
        String::from_utf8(bytes.to_vec())
            .map(Text)
            .map_err(|e| crate::RestoreError(e.to_string()))
    }

    fn retained_bytes(&self) -> usize {
        self.0.len()
    }
}

type R = Replica<Text>;
type Out = ReplicaOutbox<Text>;

/// Delivers every message until none is left; returns the replies, in order.
fn settle(replicas: &mut [R], mut queue: Vec<(NodeId, Out)>) -> Vec<Response<usize>> {
    let mut replies = Vec::new();
    while let Some((from, mut out)) = queue.pop() {
        for effect in out.drain() {
            match effect {
                Effect::Send { to, msg } | Effect::Respond { to, msg } => {
                    let mut next = Outbox::new();
                    replicas[to.index()].on_message(from, msg, &mut next);
                    queue.push((to, next));
                }
                Effect::Reply { resp, .. } => replies.push(resp),
                other => panic!("unexpected effect {other:?}"),
            }
        }
    }
    replies
}

/// One tick on every replica, settled.
fn tick_all(replicas: &mut [R]) -> Vec<Response<usize>> {
    let ticks = (0..replicas.len())
        .map(|i| {
            let mut out = Outbox::new();
            replicas[i].on_tick(&mut out);
            (NodeId(i as u32), out)
        })
        .collect();
    settle(replicas, ticks)
}

fn cluster(config: &Config) -> Vec<R> {
    (0..3)
        .map(|i| R::with_config(NodeId(i), 3, 7, config.clone()).expect("valid"))
        .collect()
}

fn request(replicas: &mut [R], at: u32, id: u64, req: Request<String>) -> (NodeId, Out) {
    let mut out = Outbox::new();
    replicas[at as usize].on_request(ReqId(id), req, &mut out);
    (NodeId(at), out)
}

fn command(session: u64, seq: u64, text: &str) -> Request<String> {
    Request::Command {
        session,
        seq,
        cmd: text.to_string(),
    }
}

/// Registers a session through replica `at` and returns it.
fn register(replicas: &mut [R], at: u32) -> u64 {
    let sent = request(replicas, at, 0, Request::Register);
    let mut replies = settle(replicas, vec![sent]);
    for _ in 0..50 {
        if !replies.is_empty() {
            break;
        }
        replies = tick_all(replicas);
    }
    match replies.as_slice() {
        [Response::Registered { session }] => *session,
        other => panic!("expected one registration, got {other:?}"),
    }
}

/// A command is answered once applied; a retry of it at another replica is answered from
/// the session table without using another slot.
#[test]
fn retry_at_another_replica_is_answered_from_the_table() {
    let mut rs = cluster(&Config::default());
    let s = register(&mut rs, 0);
    let sent = request(&mut rs, 0, 1, command(s, 1, "a"));
    let replies = settle(&mut rs, vec![sent]);
    assert_eq!(
        replies,
        vec![Response::Done {
            session: s,
            seq: 1,
            output: 1
        }]
    );
    let before = rs[1].next_apply();
    let sent = request(&mut rs, 1, 2, command(s, 1, "a"));
    let replies = settle(&mut rs, vec![sent]);
    assert_eq!(rs[1].next_apply(), before, "no new slot for a retry");
    assert_eq!(replies.len(), 1);
    assert_eq!(rs[1].state().0, "a");
}

/// Two replicas propose at once: both commands are applied, in one order on every replica.
#[test]
fn concurrent_proposals_are_all_applied() {
    let mut rs = cluster(&Config::default());
    let a = register(&mut rs, 0);
    let b = register(&mut rs, 1);
    assert_ne!(a, b, "sessions come from the log: never equal");
    let x = request(&mut rs, 0, 1, command(a, 1, "x"));
    let y = request(&mut rs, 1, 2, command(b, 1, "y"));
    let mut replies = settle(&mut rs, vec![x, y]);
    for _ in 0..100 {
        if replies.len() == 2 {
            break;
        }
        replies.extend(tick_all(&mut rs));
    }
    assert_eq!(replies.len(), 2, "both answered: {replies:?}");
    let text = &rs[0].state().0;
    assert!(text == "xy" || text == "yx");
    assert!(rs.iter().all(|r| r.state() == rs[0].state()));
}

/// A replica cut off from every peer holds at most `waiting_max` requests and refuses more.
#[test]
fn waiting_requests_are_bounded() {
    let config = Config {
        waiting_max: 16,
        ..Config::default()
    };
    let mut r = R::with_config(NodeId(0), 3, 7, config).expect("valid");
    let mut busy = 0;
    for id in 0..=16 {
        let mut out = Outbox::new();
        r.on_request(ReqId(id), Request::Register, &mut out);
        busy += out
            .effects()
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Effect::Reply {
                        resp: Response::Refused {
                            error: RsmError::Busy,
                            ..
                        },
                        ..
                    }
                )
            })
            .count();
    }
    assert_eq!(r.waiting_len(), 16);
    assert_eq!(busy, 1);
}

/// A client retrying one command at a cut-off replica adds no entry per retry (the bug was
/// one entry each, until `waiting_max` made every client busy).
#[test]
fn retries_of_one_command_hold_one_entry() {
    let mut rs = cluster(&Config::default());
    let s = register(&mut rs, 0);
    let mut cut_off = rs.remove(2);
    for attempt in 0..100 {
        let mut out = Outbox::new();
        cut_off.on_request(ReqId(attempt), command(s, 1, "a"), &mut out);
    }
    assert_eq!(cut_off.waiting_len(), 1);
}

/// The leader's queue is bounded: with its window full and its queue at `queue_max`, its own
/// clients are told Busy (the bug was an unchecked push).
#[test]
fn the_leaders_queue_is_bounded() {
    let config = Config {
        window: 1,
        queue_max: 2,
        ..Config::default()
    };
    let mut rs = cluster(&config);
    register(&mut rs, 0);
    let leader = (0..3)
        .find(|&i| rs[i].peer().is_leading())
        .expect("a leader after a registration");
    // Cut the leader off: nothing it proposes now is decided.
    let mut replies = Vec::new();
    for id in 0..4 {
        let mut out = Outbox::new();
        rs[leader].on_request(ReqId(id), Request::Register, &mut out);
        for effect in out.drain() {
            if let Effect::Reply { resp, .. } = effect {
                replies.push(resp);
            }
        }
    }
    assert_eq!(rs[leader].queue_len(), 2, "one in flight, two queued");
    assert_eq!(
        replies,
        vec![Response::Refused {
            command: None,
            error: RsmError::Busy
        }]
    );
}

/// A decided value that is not an entry is applied as a no-op on every replica.
#[test]
fn an_undecodable_entry_is_a_no_op_everywhere() {
    let mut rs = cluster(&Config::default());
    let s = register(&mut rs, 0);
    let leader = (0..3).find(|&i| rs[i].peer().is_leading()).expect("leader");
    let slot = rs[leader].next_apply();
    let mut out = Outbox::new();
    rs[leader].paxos(&mut out, |peer, o| {
        peer.start(slot, Bytes::from_static(b"\xff\xff\xff"), o);
    });
    settle(&mut rs, vec![(NodeId(leader as u32), out)]);
    let sent = request(&mut rs, 0, 1, command(s, 1, "a"));
    let replies = settle(&mut rs, vec![sent]);
    assert_eq!(replies.len(), 1);
    for r in &rs {
        assert_eq!(r.stats().undecodable_entries, 1);
        assert_eq!(r.state().0, "a");
    }
}

/// Past `sessions_max`, the session idle longest is evicted: its next command is refused with
/// SessionExpired and never answered with anything it did not run.
#[test]
fn an_evicted_session_is_refused_not_answered_wrongly() {
    let config = Config {
        sessions_max: 2,
        ..Config::default()
    };
    let mut rs = cluster(&config);
    let first = register(&mut rs, 0);
    let second = register(&mut rs, 1);
    let sent = request(&mut rs, 0, 1, command(second, 1, "b"));
    settle(&mut rs, vec![sent]);
    register(&mut rs, 2);
    let sent = request(&mut rs, 0, 2, command(first, 1, "a"));
    let replies = settle(&mut rs, vec![sent]);
    assert_eq!(
        replies,
        vec![Response::Refused {
            command: Some((first, 1)),
            error: RsmError::SessionExpired
        }]
    );
    assert_eq!(
        rs[0].state().0,
        "b",
        "the evicted session's command did not run"
    );
}

/// A node's own command goes into the log from a follower as from the leader, answers nobody,
/// and is applied on every replica; before any leader is known it goes nowhere.
#[test]
fn a_proposal_of_the_node_is_applied_everywhere_and_answers_nobody() {
    let mut rs = cluster(&Config::default());
    let mut out = Outbox::new();
    assert!(
        !rs[2].propose("early".to_string(), &mut out),
        "no leader known yet"
    );
    let _ = register(&mut rs, 0);
    let mut out = Outbox::new();
    assert!(rs[2].propose("n".to_string(), &mut out));
    let mut replies = settle(&mut rs, vec![(NodeId(2), out)]);
    for _ in 0..50 {
        if rs.iter().all(|r| r.state().0 == "n") {
            break;
        }
        replies.extend(tick_all(&mut rs));
    }
    assert!(replies.is_empty(), "nobody waits for it: {replies:?}");
    for r in &rs {
        assert_eq!(r.state().0, "n", "applied on every replica");
    }
}
