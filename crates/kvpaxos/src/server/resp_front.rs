//! The Redis-protocol front door of a replica: stock `redis-cli`, `redis-benchmark` and client
//! libraries (redis-py, the Rust `redis` crate) talk to the replicated store, in RESP2 or, after
//! `HELLO 3`, RESP3.
//!
//! The shell is one for every replicated store: what runs a connection's store commands is a
//! [`Backend`]. For kvpaxos ([`LocalReplica`]) each connection is a client of the local
//! replica with one session of its own, and store commands (GET, SET, DEL, INCR, EXPIRE,
//! SCAN, ...; crate `keyspace`) go through the log, so whichever replica a client reaches, it
//! sees the same linearizable store. For shardkv the backend routes each command to the group
//! that owns its key. What clients send
//! about the connection itself (`HELLO`, `CLIENT ...`, `RESET`) is answered by the
//! connection's [`ClientState`]; PING, ECHO, SELECT, QUIT, the `CONFIG GET`/`COMMAND` probes,
//! unknown commands and wrong arity locally ([`Command::local_reply`]), and the connection
//! stays open (but for QUIT). `INFO [section ...]` reports the server, its clients, the
//! replica's role, who leads and how far it has applied, and its keys (read from the core, not
//! through the log: it describes this replica, not the store). A malformed stream gets Redis's
//! `-ERR Protocol error` line after the replies already owed, and closes that connection only.
//!
//! # Order and pipelining
//! A connection's commands take effect in the order it sent them, pipelined or not, as Redis
//! guarantees. The connection has at most one request in the log at a time: every command that
//! arrives while one is in flight joins the next [`keyspace::Batch`] (up to
//! [`BATCH_COMMANDS_MAX`] commands or [`BATCH_BYTES_MAX`] bytes), which goes as one log entry
//! when the first is answered. A pipeline of 16 commands therefore costs about two log entries,
//! not 16. Replies go out in command order.
//!
//! A batch that times out leaves its session in place (the backend's to keep): for kvpaxos its
//! number is spent, so if it is applied later it is applied before any later batch of the
//! connection or not at all (`rsm` runs a session's commands only in increasing order), and
//! order still holds.
//!
//! # Transactions
//! `MULTI` starts queueing (each command answers `+QUEUED`), `EXEC` sends the queue as one
//! [`keyspace::Cmd::Exec`]: applied at once, in order, inside one log entry. A command refused
//! while queueing (wrong arity, a bad option, unknown) makes EXEC answer `-EXECABORT` and
//! nothing of it runs, as in Redis. `WATCH key ...` reads the keys' versions through the log
//! (the connection reads nothing more until that answer is back) and EXEC carries them: if any
//! changed, nothing runs and EXEC answers nil. EXEC, DISCARD, UNWATCH and RESET forget the
//! watched keys.
//!
//! # Errors a client can act on
//! Error codes say whether a command ran: `-TRYAGAIN` (did not run: the replica is busy, or the
//! connection's session was evicted; retry), `-CLUSTERDOWN` (did not run: this replica cannot
//! serve, for example while it rejoins after losing its disk; try another), `-TIMEOUT` (may
//! have run: no answer in time, or the replica stopped before answering). Everything else is
//! Redis's own (`-ERR`, `-EXECABORT`, `-WRONGPASS`, ...).
//!
//! Time: each batch is stamped with this machine's clock; the store's clock is the largest
//! stamp in the log (crate `keyspace`, docs/DESIGN.md "Expiry").

// The shell reads the wall clock to stamp batches; the store itself never does.
#![allow(clippy::disallowed_methods)]

mod local;

pub use local::LocalReplica;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, SinkExt, StreamExt};
use keyspace::{Batch, Cmd, Value};
use resp::{ClientState, Command, Protocol, Reply, RespCodec, info_wants};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::codec::{FramedRead, FramedWrite};

/// RESP connections open at once. Why 1024: redis-benchmark's usual 50–200 clients with room
/// to spare, far below a process's descriptor limit. Past it a new connection is told
/// `-ERR max number of clients reached` (Redis's words) and closed.
pub const RESP_CONNECTIONS_MAX: usize = 1024;

