//! kvpaxos durability as real processes (issue 10, "Real processes"): three `dsys kv serve`
//! with data directories, four clerks putting, appending and reading a few keys all along, and
//! replicas SIGKILLed (`kill -9`) and started again on their directories: one at a time (the
//! leader every other time), then all three at once, then one replica whose directory was
//! wiped. Every operation is recorded with wall-clock times; the history, with a final read of
//! every key, must be linearizable, and every acknowledged append must be in its key's final
//! value exactly once.
//!
//! A replica that lost its disk must not vote with the promises it forgot: it answers
//! `Unavailable` until it has rejoined ([`paxos::rejoin`]), then serves and votes again. The test
//! reads through it (every answer goes into the history, so a wrong value fails the check)
//! until it serves, then kills one of the other two: the cluster must go on, on its vote.

#![allow(clippy::disallowed_methods)] // Real processes: the history's clock is the wall clock.

use super::kv_cluster::{self, Replica, Scratch, Serving, info_field};
use check::{Budget, History, KvInput, KvOutput, check_kv};
use kvpaxos::Op;
use kvpaxos::server::TcpClerk;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clerks running at once.
const CLIENTS: u64 = 4;
/// Single-replica kills (each followed by a restart on the same directory), at least; more,
/// up to [`KILLS_MAX`], until every replica has taken a snapshot (so kills also fall after a
/// snapshot and the cut of the log below it).
const KILLS: u64 = 8;
const KILLS_MAX: u64 = 16;
/// One operation's deadline: a leader's death costs an election and a retry or two.
const OP_DEADLINE: Duration = Duration::from_secs(5);
/// Every wait for a condition (progress, a replica catching up, a refusal) is bounded by this.
const WAIT_MAX: Duration = Duration::from_secs(20);
/// Operations the clerks must complete in each phase (with a replica down, after it is back)
/// to show the cluster serves: a few hundred milliseconds of load.
const PROGRESS_OPS: u64 = 400;
/// Keys that are put, appended to and read (`k0`..), and keys only appended to and read
/// (`a0`..), whose final value must hold every acknowledged append.
const MIXED_KEYS: u64 = 3;
const APPEND_KEYS: u64 = 2;
/// The history's client ids of the reads through the wiped replica and of the final reads.
const PROBE_CLIENT: u64 = 1000;
const FINAL_CLIENT: u64 = 1001;
/// Seeds the choice of victims (printed, so a failing run says what it did).
const SEED: u64 = 10;

/// What the clerks and the test share.
struct Shared {
    history: Mutex<History>,
    completed: AtomicU64,
    stop: AtomicBool,
    start: Instant,
}

impl Shared {
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).expect("a short test")
    }

    fn invoke(&self, client: u64, input: KvInput) -> check::OpId {
        let call = self.now();
        self.history
            .lock()
            .expect("lock")
            .invoke(client, input, call)
    }

    fn complete(&self, op: check::OpId, output: KvOutput) {
        let ret = self.now();
        self.history.lock().expect("lock").complete(op, output, ret);
        self.completed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The next operation of a clerk: a Get, Put or Append on a mixed key, or a Get or Append on
/// an append-only key; every written value is unique (`c<client>.<n>`, space-terminated).
fn pick(rng: &mut rpc::Rng, client: u64, n: u64) -> (Op, KvInput) {
    let k = rng.below(MIXED_KEYS + APPEND_KEYS);
    let value = format!("c{client}.{n} ");
    let (key, kind) = if k < MIXED_KEYS {
        (format!("k{k}"), rng.below(3))
    } else {
        (format!("a{}", k - MIXED_KEYS), 2 * rng.below(2))
    };
    kv_cluster::kv_op(kind, key, value)
}

/// Runs `op` through `clerk`, recorded in the history as `client`'s; the value if it
/// completed. A timed-out operation stays pending: it may or may not have run.
async fn run_recorded(
    shared: &Shared,
    client: u64,
    clerk: &mut TcpClerk,
    op: Op,
    input: KvInput,
) -> Option<String> {
    let is_get = matches!(op, Op::Get { .. });
    let id = shared.invoke(client, input);
    let value = clerk.run_lab(op, OP_DEADLINE).await.ok()?;
    let output = if is_get {
        KvOutput::value(value.clone())
    } else {
        KvOutput::Ok
    };
    shared.complete(id, output);
    Some(value)
}

/// A clerk running operations until told to stop.
async fn client(id: u64, servers: Vec<SocketAddr>, shared: Arc<Shared>) {
    let mut clerk = TcpClerk::new(&servers);
    let mut rng = rpc::Rng::new(id + 1);
    let mut n = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        n += 1;
        let (op, input) = pick(&mut rng, id, n);
        run_recorded(&shared, id, &mut clerk, op, input).await;
    }
}

