//! Group commit in the actor, driven with inputs queued before it runs, so that which inputs
//! share a turn is certain rather than a matter of timing.

use super::*;
use crate::record::{decode_records, encode_record};
use crate::runtime::INBOX_CAPACITY;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A tick no test reaches, so that no tick joins a turn and the turns are exactly as queued.
const TICK_NEVER: Duration = Duration::from_secs(3600);

/// The failure guard around each scenario.
const BOUND: Duration = Duration::from_secs(10);

/// A log core: each `Log` appends one framed record to `log` and syncs, and its reply says how
/// many records the log has now.
#[derive(Debug, Default)]
struct LogCore {
    records: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Req {
    /// Append the record to `log`, sync, answer the record count.
    Log(Vec<u8>),
    /// Answer at once with the number: no disk effect at all.
    Echo(u64),
    /// Append the record to `log` without a sync, and answer the record count.
    Note(Vec<u8>),
    /// Truncate `file` to nothing and sync (fails if the file is missing), then answer 0.
    Cut(String),
    /// Remove `file` without a sync, then answer 0.
    Remove(String),
}

impl Node for LogCore {
    type Msg = ();
    type Req = Req;
    type Resp = u64;

    fn on_message(&mut self, _from: NodeId, (): (), _out: &mut NodeOutbox<Self>) {}

    fn on_request(&mut self, req: ReqId, body: Req, out: &mut NodeOutbox<Self>) {
        match body {
            Req::Log(record) => {
                out.append("log", encode_record(&record));
                out.sync();
                self.records += 1;
                out.reply(req, self.records);
            }
            Req::Echo(n) => out.reply(req, n),
            Req::Note(record) => {
                out.append("log", encode_record(&record));
                self.records += 1;
                out.reply(req, self.records);
            }
            Req::Cut(file) => {
                out.truncate(file, 0);
                out.sync();
                out.reply(req, 0);
            }
            Req::Remove(file) => {
                out.remove(file);
                out.reply(req, 0);
            }
        }
    }

