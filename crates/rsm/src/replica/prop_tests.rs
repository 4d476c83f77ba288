//! Property tests of the replica: snapshots and restores change nothing, and bytes from the
//! network or a disk never panic the decoders.
//!
//! The replicas here are one-replica clusters: a one-replica cluster decides every proposal at
//! once, so a run is a plain sequence of requests and answers, and two replicas fed the same
//! requests must give the same answers. Every Paxos message goes back to the replica itself.
//!
//! Runs are deterministic: a fixed proptest seed unless `PROPTEST_RNG_SEED` is set;
//! `PROPTEST_CASES=N` for a soak run.

use super::*;
use crate::snapshot::{Held, Image, SnapshotError};
use bytes::Bytes;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::RngSeed;
use rpc::{Effect, Outbox};
use serde::{Deserialize, Serialize};

/// A machine whose state and answers depend on every command, its order and its slot: a run
/// that applied a command twice, skipped one, reordered two or numbered the log differently
/// ends in another state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Tape {
    /// Every command applied, with its slot.
    log: Vec<(u64, u8)>,
    /// An order-sensitive digest of `log`: what each command answers.
    digest: u64,
}

impl StateMachine for Tape {
    type Command = u8;
    type Output = u64;

    fn apply(&mut self, slot: Seq, cmd: &u8) -> u64 {
        self.log.push((slot.0, *cmd));
        self.digest = self
            .digest
            .wrapping_mul(1_000_003)
            .wrapping_add((slot.0 << 8) | u64::from(*cmd));
        self.digest
    }

    fn snapshot(&self) -> Bytes {
        Bytes::from(postcard::to_stdvec(self).expect("a tape always encodes"))
    }

    fn restore(bytes: &[u8]) -> Result<Self, crate::RestoreError> {
        postcard::from_bytes(bytes).map_err(|e| crate::RestoreError(e.to_string()))
    }

    fn retained_bytes(&self) -> usize {
        self.log.len() * std::mem::size_of::<(u64, u8)>()
    }
}

type R = Replica<Tape>;
type Out = ReplicaOutbox<Tape>;
type Replies = Vec<(ReqId, Response<u64>)>;

/// Deliveries one input may cause before the run is declared a message storm.
const DELIVERIES_MAX: usize = 100_000;
/// A session no registration ever hands out in these runs.
const STRANGER: u64 = 1 << 40;

/// Carries out `out` on a one-replica cluster: every message goes back to the replica, except
/// a snapshot fetch when `server` is given, which is answered with a chunk of `server`'s
/// snapshot (the replica is pulling it). Returns the client replies, in order.
fn settle(r: &mut R, out: Out, server: Option<(&Held, usize)>) -> Replies {
    let mut queue = vec![out];
    let mut replies = Vec::new();
    let mut deliveries = 0;
    while let Some(mut out) = queue.pop() {
        for effect in out.drain() {
            match effect {
                Effect::Send { to, msg } | Effect::Respond { to, msg } => {
                    assert_eq!(to, NodeId(0), "a one-replica cluster talks to itself");
                    let msg = match (msg, server) {
                        (Msg::FetchSnapshot { slot, offset, .. }, Some((held, chunk))) => {
                            held.chunk(slot, offset, chunk)
                        }
                        (msg, _) => msg,
                    };
                    let mut next = Outbox::new();
                    r.on_message(NodeId(0), msg, &mut next);
                    queue.push(next);
                    deliveries += 1;
                    assert!(deliveries < DELIVERIES_MAX, "message storm");
                }
                Effect::Reply { req, resp } => replies.push((req, resp)),
                other => panic!("unexpected effect {other:?}"),
            }
        }
    }
    replies
}

