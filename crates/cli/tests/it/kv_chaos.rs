//! kvpaxos as real processes under a crash (issue 5, "Real processes and real clients"): three
//! `dsys kv serve --in-memory`, four clerks writing and reading the same few keys, the leader
//! SIGKILLed midway (it keeps nothing on disk, so it stays down: the other two elect a leader
//! and go on). Every operation is recorded with wall-clock times and the history must be
//! linearizable. Restarted afterwards, the old leader (with none of its state) must refuse to
//! serve. `kv_durable` does the same with data directories, where a restart keeps everything.

#![allow(clippy::disallowed_methods)] // Real processes: the history's clock is the wall clock.

use super::kv_cluster;
use check::{Budget, History, check_kv};
use kvpaxos::Op;
use kvpaxos::server::TcpClerk;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clerks running at once.
const CLIENTS: u64 = 4;
/// Load before the kill, and after it.
const PHASE: Duration = Duration::from_millis(800);
/// One operation's deadline: failing over from a dead replica takes a retry (100 ms), and a
/// Paxos round may need a few more ticks while the dead peer's messages time out.
const OP_DEADLINE: Duration = Duration::from_secs(5);

/// Runs operations until `stop`, recording each into `history`; returns how many completed.
async fn client(
    id: u64,
    servers: Vec<SocketAddr>,
    history: Arc<Mutex<History>>,
    start: Instant,
    stop: Instant,
) -> u64 {
    let mut clerk = TcpClerk::new(&servers);
    let mut rng = rpc::Rng::new(id + 1);
    let mut done = 0;
    let mut n = 0u64;
    while Instant::now() < stop {
        n += 1;
        let key = format!("k{}", rng.below(3));
        let value = format!("c{id}.{n} ");
        let (op, input) = kv_cluster::kv_op(rng.below(3), key, value);
        let is_get = matches!(op, Op::Get { .. });
        let op_id = kv_cluster::record_call(&history, id, input, start);
        // A timed-out operation stays pending in the history: it may or may not have run.
        if let Ok(value) = clerk.run_lab(op, OP_DEADLINE).await {
            kv_cluster::record_return(&history, op_id, is_get, value, start);
            done += 1;
        }
    }
    done
}

/// Four clerks (each starting at a different replica) run Get/Put/Append on three keys for
/// 0.8 s, the leader (as the replicas' `INFO` names it) is SIGKILLed, and they run 0.8 s more
/// against the two survivors, which must elect a new leader. The
/// clerks must keep completing operations after the kill, and the whole history (pending
/// operations included) must pass the linearizability checker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_sigkill_the_leader_history_stays_linearizable() {
    let mut replicas = kv_cluster::start(3, true);
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    let history = Arc::new(Mutex::new(History::new()));
    let start = Instant::now();
    let kill_at = start + PHASE;
    let stop = kill_at + PHASE;
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..CLIENTS {
        let mut servers = addrs.clone();
        servers.rotate_left(id as usize % addrs.len());
        tasks.spawn(client(id, servers, history.clone(), start, stop));
    }
    tokio::time::sleep_until(kill_at.into()).await;
    let leader = kv_cluster::leader(&replicas);
    replicas[leader].kill();
    let before_kill = history.lock().expect("lock").len();

    let (completed, history) = kv_cluster::join_clients(tasks, history).await;
    let after_kill = history.len() - before_kill;
    assert!(completed >= 20, "only {completed} operations completed");
    assert!(
        after_kill >= 10,
        "only {after_kill} operations started after the kill"
    );
    check_kv(&history, Budget::default()).assert_linearizable();
    let survivors: Vec<&kv_cluster::Replica> = (0..replicas.len())
        .filter(|i| *i != leader)
        .map(|i| &replicas[i])
        .collect();
    let named: Vec<Option<usize>> = survivors.iter().map(|r| r.leader()).collect();
    assert!(
        named
            .iter()
            .all(|n| n.is_some() && *n != Some(leader) && *n == named[0]),
        "the survivors do not agree on a new leader: {named:?}"
    );

    // Started again, the old leader has none of its state (in memory): it must not rejoin, and
    // it says so to clients instead of answering.
    replicas[leader].restart();
    let resp = replicas[leader].resp.expect("started with --resp");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = resp_get(resp, "k0").await;
        if answer.starts_with("-CLUSTERDOWN replica unavailable") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted replica answered {answer:?} instead of refusing"
        );
    }
}

/// One GET over a fresh RESP connection; the raw reply line.
async fn resp_get(addr: SocketAddr, key: &str) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to RESP");
    let command = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
    stream
        .write_all(command.as_bytes())
        .await
        .expect("send GET");
    let mut line = String::new();
    let mut reader = BufReader::new(stream);
    tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line))
        .await
        .expect("an answer within the RESP deadline")
        .expect("read the answer");
    line.trim_end().to_owned()
}

/// What an outside checker does with process pauses: four RESP clients on the three front
/// doors, the leader SIGSTOPped for 1.2 s (its clients time out and move to another front
/// door; the other two elect a new leader and go on), then SIGCONTed (it must learn it no
/// longer leads, and answer nothing stale). The whole history must be linearizable, and
/// commands must complete while the old leader is paused and after it resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_paused_leader_history_stays_linearizable() {
    let replicas = kv_cluster::start(3, true);
    let fronts: Vec<SocketAddr> = replicas
        .iter()
        .map(|r| r.resp.expect("started with --resp"))
        .collect();
    let history = Arc::new(Mutex::new(History::new()));
    let start = Instant::now();
    let pause = Duration::from_millis(1200);
    let (stop_at, cont_at) = (start + PHASE, start + PHASE + pause);
    let stop = cont_at + PHASE;
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..CLIENTS {
        let client = super::resp_history::client(
            id,
            fronts.clone(),
            history.clone(),
            start,
            stop,
            // Short, so that clients of the paused front door move on within the pause.
            Duration::from_millis(400),
        );
        tasks.spawn(client);
    }
    tokio::time::sleep_until(stop_at.into()).await;
    let leader = kv_cluster::leader(&replicas);
    replicas[leader].signal("STOP");
    let at_stop = completed_in(&history.lock().expect("lock"));
    tokio::time::sleep_until(cont_at.into()).await;
    replicas[leader].signal("CONT");
    let at_cont = completed_in(&history.lock().expect("lock"));
    let (completed, history) = kv_cluster::join_clients(tasks, history).await;
    let during = at_cont - at_stop;
    let after = completed_in(&history) - at_cont;
    assert!(
        during >= 10,
        "only {during} commands completed during the pause"
    );
    assert!(after >= 10, "only {after} commands completed after it");
    assert!(completed >= 30, "only {completed} commands completed");
    check_kv(&history, Budget::default()).assert_linearizable();
}

/// How many of `history`'s operations have completed.
fn completed_in(history: &History) -> usize {
    history
        .iter()
        .filter(|(_, op)| op.output().is_some())
        .count()
}