    fn on_tick(&mut self, _out: &mut NodeOutbox<Self>) {}
}

/// An actor for a one-node cluster on `dir`, not running yet: fill its inbox, then `run` it.
struct Setup {
    actor: Actor<LogCore>,
    inbox: mpsc::Sender<Input<LogCore>>,
    counters: Arc<Counters>,
    stop: CancellationToken,
}

fn setup(dir: &Path) -> Setup {
    let (inbox, inbox_rx) = mpsc::channel(INBOX_CAPACITY);
    let counters = Arc::new(Counters::default());
    let stop = CancellationToken::new();
    // The node's own address is never dialled.
    let peers = ["127.0.0.1:1".parse().expect("an address")];
    let actor = Actor::new(
        LogCore::default(),
        NodeId(0),
        &peers,
        TICK_NEVER,
        Some(dir.to_path_buf()),
        inbox_rx,
        stop.clone(),
        counters.clone(),
    );
    Setup {
        actor,
        inbox,
        counters,
        stop,
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dsys-rpc-actor-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn request(responder: &Responder<u64>, corr: u64, body: Req) -> Input<LogCore> {
    Input::Request {
        responder: responder.clone(),
        corr,
        body,
    }
}

/// The records of `dir/log` right now (a batch may be appending behind them).
fn records_on_disk(dir: &Path) -> Vec<Vec<u8>> {
    let bytes = Bytes::from(std::fs::read(dir.join("log")).expect("the log exists"));
    let (records, _tail) = decode_records(&bytes);
    records.into_iter().map(<[u8]>::to_vec).collect()
}

async fn bounded<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("scenario exceeded its time bound")
}

async fn stop(stop: CancellationToken, task: JoinHandle<()>, dir: &Path) {
    stop.cancel();
    bounded(task).await.expect("the actor does not panic");
    std::fs::remove_dir_all(dir).expect("cleanup");
}

/// Goal: inputs that each append a record and sync share fsyncs: one per batch, not one per
/// input, and still every reply leaves only once its record is on disk and its `Sync` done.
/// Method: 200 `Log` requests queued on one connection before the actor starts. The first batch
/// takes the first and `MAX_TURN_INPUTS` more of them; the inputs read while a batch runs fill
/// the next, which also takes up to `MAX_TURN_INPUTS` more before it starts: so every batch but
/// the last holds at least 65, and how many more depends on how fast the disk is. After each
/// reply, the log is read back and the `Sync` count checked; at the end, fsyncs are counted.
#[tokio::test]
async fn queued_syncing_inputs_share_one_fsync_per_turn() {
    const REQUESTS: u64 = 200;
    let dir = scratch("share");
    let Setup {
        actor,
        inbox,
        counters,
        stop: token,
    } = setup(&dir);
    let (responder, mut answers) = mpsc::channel(REQUESTS as usize);
    for corr in 0..REQUESTS {
        let record = Req::Log(corr.to_be_bytes().to_vec());
        inbox
            .try_send(request(&responder, corr, record))
            .expect("the inbox has room");
    }
    drop(responder);
    let task = tokio::spawn(actor.run());
    for corr in 0..REQUESTS {
        let answer = bounded(answers.recv())
            .await
            .expect("every request answered");
        assert_eq!(
            answer,
            (corr, corr + 1),
            "answers in order, each after its append"
        );
        let records = records_on_disk(&dir);
        assert!(
            records.len() as u64 > corr,
            "record {corr} on disk at reply"
        );
        assert_eq!(records[corr as usize], corr.to_be_bytes());
        assert!(
            counters.snapshot().disk_syncs > corr,
            "its Sync done at reply"
        );
    }
    let most_batches = REQUESTS.div_ceil(MAX_TURN_INPUTS as u64 + 1);
    let stats = counters.snapshot();
    assert_eq!(stats.disk_syncs, REQUESTS);
    assert!(
        (2..=most_batches).contains(&stats.group_commits),
        "the first batch holds 65, each later one at least as many: {} batches",
        stats.group_commits
    );
    assert_eq!(stats.group_commit_inputs, REQUESTS);
    assert_eq!(
        stats.disk_fsyncs,
        stats.group_commits + 1,
        "one fsync of the log per batch, plus the directory once for the new file"
    );
    assert!(
        stats.disk_fsyncs * 10 < REQUESTS,
        "far fewer fsyncs than inputs"
    );
    stop(token, task, &dir).await;
}

/// Goal: effects before the first `Sync` leave at once and an input with nothing to sync waits
/// for nothing, while everything after the `Sync` (replies, a call's answer) waits for the
/// batch and then leaves in order.
/// Method: queued before the actor starts: an `Echo`, a `Log`, another `Echo`, then a call that
/// blocks the actor (on a thread of its own, `block_in_place`) until the test lets it go. While
/// it blocks, only the first `Echo` is answered and the log does not exist yet (the batch starts
/// once the inputs already queued are handled). Once released, the call's answer comes after
/// both replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_effects_wait_for_the_batch_and_leave_in_order() {
    let dir = scratch("order");
    let Setup {
        actor,
        inbox,
        counters,
        stop: token,
    } = setup(&dir);
    let (responder, mut answers) = mpsc::channel(8);
    let (started_tx, started) = oneshot::channel();
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done) = oneshot::channel();
    let job: Job<LogCore> = Box::new(move |_core, _out| {
        started_tx.send(()).expect("the test waits for this");
        tokio::task::block_in_place(|| go_rx.recv()).expect("the test lets go");
        Box::new(move || done_tx.send(()).expect("the test waits for this"))
    });
    for input in [
        request(&responder, 0, Req::Echo(7)),
        request(&responder, 1, Req::Log(b"a".to_vec())),
        request(&responder, 2, Req::Echo(9)),
        Input::Call(job),
    ] {
        inbox.try_send(input).expect("the inbox has room");
    }
    let task = tokio::spawn(actor.run());
    bounded(started).await.expect("the call runs");
    assert_eq!(answers.try_recv().ok(), Some((0, 7)), "no Sync before it");
    assert!(answers.try_recv().is_err(), "the rest wait for the Sync");
    assert!(
        !dir.join("log").exists(),
        "the batch runs once the turn ends"
    );
    assert_eq!(counters.snapshot().disk_syncs, 0);

    go.send(()).expect("the call waits for this");
    bounded(done).await.expect("the call's answer is released");
    assert_eq!(
        answers.try_recv().ok(),
        Some((1, 1)),
        "released before the call's answer"
    );
    assert_eq!(records_on_disk(&dir), [b"a".to_vec()]);
    assert_eq!(
        answers.try_recv().ok(),
        Some((2, 9)),
        "in the order emitted"
    );
    let stats = counters.snapshot();
    // All four inputs were handled before the one batch was taken.
    assert_eq!((stats.group_commits, stats.group_commit_inputs), (1, 4));
    stop(token, task, &dir).await;
}