/// Three durable replicas under four clerks: 8 to 16 single kills (leader, random, leader, ...,
/// until every replica took a snapshot) each followed by a restart on the replica's directory,
/// a wait until it caught up, and more load; then all three killed and restarted; then one
/// replica's directory wiped before its restart, reads through it until it serves again, and
/// one of the other two killed and restarted. After every fault the clerks must complete
/// operations again within [`WAIT_MAX`]. Then: a final read of every key, the history checked
/// for linearizability, and every acknowledged append found exactly once.
#[test]
fn kv_durable_replicas_keep_every_write_through_kill_9() {
    let scratch = Scratch::new("kv-durable");
    let mut replicas = kv_cluster::start_durable(3, true, scratch.path());
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let shared = Arc::new(Shared {
        history: Mutex::new(History::new()),
        completed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        start: Instant::now(),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let mut servers = addrs.clone();
            servers.rotate_left(id as usize % addrs.len());
            runtime.spawn(client(id, servers, shared.clone()))
        })
        .collect();
    let mut rng = rpc::Rng::new(SEED);
    await_progress(&shared, &replicas, "before any kill");
    kill_one_at_a_time(&shared, &mut replicas, &mut rng);
    kill_all(&shared, &mut replicas);
    wipe_one(&shared, &mut replicas, &mut rng);

    shared.stop.store(true, Ordering::Relaxed);
    for task in clients {
        runtime.block_on(task).expect("a clerk task");
    }
    let finals = runtime.block_on(final_reads(&shared, &addrs));
    let slots = replicas
        .iter()
        .filter_map(|r| r.try_info().ok())
        .filter_map(|info| info_field::<u64>(&info, "applied_slots"))
        .max();
    drop(runtime);
    let shared = Arc::try_unwrap(shared)
        .map_err(|_| "the clerks are done")
        .expect("no other owner");
    let history = shared.history.into_inner().expect("lock");
    eprintln!(
        "{} operations ({} completed) in {:?}; {slots:?} slots; final values of {} bytes",
        history.len(),
        shared.completed.load(Ordering::Relaxed),
        shared.start.elapsed(),
        finals.values().map(String::len).sum::<usize>()
    );
    check_appends_kept(&history, &finals);
    check_kv(&history, Budget::default()).assert_linearizable();
}

/// Kills one replica at a time (the leader every other round) and starts it again on its
/// directory: at least [`KILLS`] times, more until every replica has taken a snapshot.
fn kill_one_at_a_time(shared: &Shared, replicas: &mut [Replica], rng: &mut rpc::Rng) {
    let mut round = 0;
    while round < KILLS || (round < KILLS_MAX && !all_snapshotted(replicas)) {
        let leader = leader_of(replicas);
        let victim = match leader {
            Some(leader) if round % 2 == 0 => leader,
            _ => rng.below(3) as usize,
        };
        let role = if leader == Some(victim) {
            "leader"
        } else {
            "follower"
        };
        eprintln!(
            "{:?} round {round}: kill -9 replica {victim} ({role})",
            shared.start.elapsed()
        );
        replicas[victim].kill();
        await_progress(shared, replicas, &format!("replica {victim} down"));
        replicas[victim].restart();
        await_caught_up(replicas, victim);
        await_progress(shared, replicas, &format!("replica {victim} back"));
        round += 1;
    }
    eprintln!(
        "{round} kills; every replica took a snapshot: {}",
        all_snapshotted(replicas)
    );
}

/// Kills every replica, then starts them all again on their directories.
fn kill_all(shared: &Shared, replicas: &mut [Replica]) {
    eprintln!("{:?} kill -9 all three", shared.start.elapsed());
    for replica in replicas.iter_mut() {
        replica.kill();
    }
    for replica in replicas.iter_mut() {
        replica.restart();
    }
    await_progress(shared, replicas, "all three restarted");
    for i in 0..replicas.len() {
        await_caught_up(replicas, i);
    }
}

