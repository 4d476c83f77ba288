//! The primary/backup service as real processes on 127.0.0.1 (SPEC §4, §12 "every system also
//! runs for real"): `dsys viewservice` and three `dsys pb serve`, a clerk writing all along,
//! the primary killed with SIGKILL, a server restarted empty on the same address; the client
//! history is checked for linearizability, so no acknowledged write may be lost.

#![allow(clippy::disallowed_methods)] // Real processes: the history's clock is the wall clock.

use check::{Budget, History, KvInput, KvOutput, check_kv};
use pbservice::{Op, TcpClerk};
use rpc::RpcClient;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use viewservice::{ViewReply, VsRequest};

/// Every wait of this test is for a real condition, bounded by this.
const WAIT_MAX: Duration = Duration::from_secs(20);
const OP_DEADLINE: Duration = Duration::from_secs(10);

/// A `dsys` process that serves on a port it prints at start. Killed (SIGKILL) when dropped.
struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dsys"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dsys");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("dsys {args:?} printed {line:?}"));
        Proc { child, addr }
    }

    fn server(vs: SocketAddr, listen: &str) -> Proc {
        let vs = vs.to_string();
        Proc::spawn(&["pb", "serve", "--viewservice", &vs, "--listen", listen])
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A clerk whose operations are recorded with wall-clock times since `start`.
struct Recorder {
    clerk: TcpClerk,
    id: u64,
    start: Instant,
}

impl Recorder {
    async fn op(&mut self, history: &mut History, op: Op) -> Option<String> {
        let input = match &op {
            Op::Get { key } => KvInput::get(key.clone()),
            Op::Put { key, value } => KvInput::put(key.clone(), value.clone()),
            Op::Append { key, value } => KvInput::append(key.clone(), value.clone()),
        };
        let is_get = matches!(op, Op::Get { .. });
        let call = self.start.elapsed().as_nanos() as u64;
        let id = history.invoke(self.id, input, call);
        // A timed-out operation stays pending in the history: it may or may not have run.
        let value = self.clerk.run(op, OP_DEADLINE).await.ok()?;
        let output = if is_get {
            KvOutput::value(value.clone())
        } else {
            KvOutput::Ok
        };
        history.complete(id, output, self.start.elapsed().as_nanos() as u64);
        Some(value)
    }
}

async fn view_of(vs: SocketAddr) -> Option<ViewReply> {
    let client: RpcClient<VsRequest, ViewReply> = RpcClient::new(vs);
    client
        .call(VsRequest::Get, Duration::from_secs(1))
        .await
        .ok()
}

/// Runs `writes` Puts and a Get per round through `rec`, failing if an op never completes.
async fn write_rounds(rec: &mut Recorder, history: &mut History, from: u64, to: u64) {
    for i in from..to {
        let key = format!("k{}", i % 4);
        let put = Op::Put {
            key: key.clone(),
            value: format!("v{i}"),
        };
        rec.op(history, put).await.unwrap_or_else(|| {
            panic!(
                "put {i} not acknowledged; view {:?}",
                rec.clerk.cached_view()
            )
        });
        rec.op(history, Op::Get { key })
            .await
            .expect("get answered");
    }
}

/// SPEC §4 for real: view service + 3 servers as processes; a clerk writes continuously; the
/// primary is SIGKILLed and the backup takes over; the killed server restarts empty on the
/// same address; the next primary is SIGKILLed and the restarted server rejoins as backup (by
/// state transfer); then that primary is SIGKILLed too, so the restarted server must serve
/// what it was transferred. Every acknowledged write must survive: the whole history is
/// checked for linearizability.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pb_primary_sigkill_backup_takes_over_and_restarted_server_rejoins() {
    let vs = Proc::spawn(&["viewservice", "--listen", "127.0.0.1:0"]);
    let mut servers = vec![Proc::server(vs.addr, "127.0.0.1:0")];
    let mut history = History::new();
    let mut rec = Recorder {
        clerk: TcpClerk::new(1, vs.addr),
        id: 1,
        start: Instant::now(),
    };
    write_rounds(&mut rec, &mut history, 0, 5).await;
    servers.push(Proc::server(vs.addr, "127.0.0.1:0"));
    servers.push(Proc::server(vs.addr, "127.0.0.1:0"));
    write_rounds(&mut rec, &mut history, 5, 20).await;

    // SIGKILL the primary once it acknowledged a view with a backup (a primary that dies
    // before acknowledging stops the service for good, SPEC §3.2); the backup takes over.
    let first = wait_for(vs.addr, |r| !r.backup_addr.is_empty() && r.acked).await;
    let victim = index_of(&servers, &first.primary_addr);
    let victim_addr = servers[victim].addr.to_string();
    servers[victim].kill();
    write_rounds(&mut rec, &mut history, 20, 30).await;
    let second = wait_for(vs.addr, |r| {
        r.primary_addr == first.backup_addr && !r.backup_addr.is_empty() && r.acked
    })
    .await;

    // Restart it, empty, on the same address (it is idle: the view has a backup), then kill
    // the primary: the restarted server must rejoin as backup.
    servers[victim] = Proc::server(vs.addr, &victim_addr);
    write_rounds(&mut rec, &mut history, 30, 40).await;
    let next = index_of(&servers, &second.primary_addr);
    servers[next].kill();
    write_rounds(&mut rec, &mut history, 40, 50).await;
    let third = wait_for(vs.addr, |r| r.backup_addr == victim_addr && r.acked).await;

    // Kill that primary too: the restarted server now serves what it was transferred.
    let last = index_of(&servers, &third.primary_addr);
    servers[last].kill();
    write_rounds(&mut rec, &mut history, 50, 60).await;
    wait_for(vs.addr, |r| r.primary_addr == victim_addr).await;
    for k in 0..4 {
        let got = rec
            .op(
                &mut history,
                Op::Get {
                    key: format!("k{k}"),
                },
            )
            .await
            .expect("final get");
        assert_eq!(got, format!("v{}", 56 + k), "key k{k}");
    }
    check_kv(&history, Budget::default()).assert_linearizable();
}

fn index_of(servers: &[Proc], addr: &str) -> usize {
    servers
        .iter()
        .position(|s| s.addr.to_string() == addr)
        .unwrap_or_else(|| panic!("no server at {addr}"))
}

/// Asks the view service until its view satisfies `cond` (bounded by [`WAIT_MAX`]).
async fn wait_for(vs: SocketAddr, cond: impl Fn(&ViewReply) -> bool) -> ViewReply {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        if let Some(reply) = view_of(vs).await
            && cond(&reply)
        {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "view condition not met in {WAIT_MAX:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