/// A fresh replica restored from `held` the way a replica catching up installs a peer's
/// snapshot: a transfer pulled in chunks of `chunk` bytes, then the install.
fn restored(held: &Held, config: &Config, seed: u64, chunk: usize) -> R {
    let mut fresh = R::with_config(NodeId(0), 1, seed, config.clone()).expect("valid config");
    let transfer = Transfer::new(NodeId(0), fresh.now);
    let first = transfer.fetch::<u8>(fresh.next_apply);
    fresh.transfer = Some(transfer);
    let Msg::FetchSnapshot { slot, offset, .. } = first else {
        unreachable!("a transfer starts with a fetch")
    };
    let mut out = Outbox::new();
    fresh.on_message(NodeId(0), held.chunk(slot, offset, chunk), &mut out);
    let replies = settle(&mut fresh, out, Some((held, chunk)));
    assert!(
        replies.is_empty(),
        "nobody asked the fresh replica anything"
    );
    assert!(fresh.transfer.is_none(), "the whole snapshot was pulled");
    fresh
}

/// One step of a run.
#[derive(Clone, Debug)]
enum Step {
    /// A new client registers.
    Register,
    /// A client sends its next command.
    Command(Index, u8),
    /// A client sends its last command again (same session and number).
    Retry(Index),
    /// A late copy of a client's command before its last one.
    Stale(Index),
    /// A command of a session never handed out.
    Stranger(u8),
    /// The replica under test takes a snapshot now.
    Snapshot,
    /// The replica under test is replaced by a fresh one restored from a snapshot of it.
    Restore,
    /// Both replicas tick.
    Tick,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Register),
        8 => (any::<Index>(), any::<u8>()).prop_map(|(c, cmd)| Step::Command(c, cmd)),
        3 => any::<Index>().prop_map(Step::Retry),
        1 => any::<Index>().prop_map(Step::Stale),
        1 => any::<u8>().prop_map(Step::Stranger),
        2 => Just(Step::Snapshot),
        2 => Just(Step::Restore),
        1 => Just(Step::Tick),
    ]
}

/// A client as the run sees it: its session, last command number and last command.
#[derive(Clone, Copy, Debug)]
struct Client {
    session: u64,
    seq: u64,
    last: u8,
}

/// The replica under test (it snapshots and is restored) and the reference (it never
/// snapshots), fed the same requests.
struct Pair {
    subject: R,
    reference: R,
    subject_config: Config,
    seed: u64,
    chunk: usize,
    clients: Vec<Client>,
    next_id: u64,
}

impl Pair {
    /// Sends `req` to both replicas; their answers must be equal.
    fn request(&mut self, req: &Request<u8>) -> Result<Replies, TestCaseError> {
        let id = ReqId(self.next_id);
        self.next_id += 1;
        let mut out = Outbox::new();
        self.subject.on_request(id, req.clone(), &mut out);
        let got = settle(&mut self.subject, out, None);
        let mut out = Outbox::new();
        self.reference.on_request(id, req.clone(), &mut out);
        let want = settle(&mut self.reference, out, None);
        prop_assert_eq!(&got, &want, "answers to {:?}", req);
        Ok(want)
    }

    fn tick(&mut self) -> Result<(), TestCaseError> {
        let mut out = Outbox::new();
        self.subject.on_tick(&mut out);
        let got = settle(&mut self.subject, out, None);
        let mut out = Outbox::new();
        self.reference.on_tick(&mut out);
        let want = settle(&mut self.reference, out, None);
        prop_assert_eq!(got, want, "answers on a tick");
        Ok(())
    }