/// Goal: a disk error in a turn's batch stops the node as a crash would, and nothing the turn
/// held is released, not even the answer of an input whose own record made it to disk.
/// Method: a `Log`, a `Cut` of a missing file (the truncate fails), and an `Echo`, queued so
/// that they share a turn; the actor must stop on its own and drop every answer.
#[tokio::test]
async fn held_effects_are_never_released_after_a_disk_error() {
    let dir = scratch("error");
    let Setup {
        actor,
        inbox,
        stop: token,
        ..
    } = setup(&dir);
    let (responder, mut answers) = mpsc::channel(8);
    for input in [
        request(&responder, 0, Req::Log(b"durable".to_vec())),
        request(&responder, 1, Req::Cut("missing".into())),
        request(&responder, 2, Req::Echo(1)),
    ] {
        inbox.try_send(input).expect("the inbox has room");
    }
    drop(responder);
    bounded(actor.run()).await;
    assert!(token.is_cancelled(), "the node stopped itself");
    assert_eq!(answers.recv().await, None, "no answer released");
    assert_eq!(records_on_disk(&dir), [b"durable".to_vec()]);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// Goal: appends without a `Sync` cost the actor no disk batch of their own: they wait for the
/// next `Sync` (the contract makes them durable only then) and share its one batch; a clean
/// stop still writes what waits. Method: three `Note`s answered before the log file even
/// exists, then a `Log` whose reply finds all four records on disk after one log fsync (plus
/// the directory's); then a `Note`, a `Log`, a `Remove` and a clean stop, after which all six
/// records are there and the removed file is gone.
#[tokio::test]
async fn unsynced_appends_wait_for_the_next_sync_and_a_clean_stop() {
    let dir = scratch("unsynced");
    let Setup {
        actor,
        inbox,
        counters,
        stop: token,
    } = setup(&dir);
    let (responder, mut answers) = mpsc::channel(8);
    let task = tokio::spawn(actor.run());
    for corr in 0..3u64 {
        let note = Req::Note(corr.to_be_bytes().to_vec());
        inbox
            .send(request(&responder, corr, note))
            .await
            .expect("sent");
        let answer = bounded(answers.recv()).await.expect("answered");
        assert_eq!(answer, (corr, corr + 1));
    }
    assert!(
        !dir.join("log").exists(),
        "unsynced appends waited for a batch with a Sync"
    );
    let log = Req::Log(3u64.to_be_bytes().to_vec());
    inbox.send(request(&responder, 3, log)).await.expect("sent");
    assert_eq!(bounded(answers.recv()).await, Some((3, 4)));
    assert_eq!(records_on_disk(&dir).len(), 4, "all four at the Sync");
    assert_eq!(
        counters.snapshot().disk_fsyncs,
        2,
        "the log once, the directory once"
    );
    let note = Req::Note(4u64.to_be_bytes().to_vec());
    inbox
        .send(request(&responder, 4, note))
        .await
        .expect("sent");
    assert_eq!(bounded(answers.recv()).await, Some((4, 5)));
    let log = Req::Log(5u64.to_be_bytes().to_vec());
    inbox.send(request(&responder, 5, log)).await.expect("sent");
    assert_eq!(bounded(answers.recv()).await, Some((5, 6)));
    // Now the batch holds nothing but the remove: a change of no bytes, that nothing waits for.
    std::fs::write(dir.join("stale"), b"x").expect("plant a file to remove");
    let remove = Req::Remove("stale".into());
    inbox
        .send(request(&responder, 6, remove))
        .await
        .expect("sent");
    assert_eq!(bounded(answers.recv()).await, Some((6, 0)));
    assert!(dir.join("stale").exists(), "kept for a later batch");
    token.cancel();
    bounded(task).await.expect("the actor does not panic");
    assert_eq!(
        records_on_disk(&dir).len(),
        6,
        "a clean stop keeps everything"
    );
    assert!(
        !dir.join("stale").exists(),
        "a change of no bytes (a remove) is carried out at a clean stop too"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
