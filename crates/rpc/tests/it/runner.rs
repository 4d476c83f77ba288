//! `ClientRunner` drives a client core over TCP: requests out, answers and ticks in.

use crate::common::{Req, Resp, TICK, Toy, bounded, config};
use rpc::{Client, ClientEffect, ClientOutbox, ClientRunner, NodeId, RpcError, spawn_node};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// Ticks a [`Failover`] client waits for an answer before trying the next server.
const RETRY_TICKS: u64 = 3;

/// A toy clerk: sends an echo to its current server and moves to the next one after
/// [`RETRY_TICKS`] ticks without an answer.
#[derive(Debug, Default)]
struct Failover {
    servers: u32,
    current: u32,
    waited: u64,
    text: Option<String>,
    /// Every server tried, in order.
    tried: Vec<NodeId>,
}

impl Failover {
    fn send(&mut self, out: &mut ClientOutbox<Self>) {
        let to = NodeId(self.current);
        self.tried.push(to);
        self.waited = 0;
        let text = self.text.clone().expect("an operation is running");
        out.push(ClientEffect::Request {
            to,
            req: Req::Echo(text),
        });
    }
}

impl Client for Failover {
    type Op = String;
    type Output = (NodeId, String);
    type Req = Req;
    type Resp = Resp;

    fn invoke(&mut self, op: String, out: &mut ClientOutbox<Self>) {
        self.text = Some(op);
        self.send(out);
    }

    fn on_response(&mut self, _from: NodeId, resp: Resp, out: &mut ClientOutbox<Self>) {
        if let Resp::Echo { from, text } = resp
            && self.text.as_ref() == Some(&text)
        {
            self.text = None;
            out.push(ClientEffect::Complete((from, text)));
        }
    }

    fn on_tick(&mut self, out: &mut ClientOutbox<Self>) {
        if self.text.is_none() {
            return;
        }
        self.waited += 1;
        if self.waited >= RETRY_TICKS {
            self.current = (self.current + 1) % self.servers;
            self.send(out);
        }
    }
}

/// A server that accepts connections (the kernel does, into the backlog) but never answers.
async fn silent_server() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound");
    (listener, addr)
}

/// Goal: the runner routes requests, ticks the core, and feeds answers back, so a clerk's retry
/// on another server (decided in ticks by the core) works over TCP.
/// Method: server 0 never answers, server 1 is a toy node. The clerk must time out on 0 after
/// three ticks, retry on 1, and complete with 1's answer; a second operation reuses the runner.
#[tokio::test]
async fn runner_retries_on_another_server_after_a_timeout() {
    crate::common::init_tracing();
    let (_silent, silent_addr) = silent_server().await;
    let (mut listeners, addrs) = crate::common::bind(1).await;
    let servers = [silent_addr, addrs[0]];
    let _node = spawn_node(
        Toy::new(NodeId(1), 2),
        config(1, listeners.remove(0), &servers, None),
    );
    let core = Failover {
        servers: 2,
        ..Failover::default()
    };
    let mut runner = ClientRunner::new(core, &servers, TICK);
    let (from, text) = bounded(runner.run("hello".to_string())).await;
    assert_eq!(
        (from, text.as_str()),
        (NodeId(1), "hello"),
        "answered by server 1"
    );
    assert_eq!(
        runner.core().tried,
        [NodeId(0), NodeId(1)],
        "tried the silent server first"
    );

    let (_, text) = bounded(runner.run("again".to_string())).await;
    assert_eq!(text, "again");
}

/// Goal: the bounded variant gives up with `Timeout` when no server ever answers.
/// Method: both servers are silent; a 200 ms deadline must expire (well inside the test bound).
#[tokio::test]
async fn run_with_deadline_gives_up_when_nobody_answers() {
    let (_a, addr_a) = silent_server().await;
    let (_b, addr_b) = silent_server().await;
    let core = Failover {
        servers: 2,
        ..Failover::default()
    };
    let mut runner = ClientRunner::new(core, &[addr_a, addr_b], TICK)
        .with_request_timeout(Duration::from_millis(100));
    let result =
        bounded(runner.run_with_deadline("lost".to_string(), Duration::from_millis(200))).await;
    assert!(matches!(result, Err(RpcError::Timeout)), "{result:?}");
    assert!(
        runner.core().tried.len() >= 2,
        "kept retrying: {:?}",
        runner.core().tried
    );
}

/// Goal: a fail-fast runner reports "connection refused" as soon as every server refused,
/// instead of waiting out its deadline; one that is not fail-fast keeps trying until then.
/// Method: two ports nobody listens on (bound, then closed); a 60 s deadline, far past the
/// test's bound, so only the fail-fast path can end the first run in time.
#[tokio::test]
async fn fail_fast_runner_reports_refused_servers_at_once() {
    let closed = |(listener, addr): (TcpListener, SocketAddr)| {
        drop(listener);
        addr
    };
    let addrs = [closed(silent_server().await), closed(silent_server().await)];
    let core = Failover {
        servers: 2,
        ..Failover::default()
    };
    let mut runner = ClientRunner::new(core, &addrs, TICK).fail_fast();
    let result =
        bounded(runner.run_with_deadline("nobody".to_string(), Duration::from_secs(60))).await;
    match result {
        Err(RpcError::Unreachable { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("expected connection refused, got {other:?}"),
    }

    let core = Failover {
        servers: 2,
        ..Failover::default()
    };
    let mut patient = ClientRunner::new(core, &addrs, TICK);
    let result =
        bounded(patient.run_with_deadline("nobody".to_string(), Duration::from_millis(200))).await;
    assert!(matches!(result, Err(RpcError::Timeout)), "{result:?}");
}