/// The most commands in one batch (one log entry) of a connection. Why 512: far past
/// redis-benchmark's `-P 16`, and each command's answer is held until the batch is answered.
pub const BATCH_COMMANDS_MAX: usize = 512;

/// The most bytes of keys and values in one batch, unless a single command is larger (it then
/// goes alone). Why 1 MiB: well inside a log entry's budget (`rsm::Config::batch_bytes_max`),
/// and enough that a pipeline of small commands is never cut by it.
pub const BATCH_BYTES_MAX: usize = 1 << 20;

/// Replies one connection may owe before it stops reading (commands answered locally, such as
/// a long pipeline of PINGs, while a batch is in flight). TCP backpressure does the rest.
pub const OWED_REPLIES_MAX: usize = 4096;

/// How long an operation may wait for the log before the client is told
/// `-TIMEOUT ... (the command may still happen)`.
pub const OP_DEADLINE: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (out of descriptors, say) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a batch's future yields: the answers, or the one error every command of it gets; and
/// the session to keep.
pub type Answered<S> = (Result<Vec<Value>, Reply>, S);

/// What runs a connection's store commands: the local replica's log (kvpaxos's
/// [`LocalReplica`]) or the groups of a sharded cluster (shardkv). Cheap to clone: every
/// connection holds one.
pub trait Backend: Clone + Send + Sync + 'static {
    /// What a connection keeps from one batch to the next (its sessions in the log).
    type Session: Default + Send + 'static;

    /// Runs `batch` after every earlier batch of the connection and answers one value per
    /// command, in order (a command that was refused answers [`Value::Error`]), or one reply
    /// for the whole batch (it did not run, or may have: see the module docs). Gives the
    /// session back for the next batch.
    fn run(
        &self,
        session: Self::Session,
        batch: Batch,
        deadline: Duration,
    ) -> BoxFuture<'static, Answered<Self::Session>>;

    /// `INFO`'s sections about the store, those wanted: `# Replication` (this replica's role)
    /// and `# Keyspace`, in Redis's layout.
    fn info(&self, replication: bool, keyspace: bool) -> BoxFuture<'static, Result<String, Reply>>;
}

/// Accepts RESP connections on `listener` until the task is aborted; aborting it also ends
/// every connection (they live in its `JoinSet`).
pub async fn serve<B: Backend>(listener: TcpListener, backend: B) {
    serve_with_deadline(listener, backend, OP_DEADLINE).await;
}

/// [`serve`] with another per-operation deadline than [`OP_DEADLINE`] (tests).
pub async fn serve_with_deadline<B: Backend>(
    listener: TcpListener,
    backend: B,
    deadline: Duration,
) {
    let slots = Arc::new(Semaphore::new(RESP_CONNECTIONS_MAX));
    let server = Arc::new(ServerFacts {
        started: tokio::time::Instant::now(),
        port: listener.local_addr().map_or(0, |a| a.port()),
        slots: slots.clone(),
    });
    // Connection ids start at 1 and are never reused within the process, as in Redis.
    let next_id = AtomicU64::new(1);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let mut socket = match accepted {
            Ok((socket, _)) => socket,
            Err(err) => {
                tracing::warn!(%err, "RESP accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!("too many RESP connections; refusing one");
            connections.spawn(async move {
                let _ = socket
                    .write_all(b"-ERR max number of clients reached\r\n")
                    .await;
            });
            continue;
        };
        let _ = socket.set_nodelay(true);
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Connection::new(backend.clone(), deadline, id, server.clone());
        connections.spawn(connection.run(socket, permit));
    }
}

/// What INFO reports about the front door as a whole.
struct ServerFacts {
    started: tokio::time::Instant,
    port: u16,
    /// Connection slots; those taken are the connected clients.
    slots: Arc<Semaphore>,
}

/// A reply the connection owes, in command order.
enum Owed {
    /// Known now; with the protocol to encode it and later replies in, if it changed.
    Ready(Reply, Option<Protocol>),
    /// The answer of the batch's next store command.
    Store,
    /// The answer of a WATCH's [`Cmd::Versions`]: the versions are kept, the client gets OK.
    Watch(Vec<Bytes>),
    /// INFO, answered from the core when its turn comes.
    Info(Vec<Bytes>),
}

/// The commands of one batch and the replies they owe.
#[derive(Default)]
struct Pending {
    owed: Vec<Owed>,
    cmds: Vec<Cmd>,
    bytes: usize,
    /// Set by WATCH: nothing more joins this batch, and nothing is read until it is answered,
    /// so an EXEC always carries the versions of every WATCH before it.
    closed: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.owed.is_empty()
    }

    fn has_room(&self) -> bool {
        !self.closed
            && self.cmds.len() < BATCH_COMMANDS_MAX
            && self.bytes < BATCH_BYTES_MAX
            && self.owed.len() < OWED_REPLIES_MAX
    }

    fn push_store(&mut self, cmd: Cmd, owed: Owed) {
        self.bytes += cmd.payload_bytes();
        self.cmds.push(cmd);
        self.owed.push(owed);
    }

    fn ready(&mut self, reply: Reply) {
        self.owed.push(Owed::Ready(reply, None));
    }
}

