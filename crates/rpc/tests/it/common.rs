//! The toy core, cluster helpers and bounds shared by the tests.

use bytes::Bytes;
use rpc::{
    DiskImage, Node, NodeConfig, NodeHandle, NodeId, NodeOutbox, ReqId, RpcError, spawn_node,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;

/// The tick of every test node: short, so tick-driven behaviour shows up quickly.
pub const TICK: Duration = Duration::from_millis(10);

/// The timeout of one attempt in tests that retry until a condition holds.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(300);

/// The timeout of a single call that must succeed: generous, because a loaded CI machine may
/// be slow, and a correct run never waits for it.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The failure guard around a whole test scenario.
pub const SCENARIO_BOUND: Duration = Duration::from_secs(10);

/// Peer messages of the toy protocol: a ping and its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Ping { seq: u64 },
    Pong { seq: u64 },
}

/// Client requests of the toy protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Req {
    /// Answered at once with the same text.
    Echo(String),
    /// Pings every peer; answered once a majority (counting this node) has ponged.
    Quorum,
    /// Answered once the node has seen at least these counts.
    WaitFor { ticks: u64, pings: u64, pongs: u64 },
    /// Never answered.
    Ignore,
    /// Written to a file and synced, then answered.
    Store { file: String, bytes: Vec<u8> },
    /// Each record framed and appended to a file (one `Append` per record), one sync, answered.
    Log { file: String, records: Vec<Vec<u8>> },
    /// The file truncated to `len` bytes and synced, then answered.
    Cut { file: String, len: u64 },
}

/// Answers of the toy protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resp {
    Echo { from: NodeId, text: String },
    Quorum { votes: usize },
    Counts { ticks: u64, pings: u64, pongs: u64 },
    Stored,
}

/// A toy core that exercises every effect: replies, peer sends and responds, ticks, files.
#[derive(Debug)]
pub struct Toy {
    pub me: NodeId,
    pub cluster_size: usize,
    pub ticks: u64,
    pub pings: u64,
    pub pongs: u64,
    pub ignored: u64,
    /// Quorum requests waiting for pongs: seq -> (request, voters).
    quorums: BTreeMap<u64, (ReqId, BTreeSet<NodeId>)>,
    next_seq: u64,
    waiters: Vec<(ReqId, [u64; 3])>,
    /// The files this node was rebuilt from.
    pub restored: DiskImage,
}

impl Toy {
    pub fn new(me: NodeId, cluster_size: usize) -> Self {
        Self::from_image(me, cluster_size, DiskImage::new())
    }

    pub fn from_image(me: NodeId, cluster_size: usize, restored: DiskImage) -> Self {
        Toy {
            me,
            cluster_size,
            ticks: 0,
            pings: 0,
            pongs: 0,
            ignored: 0,
            quorums: BTreeMap::new(),
            next_seq: 0,
            waiters: Vec::new(),
            restored,
        }
    }

    fn counts(&self) -> [u64; 3] {
        [self.ticks, self.pings, self.pongs]
    }

    /// Answers every waiter whose condition now holds.
    fn wake(&mut self, out: &mut NodeOutbox<Self>) {
        let now = self.counts();
        self.waiters.retain(|(req, want)| {
            let ready = want.iter().zip(now).all(|(w, n)| n >= *w);
            if ready {
                out.reply(
                    *req,
                    Resp::Counts {
                        ticks: now[0],
                        pings: now[1],
                        pongs: now[2],
                    },
                );
            }
            !ready
        });
    }
}

impl Node for Toy {
    type Msg = Msg;
    type Req = Req;
    type Resp = Resp;

    fn on_message(&mut self, from: NodeId, msg: Msg, out: &mut NodeOutbox<Self>) {
        match msg {
            Msg::Ping { seq } => {
                self.pings += 1;
                out.respond(from, Msg::Pong { seq });
            }
            Msg::Pong { seq } => {
                self.pongs += 1;
                let majority = self.cluster_size / 2 + 1;
                if let Some((req, voters)) = self.quorums.get_mut(&seq) {
                    voters.insert(from);
                    if voters.len() >= majority {
                        out.reply(
                            *req,
                            Resp::Quorum {
                                votes: voters.len(),
                            },
                        );
                        self.quorums.remove(&seq);
                    }
                }
            }
        }
        self.wake(out);
    }

    fn on_request(&mut self, req: ReqId, body: Req, out: &mut NodeOutbox<Self>) {
        match body {
            Req::Echo(text) => out.reply(
                req,
                Resp::Echo {
                    from: self.me,
                    text,
                },
            ),
            Req::Quorum => {
                self.next_seq += 1;
                let seq = self.next_seq;
                self.quorums.insert(seq, (req, BTreeSet::from([self.me])));
                for peer in (0..self.cluster_size as u32)
                    .map(NodeId)
                    .filter(|p| *p != self.me)
                {
                    out.send(peer, Msg::Ping { seq });
                }
            }
            Req::WaitFor {
                ticks,
                pings,
                pongs,
            } => {
                self.waiters.push((req, [ticks, pings, pongs]));
                self.wake(out);
            }
            Req::Ignore => self.ignored += 1,
            Req::Store { file, bytes } => {
                out.write(file, Bytes::from(bytes));
                out.sync();
                out.reply(req, Resp::Stored);
            }
            Req::Log { file, records } => {
                for record in records {
                    out.append(file.clone(), rpc::record::encode_record(&record));
                }
                out.sync();
                out.reply(req, Resp::Stored);
            }
            Req::Cut { file, len } => {
                out.truncate(file, len);
                out.sync();
                out.reply(req, Resp::Stored);
            }
        }
    }

    fn on_tick(&mut self, out: &mut NodeOutbox<Self>) {
        self.ticks += 1;
        self.wake(out);
    }
}

/// Installs a test log writer once (RUST_LOG selects the level; silent by default).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
}

/// Binds `n` listeners on ephemeral loopback ports.
pub async fn bind(n: usize) -> (Vec<TcpListener>, Vec<SocketAddr>) {
    rpc::bind_loopback(n).await.expect("bind loopback")
}

/// The configuration of toy node `id` in a cluster at `peers`.
pub fn config(
    id: u32,
    listener: TcpListener,
    peers: &[SocketAddr],
    data_dir: Option<PathBuf>,
) -> NodeConfig {
    NodeConfig {
        id: NodeId(id),
        listener,
        peers: peers.to_vec(),
        tick: TICK,
        data_dir,
    }
}

/// Starts `n` toy nodes on loopback.
pub async fn cluster(n: usize) -> (Vec<NodeHandle<Toy>>, Vec<SocketAddr>) {
    init_tracing();
    let (listeners, addrs) = bind(n).await;
    let nodes = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            spawn_node(
                Toy::new(NodeId(i as u32), n),
                config(i as u32, listener, &addrs, None),
            )
        })
        .collect();
    (nodes, addrs)
}

/// Runs `scenario`, failing the test if it takes longer than [`SCENARIO_BOUND`].
pub async fn bounded<T>(scenario: impl Future<Output = T>) -> T {
    tokio::time::timeout(SCENARIO_BOUND, scenario)
        .await
        .expect("scenario exceeded its time bound")
}

/// Retries `attempt` until it succeeds. Each attempt waits on its own (a call timeout), so this
/// awaits the condition rather than sleeping; wrap it in [`bounded`].
pub async fn until_ok<T, F, Fut>(mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RpcError>>,
{
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(_) => tokio::task::yield_now().await,
        }
    }
}

/// A fresh scratch directory for one test (no tempfile crate in the workspace).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dsys-rpc-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