    fn restore(&mut self) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            self.subject.waiting_len(),
            0,
            "a one-replica cluster holds nothing"
        );
        self.subject.take_snapshot(&mut Out::new());
        let held = self.subject.snapshot.clone().expect("just taken");
        let fresh = restored(&held, &self.subject_config, self.seed, self.chunk);
        if held.slot > Seq(0) {
            prop_assert_eq!(fresh.stats().snapshots_installed, 1);
        }
        self.subject = fresh;
        Ok(())
    }

    fn run(&mut self, step: &Step) -> Result<(), TestCaseError> {
        let client =
            |clients: &[Client], i: &Index| (!clients.is_empty()).then(|| i.index(clients.len()));
        match step {
            Step::Register => {
                let replies = self.request(&Request::Register)?;
                let [(_, Response::Registered { session })] = replies.as_slice() else {
                    return Err(TestCaseError::fail(format!(
                        "a one-replica cluster answers a registration at once: {replies:?}"
                    )));
                };
                self.clients.push(Client {
                    session: *session,
                    seq: 0,
                    last: 0,
                });
            }
            Step::Command(i, cmd) => {
                if let Some(c) = client(&self.clients, i) {
                    let Client { session, seq, .. } = self.clients[c];
                    self.clients[c] = Client {
                        session,
                        seq: seq + 1,
                        last: *cmd,
                    };
                    self.request(&Request::Command {
                        session,
                        seq: seq + 1,
                        cmd: *cmd,
                    })?;
                }
            }
            Step::Retry(i) => {
                if let Some(c) = client(&self.clients, i) {
                    let Client { session, seq, last } = self.clients[c];
                    if seq >= 1 {
                        self.request(&Request::Command {
                            session,
                            seq,
                            cmd: last,
                        })?;
                    }
                }
            }
            Step::Stale(i) => {
                if let Some(c) = client(&self.clients, i) {
                    let Client { session, seq, last } = self.clients[c];
                    if seq >= 2 {
                        let replies = self.request(&Request::Command {
                            session,
                            seq: seq - 1,
                            cmd: last,
                        })?;
                        prop_assert!(
                            replies
                                .iter()
                                .all(|(_, r)| !matches!(r, Response::Done { .. })),
                            "a stale command is never answered as done: {:?}",
                            replies
                        );
                    }
                }
            }
            Step::Stranger(cmd) => {
                let replies = self.request(&Request::Command {
                    session: STRANGER,
                    seq: 1,
                    cmd: *cmd,
                })?;
                prop_assert!(
                    replies
                        .iter()
                        .all(|(_, r)| !matches!(r, Response::Done { .. })),
                    "a session never handed out runs nothing: {:?}",
                    replies
                );
            }
            Step::Snapshot => self.subject.take_snapshot(&mut Out::new()),
            Step::Restore => self.restore()?,
            Step::Tick => self.tick()?,
        }
        prop_assert_eq!(self.subject.state(), self.reference.state());
        prop_assert_eq!(self.subject.sessions(), self.reference.sessions());
        prop_assert_eq!(self.subject.next_apply(), self.reference.next_apply());
        Ok(())
    }
}