/// A MULTI being queued.
#[derive(Default)]
struct Transaction {
    cmds: Vec<Cmd>,
    /// A queued command was refused: EXEC answers EXECABORT.
    refused: bool,
}

/// One RESP connection.
struct Connection<B: Backend> {
    backend: B,
    deadline: Duration,
    /// The connection's id, name, library and protocol, as of the last command admitted.
    state: ClientState,
    connected: tokio::time::Instant,
    server: Arc<ServerFacts>,
    /// The connection's sessions, kept by the backend; `None` while a batch is in flight.
    session: Option<B::Session>,
    /// The transaction being queued, after MULTI.
    multi: Option<Transaction>,
    /// The keys WATCH read, with their versions.
    watched: Vec<(Bytes, u64)>,
}

impl<B: Backend> Connection<B> {
    fn new(backend: B, deadline: Duration, id: u64, server: Arc<ServerFacts>) -> Self {
        Connection {
            backend,
            deadline,
            state: ClientState::new(id),
            connected: tokio::time::Instant::now(),
            server,
            session: Some(B::Session::default()),
            multi: None,
            watched: Vec::new(),
        }
    }

    async fn run(mut self, socket: TcpStream, _permit: OwnedSemaphorePermit) {
        let (read, write) = socket.into_split();
        let mut reader = FramedRead::new(read, RespCodec::new());
        let mut writer = FramedWrite::new(write, RespCodec::new());
        // The batch being filled, and the one in the log with the replies it owes.
        let mut next = Pending::default();
        let mut in_flight: Option<(Pending, BoxFuture<'static, Answered<B::Session>>)> = None;
        // Set once the client has sent all it will: EOF, QUIT, or a protocol error to report
        // after everything else.
        let mut finished: Option<Option<Reply>> = None;
        loop {
            if in_flight.is_none() && !next.is_empty() {
                // Commands already received join this batch before it goes.
                while finished.is_none() && next.has_room() {
                    match reader.next().now_or_never() {
                        Some(Some(Ok(command))) => finished = self.admit(command, &mut next),
                        Some(Some(Err(err))) => finished = Some(Some(protocol_error(&err))),
                        Some(None) => finished = Some(None),
                        None => break,
                    }
                }
                let batch = std::mem::take(&mut next);
                if batch.cmds.is_empty() {
                    if self
                        .write(&mut writer, batch, Ok(Vec::new()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                } else {
                    let future = self.submit(batch.cmds.clone());
                    in_flight = Some((batch, future));
                }
                continue;
            }
            if finished.is_some() && in_flight.is_none() && next.is_empty() {
                break;
            }
            let can_read = finished.is_none()
                && next.has_room()
                && !in_flight.as_ref().is_some_and(|(batch, _)| batch.closed);
            tokio::select! {
                biased;
                answered = async { in_flight.as_mut().expect("guarded").1.as_mut().await },
                    if in_flight.is_some() =>
                {
                    let (batch, _) = in_flight.take().expect("guarded");
                    let (answers, session) = answered;
                    self.session = Some(session);
                    if self.write(&mut writer, batch, answers).await.is_err() {
                        return;
                    }
                }
                command = reader.next(), if can_read => match command {
                    Some(Ok(command)) => finished = self.admit(command, &mut next),
                    Some(Err(err)) => finished = Some(Some(protocol_error(&err))),
                    None => finished = Some(None),
                },
            }
        }
        if let Some(Some(reply)) = finished {
            let _ = SinkExt::<Reply>::send(&mut writer, reply).await;
        }
    }

    /// Takes `command` into the batch being filled. `Some` once nothing more is to be read:
    /// after QUIT (`Some(None)`).
    fn admit(&mut self, command: Command, next: &mut Pending) -> Option<Option<Reply>> {
        if command == Command::Quit {
            // Also inside MULTI: the queued commands are dropped with the connection.
            next.ready(Reply::ok());
            return Some(None);
        }
        if self.multi.is_some() {
            self.queue(command, next);
            return None;
        }
        match command {
            Command::Store(cmd) => next.push_store(cmd, Owed::Store),
            Command::Multi => {
                self.multi = Some(Transaction::default());
                next.ready(Reply::ok());
            }
            Command::Exec => next.ready(Reply::error("ERR EXEC without MULTI")),
            Command::Discard => next.ready(Reply::error("ERR DISCARD without MULTI")),
            Command::Watch { keys } => {
                next.push_store(Cmd::Versions { keys: keys.clone() }, Owed::Watch(keys));
                next.closed = true;
            }
            Command::Unwatch => {
                self.watched.clear();
                next.ready(Reply::ok());
            }
            Command::Info { sections } => next.owed.push(Owed::Info(sections)),
            command => {
                let before = self.state.protocol();
                let age_secs = self.connected.elapsed().as_secs();
                if command == Command::Reset {
                    self.watched.clear();
                }
                let reply = self
                    .state
                    .answer(&command, age_secs)
                    .or_else(|| command.local_reply())
                    .unwrap_or_else(|| Reply::error("ERR unsupported command"));
                let after = self.state.protocol();
                next.owed
                    .push(Owed::Ready(reply, (after != before).then_some(after)));
            }
        }
        None
    }

    /// A command between MULTI and EXEC: queued, or ending the transaction.
    fn queue(&mut self, command: Command, next: &mut Pending) {
        let multi = self.multi.as_mut().expect("called inside MULTI");
        match command {
            Command::Store(cmd) => {
                multi.cmds.push(cmd);
                next.ready(Reply::Simple("QUEUED".to_owned()));
            }
            Command::Exec => {
                let multi = self.multi.take().expect("inside MULTI");
                let watched = std::mem::take(&mut self.watched);
                if multi.refused {
                    next.ready(Reply::error(
                        "EXECABORT Transaction discarded because of previous errors.",
                    ));
                } else {
                    let exec = Cmd::Exec {
                        watched,
                        cmds: multi.cmds,
                    };
                    next.push_store(exec, Owed::Store);
                }
            }
            Command::Discard | Command::Reset => {
                self.multi = None;
                self.watched.clear();
                let reply = if command == Command::Reset {
                    self.state.answer(&command, 0)
                } else {
                    None
                };
                next.ready(reply.unwrap_or_else(Reply::ok));
            }
            Command::Multi => next.ready(Reply::error("ERR MULTI calls can not be nested")),
            Command::Watch { .. } => {
                next.ready(Reply::error("ERR WATCH inside MULTI is not allowed"));
            }
            other => {
                // Refused (bad arity, unknown, ...) or not a store command: Redis would queue
                // PING and friends; we refuse them, and the transaction with them, rather
                // than run them out of place.
                multi.refused = true;
                let reply = match other.local_reply() {
                    Some(Reply::Error(text)) => Reply::Error(text),
                    _ => Reply::error("ERR only store commands can be queued in MULTI here"),
                };
                next.ready(reply);
            }
        }
    }

    /// Hands `cmds` to the backend as the connection's next batch, stamped with this
    /// machine's clock (the store's clock is the largest stamp in its log).
    fn submit(&mut self, cmds: Vec<Cmd>) -> BoxFuture<'static, Answered<B::Session>> {
        let session = self
            .session
            .take()
            .expect("one batch in flight at a time, and the session is back before the next");
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.backend
            .run(session, Batch { now_ms, cmds }, self.deadline)
    }

    /// Writes the replies `batch` owes, in order, then flushes once.
    async fn write(
        &mut self,
        writer: &mut FramedWrite<OwnedWriteHalf, RespCodec>,
        batch: Pending,
        answers: Result<Vec<Value>, Reply>,
    ) -> Result<(), resp::RespError> {
        let (mut answers, failed) = match answers {
            Ok(values) => (values.into_iter(), None),
            Err(reply) => (Vec::new().into_iter(), Some(reply)),
        };
        let mut answer = || match &failed {
            Some(reply) => Err(reply.clone()),
            None => answers
                .next()
                .ok_or_else(|| Reply::error("ERR the store gave too few answers")),
        };
        for owed in batch.owed {
            let reply = match owed {
                Owed::Ready(reply, protocol) => {
                    if let Some(protocol) = protocol {
                        writer.encoder_mut().set_protocol(protocol);
                    }
                    reply
                }
                Owed::Store => answer().map_or_else(|e| e, Reply::from),
                Owed::Watch(keys) => match answer() {
                    Ok(Value::Array(versions)) if versions.len() == keys.len() => {
                        for (key, version) in keys.into_iter().zip(versions) {
                            let version = match version {
                                Value::Int(v) => u64::try_from(v).unwrap_or(u64::MAX),
                                _ => u64::MAX,
                            };
                            self.watched.push((key, version));
                        }
                        Reply::ok()
                    }
                    Ok(other) => Reply::error(format!("ERR WATCH got {other:?}")),
                    Err(reply) => reply,
                },
                Owed::Info(sections) => match info(&self.backend, &self.server, &sections).await {
                    Ok(text) => Reply::Bulk(Bytes::from(text)),
                    Err(reply) => reply,
                },
            };
            writer.feed(reply).await?;
        }
        SinkExt::<Reply>::flush(writer).await
    }
}

/// The `INFO` text for `sections`, in Redis's layout: a `# Name` header per section, then
/// `field:value` lines, sections apart by a blank line. The replication and keyspace fields
/// come from the backend (asked only if wanted); `role:leader|follower` is what scripts grep.
async fn info<B: Backend>(
    backend: &B,
    server: &ServerFacts,
    sections: &[Bytes],
) -> Result<String, Reply> {
    let mut parts = Vec::new();
    if info_wants(sections, "server") {
        parts.push(format!(
            "# Server\r\nredis_version:{}\r\ndsys_version:{}\r\nredis_mode:standalone\r\n\
             process_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n",
            resp::REDIS_VERSION,
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            server.port,
            server.started.elapsed().as_secs(),
        ));
    }
    if info_wants(sections, "clients") {
        let connected = RESP_CONNECTIONS_MAX - server.slots.available_permits();
        parts.push(format!(
            "# Clients\r\nconnected_clients:{connected}\r\nmaxclients:{RESP_CONNECTIONS_MAX}\r\n"
        ));
    }
    let replication = info_wants(sections, "replication");
    let keyspace = info_wants(sections, "keyspace");
    if replication || keyspace {
        parts.push(backend.info(replication, keyspace).await?);
    }
    Ok(parts.join("\r\n"))
}

fn protocol_error(err: &resp::RespError) -> Reply {
    tracing::debug!(%err, "RESP protocol error; closing the connection");
    err.to_reply()
}

#[cfg(test)]
mod tests;