/// Kills a replica and wipes its directory before starting it again; reads through it until
/// it serves, then kills one of the other two, which the cluster survives only on its vote.
fn wipe_one(shared: &Shared, replicas: &mut [Replica], rng: &mut rpc::Rng) {
    let wiped = rng.below(3) as usize;
    eprintln!(
        "{:?} kill -9 replica {wiped}, wipe its directory, restart it",
        shared.start.elapsed()
    );
    replicas[wiped].kill();
    replicas[wiped].wipe();
    replicas[wiped].restart();
    let refusals = await_serving(shared, replicas, wiped);
    await_progress(shared, replicas, &format!("replica {wiped} wiped"));
    let other = (wiped + 1 + rng.below(2) as usize) % replicas.len();
    eprintln!("the wiped replica refused {refusals} reads, then served; kill -9 replica {other}");
    replicas[other].kill();
    let what = format!("replica {other} down, the wiped {wiped} voting");
    await_progress(shared, replicas, &what);
    replicas[other].restart();
    await_caught_up(replicas, other);
}

/// Waits until the clerks complete [`PROGRESS_OPS`] more operations.
fn await_progress(shared: &Shared, replicas: &[Replica], what: &str) {
    let target = shared.completed.load(Ordering::Relaxed) + PROGRESS_OPS;
    let deadline = Instant::now() + WAIT_MAX;
    while shared.completed.load(Ordering::Relaxed) < target {
        assert!(
            Instant::now() < deadline,
            "{what}: the clerks completed fewer than {PROGRESS_OPS} operations in {WAIT_MAX:?}\n{}",
            logs(replicas)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// True once every replica has a snapshot on disk.
fn all_snapshotted(replicas: &[Replica]) -> bool {
    replicas.iter().all(|r| {
        let dir = r.data_dir.as_ref().expect("durable replicas");
        dir.join(rsm::SNAPSHOT_FILE).exists()
    })
}

/// The leader one of the replicas that answer names, if any.
fn leader_of(replicas: &[Replica]) -> Option<usize> {
    replicas
        .iter()
        .filter_map(|r| r.try_info().ok())
        .find_map(|info| info_field(&info, "leader_id"))
}

/// Waits until replica `i` names a leader and has applied every slot that the others had
/// applied when the wait began.
fn await_caught_up(replicas: &[Replica], i: usize) {
    let target = (0..replicas.len())
        .filter(|j| *j != i)
        .filter_map(|j| replicas[j].try_info().ok())
        .filter_map(|info| info_field::<u64>(&info, "applied_slots"))
        .max()
        .unwrap_or(0);
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let info = replicas[i].try_info().unwrap_or_default();
        let applied: u64 = info_field(&info, "applied_slots").unwrap_or(0);
        let leader: Option<u64> = info_field(&info, "leader_id");
        if leader.is_some() && applied >= target {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica {i} did not catch up to slot {target} in {WAIT_MAX:?}: {info:?}\n{}",
            logs(replicas)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until the wiped replica `wiped` answers a GET (it has rejoined), reading through its
/// RESP port on one connection; returns how many reads it refused as "replica unavailable"
/// first. Every GET it answers goes into the history, so a wrong value fails the check.
fn await_serving(shared: &Shared, replicas: &[Replica], wiped: usize) -> u64 {
    let addr = replicas[wiped].resp.expect("started with --resp");
    let deadline = Instant::now() + WAIT_MAX;
    let mut conn = None;
    let mut refusals = 0;
    loop {
        let op = shared.invoke(PROBE_CLIENT, KvInput::get("k0"));
        match resp_get(&mut conn, addr, "k0") {
            Ok(value) => {
                shared.complete(op, KvOutput::value(value));
                return refusals;
            }
            // A refused or failed read stays pending: it constrains nothing.
            Err(error) if error.starts_with("ERR replica unavailable") => refusals += 1,
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "the wiped replica {wiped} did not serve within {WAIT_MAX:?} ({refusals} refusals)\n{}",
            logs(replicas)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads every key through `servers` (the replicas that still vote), into the history too.
async fn final_reads(shared: &Shared, servers: &[SocketAddr]) -> BTreeMap<String, String> {
    let mut clerk = TcpClerk::new(servers);
    let keys = (0..MIXED_KEYS)
        .map(|k| format!("k{k}"))
        .chain((0..APPEND_KEYS).map(|k| format!("a{k}")));
    let mut finals = BTreeMap::new();
    for key in keys {
        let op = Op::Get { key: key.clone() };
        let value = run_recorded(shared, FINAL_CLIENT, &mut clerk, op, KvInput::get(&key))
            .await
            .unwrap_or_else(|| panic!("the final read of {key} got no answer"));
        finals.insert(key, value);
    }
    finals
}

/// Every acknowledged append to an append-only key is in its final value exactly once, and
/// every value there comes from an append that was tried.
fn check_appends_kept(history: &History, finals: &BTreeMap<String, String>) {
    let mut tried: BTreeMap<&str, Vec<(&str, bool)>> = BTreeMap::new();
    for (_, op) in history.iter() {
        if let KvInput::Append { key, value } = op.input()
            && key.starts_with('a')
        {
            tried
                .entry(key.as_str())
                .or_default()
                .push((value.trim_end(), !op.is_pending()));
        }
    }
    for (key, appends) in tried {
        let tokens: Vec<&str> = finals[key].split_whitespace().collect();
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for token in &tokens {
            *count.entry(token).or_default() += 1;
        }
        for (value, acknowledged) in &appends {
            let n = count.remove(value).unwrap_or(0);
            assert!(n <= 1, "{key}: append {value:?} took effect {n} times");
            assert!(
                n == 1 || !acknowledged,
                "{key}: acknowledged append {value:?} is missing from the final value"
            );
        }
        assert!(
            count.is_empty(),
            "{key}: values nobody appended: {:?}",
            count.keys()
        );
    }
}

/// One GET over the RESP connection in `conn` (opened if there is none, dropped after an I/O
/// error): the value, or the error reply's text. One connection keeps one session, so the
/// probes do not open a session each.
fn resp_get(
    conn: &mut Option<BufReader<TcpStream>>,
    addr: SocketAddr,
    key: &str,
) -> Result<String, String> {
    let result = resp_get_on(conn, addr, key);
    if let Err(RespError::Io(_)) = result {
        *conn = None;
    }
    result.map_err(|e| match e {
        RespError::Io(text) | RespError::Reply(text) => text,
    })
}

enum RespError {
    Io(String),
    Reply(String),
}

fn resp_get_on(
    conn: &mut Option<BufReader<TcpStream>>,
    addr: SocketAddr,
    key: &str,
) -> Result<String, RespError> {
    let io = |e: std::io::Error| RespError::Io(e.to_string());
    if conn.is_none() {
        let stream = TcpStream::connect(addr).map_err(io)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(io)?;
        *conn = Some(BufReader::new(stream));
    }
    let reader = conn.as_mut().expect("connected above");
    let command = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
    reader.get_mut().write_all(command.as_bytes()).map_err(io)?;
    let mut line = String::new();
    if reader.read_line(&mut line).map_err(io)? == 0 {
        return Err(RespError::Io("connection closed".into()));
    }
    let line = line.trim_end();
    if let Some(error) = line.strip_prefix('-') {
        return Err(RespError::Reply(error.to_string()));
    }
    let len: usize = line
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| RespError::Io(format!("GET answered {line:?}")))?;
    let mut body = vec![0; len + 2];
    reader.read_exact(&mut body).map_err(io)?;
    body.truncate(len);
    String::from_utf8(body).map_err(|e| RespError::Io(e.to_string()))
}

/// The end of every replica's log, for a failure message.
fn logs(replicas: &[Replica]) -> String {
    let mut text = String::new();
    for (i, replica) in replicas.iter().enumerate() {
        let log = replica.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(15)..];
        text.push_str(&format!("--- replica {i} log (last lines) ---\n"));
        for line in tail {
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// A replica whose disk fails (issue 10, "I/O errors"): run under `ulimit -f` (with SIGXFSZ
/// ignored, so a write past the limit fails with EFBIG as a full disk fails with ENOSPC), a
/// one-replica cluster takes Puts of 8 KB until its log cannot grow. It must exit 1 saying its
/// disk failed, not hang; started again on the same directory without the limit, it has every
/// Put it acknowledged (the torn end of its log is cut).
#[test]
fn kv_serve_exits_when_its_disk_fails_and_keeps_what_it_acknowledged() {
    use std::process::{Command, Stdio};
    let scratch = Scratch::new("kv-disk-full");
    let dir = scratch.path().join("kv-0").display().to_string();
    let addr = kv_cluster::free_addrs(1)[0];
    let peers = addr.to_string();
    let serve = [
        "kv",
        "serve",
        "--id",
        "0",
        "--peers",
        &peers,
        "--resp",
        "127.0.0.1:0",
        "--data-dir",
        &dir,
    ];
    // 3072 blocks: 1.5 MiB (dash) or 3 MiB (bash) of log. The runtime reserves a log's space in
    // 1 MiB steps, so the first step fits and a later one fails: a few hundred 8 KB Puts.
    let mut command = Command::new("sh");
    command
        .args(["-c", r#"trap "" XFSZ; ulimit -f 3072; exec "$0" "$@""#])
        .arg(env!("CARGO_BIN_EXE_dsys"))
        .args(serve)
        .stderr(Stdio::piped());
    let mut limited = Serving::spawn(command);
    let resp = limited.resp().expect("a RESP address");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let value = |i: usize| format!("{i:04}").repeat(2048);
    let mut acknowledged = Vec::new();
    let mut applied = 0;
    let mut clerk = TcpClerk::new(&[addr]);
    let deadline = Instant::now() + WAIT_MAX;
    let status = loop {
        if let Some(status) = limited.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the replica did not stop");
        let i = acknowledged.len();
        let op = Op::Put {
            key: format!("k{i}"),
            value: value(i),
        };
        if runtime
            .block_on(clerk.run(op, Duration::from_secs(1)))
            .is_ok()
        {
            acknowledged.push(i);
            let info = kv_cluster::info_at(resp).unwrap_or_default();
            applied = info_field(&info, "applied_slots").unwrap_or(applied);
        }
    };
    let mut stderr = String::new();
    limited
        .child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert_eq!(status.code(), Some(1), "{stderr}");
    let want = format!(
        "kv replica 0 stopped on its own: a write or fsync in its data directory {dir} failed"
    );
    assert!(stderr.contains(&want), "want {want:?} in {stderr}");
    assert!(stderr.contains("File too large"), "the cause: {stderr}");
    assert!(!acknowledged.is_empty(), "no Put went through: {stderr}");

    let _restarted = Serving::start(&serve);
    let mut clerk = TcpClerk::new(&[addr]);
    for i in acknowledged {
        let op = Op::Get {
            key: format!("k{i}"),
        };
        let got = runtime.block_on(clerk.run_lab(op, OP_DEADLINE));
        assert_eq!(got.ok(), Some(value(i)), "acknowledged Put k{i}");
    }
}

/// A replica restarted on its directory hands a new client a session of its own: a clerk that
/// registers at once after the restart, then reads, sees the value written before the crash.
/// (A replica numbers its pending registrations from 0 in every run, and the log it replays
/// after a restart holds `Register` entries of its previous run with the same numbers; before
/// they were told apart by the run that proposed them, `paxos::Peer::boot`, a client
/// registering at once was answered with an old client's session and read its cached reply.)
#[test]
fn kv_restarted_replica_gives_a_new_client_a_new_session() {
    let scratch = Scratch::new("kv-old-session");
    let dir = scratch.path().join("kv-0").display().to_string();
    let addr = kv_cluster::free_addrs(1)[0];
    let peers = addr.to_string();
    let serve = [
        "kv",
        "serve",
        "--id",
        "0",
        "--peers",
        &peers,
        "--data-dir",
        &dir,
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let first = Serving::start(&serve);
    let put = Op::Put {
        key: "k".into(),
        value: "hello".into(),
    };
    runtime
        .block_on(TcpClerk::new(&[addr]).run_lab(put, OP_DEADLINE))
        .expect("the Put");
    drop(first);
    for restart in 0..3 {
        let _serving = Serving::start(&serve);
        let get = Op::Get { key: "k".into() };
        let got = runtime.block_on(TcpClerk::new(&[addr]).run_lab(get, OP_DEADLINE));
        assert_eq!(
            got.ok().as_deref(),
            Some("hello"),
            "after restart {restart}"
        );
    }
}