/// A fixed seed (deterministic runs) unless `PROPTEST_RNG_SEED` is set; `cases` unless
/// `PROPTEST_CASES` is. No regression files: a failure prints its minimal case.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x6824);
    }
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// Bytes that pass a snapshot's header and checksum, so the payload decoder sees them.
fn with_snapshot_header(payload: &[u8]) -> Vec<u8> {
    let mut bytes = b"RSMS".to_vec();
    bytes.push(1);
    bytes.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// A valid snapshot payload (a few sessions, a machine) to damage.
fn valid_payload() -> Vec<u8> {
    let mut sessions = Sessions::new(4);
    for seq in 1..4 {
        let s = sessions.register();
        sessions.record(s, seq, seq * 7);
    }
    let machine = Tape::default().snapshot();
    let bytes = crate::snapshot::encode(Seq(42), &sessions, &machine);
    bytes[9..].to_vec()
}

proptest! {
    #![proptest_config(config(1000))]

    /// Any interleaving of apply, snapshot and restore gives the same state as applying the
    /// log alone: a replica that snapshots at random points (its own schedule every 1 to 8
    /// slots, and explicit ones) and is now and then replaced by a fresh replica restored from
    /// a snapshot of it (pulled in chunks of 1 to 64 bytes, then installed) gives every answer,
    /// state machine, session table and next slot that a replica that never snapshots gives,
    /// under registrations, commands, retries of the same (session, seq), stale copies,
    /// commands of unknown sessions, and evictions from a session table of 1 to 5 sessions.
    #[test]
    fn snapshots_and_restores_change_nothing(
        steps in proptest::collection::vec(step(), 1..200),
        every in 1u64..=8,
        sessions_max in 1usize..=5,
        chunk in 1usize..=64,
        seed in any::<u64>(),
    ) {
        let subject_config = Config {
            snapshot_every_slots: every,
            snapshot_chunk_bytes: chunk,
            sessions_max,
            ..Config::default()
        };
        let reference_config = Config {
            snapshot_every_slots: u64::MAX,
            snapshot_every_bytes: u64::MAX,
            sessions_max,
            ..Config::default()
        };
        let mut pair = Pair {
            subject: R::with_config(NodeId(0), 1, seed, subject_config.clone()).expect("valid"),
            reference: R::with_config(NodeId(0), 1, seed, reference_config).expect("valid"),
            subject_config,
            seed,
            chunk,
            clients: Vec::new(),
            next_id: 0,
        };
        for step in &steps {
            pair.run(step)?;
        }
        prop_assert_eq!(pair.reference.stats().snapshots_taken, 0);
    }

    /// A decided value is untrusted bytes: decoding any of them as an entry never panics.
    #[test]
    fn arbitrary_bytes_never_panic_entry_decode(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = crate::Entry::<u8>::decode(&bytes);
        let _ = crate::Entry::<String>::decode(&bytes);
    }

    /// A snapshot comes from a peer or a disk: decoding any bytes never panics, whether they
    /// fail the header, the checksum, or (behind a valid header and checksum) the payload.
    #[test]
    fn arbitrary_bytes_never_panic_snapshot_decode(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = Image::<u64>::decode(&bytes);
        let _ = Image::<u64>::decode(&with_snapshot_header(&bytes));
        let _ = Image::<String>::decode(&with_snapshot_header(&bytes));
    }

    /// A valid snapshot payload with bytes changed, truncated or extended, behind a valid
    /// checksum, never panics the decoder.
    #[test]
    fn damaged_snapshot_payloads_never_panic_decode(
        flips in proptest::collection::vec((any::<Index>(), any::<u8>()), 0..8),
        cut in any::<Index>(),
        tail in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut payload = valid_payload();
        for (at, byte) in &flips {
            let i = at.index(payload.len());
            payload[i] = *byte;
        }
        payload.truncate(cut.index(payload.len() + 1));
        payload.extend_from_slice(&tail);
        let _ = Image::<u64>::decode(&with_snapshot_header(&payload));
    }
}

/// The fields of a session table as its serde form has them, to forge an inconsistent one.
#[derive(Serialize)]
struct ForgedSessions {
    next_id: u64,
    open: std::collections::BTreeMap<u64, ForgedSession>,
    by_age: std::collections::BTreeMap<u64, u64>,
    clock: u64,
    max: usize,
}

#[derive(Serialize)]
struct ForgedSession {
    last_seq: u64,
    output: Option<u64>,
    stamp: u64,
}

/// A snapshot's bytes are untrusted (they come from a peer): one with a right checksum but a
/// session table whose session 1 is missing from its age index must be refused, or at least
/// leave a replica that goes on serving. (It used to be installed, and the next registration
/// panicked the replica in `Sessions::register`: "by_age mirrors open".) `Image::decode` now
/// checks the table's invariants and refuses it.
#[test]
fn an_inconsistent_session_table_is_not_installed() {
    let open = [(
        1,
        ForgedSession {
            last_seq: 0,
            output: None,
            stamp: 1,
        },
    )];
    let sessions = ForgedSessions {
        next_id: 2,
        open: open.into_iter().collect(),
        by_age: std::collections::BTreeMap::new(),
        clock: 1,
        max: 1,
    };
    let payload =
        postcard::to_stdvec(&(Seq(5), sessions, Tape::default().snapshot())).expect("encodes");
    let bytes = Bytes::from(with_snapshot_header(&payload));
    assert!(
        matches!(Image::<u64>::decode(&bytes), Err(SnapshotError::Decode(_))),
        "the forged snapshot is refused"
    );
    let held = Held {
        slot: Seq(5),
        bytes,
    };
    let mut r = restored(&held, &Config::default(), 7, 1 << 20);
    let mut out = Outbox::new();
    r.on_request(ReqId(0), Request::Register, &mut out);
    let replies = settle(&mut r, out, None);
    assert_eq!(replies.len(), 1, "the replica still serves: {replies:?}");
}
