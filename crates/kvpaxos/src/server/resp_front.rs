//! The Redis-protocol front door of a replica: stock `redis-cli`, `redis-benchmark` and client
//! libraries (redis-py, the Rust `redis` crate) talk to the replicated store, in RESP2 or, after
//! `HELLO 3`, RESP3.
//!
//! Each connection is a client of the local replica. GET, SET and APPEND become [`Request`](crate::Request)s
//! through the log (so whichever replica a client reaches, it sees the same linearizable
//! store). What clients send about the connection itself (`HELLO`, `CLIENT SETNAME/GETNAME/
//! ID/SETINFO/INFO`, `RESET`) is answered by the connection's [`ClientState`]; PING, ECHO,
//! SELECT, QUIT, the `CONFIG GET`/`COMMAND` probes, unknown commands and wrong arity locally
//! ([`Command::local_reply`]), and the connection stays open (but for QUIT). `INFO [section
//! ...]` reports the server, its clients, the replica's role, who leads and how far it has
//! applied, and its keys (read from the core, not through the log: it describes this
//! replica, not the store). A malformed
//! stream gets Redis's `-ERR Protocol error` line after the replies already owed, and closes
//! that connection only.
//!
//! Pipelining: replies go out in command order. Up to [`PIPELINE_DEPTH_MAX`] commands of one
//! connection are in flight at once, each in a session of its own (a session has one
//! operation at a time, as `rsm`'s at-most-once table requires). Sessions are opened through
//! the log when first needed and reused for the connection's life. They were all sent before any
//! was answered, so any order among them is linearizable; to keep Redis's per-connection
//! guarantee that a connection sees its own writes, a command on a key that an earlier
//! command of the same connection still has in flight waits until everything before it is
//! answered.
//!
//! What differs from Redis, by the store's nature: values are UTF-8 text (the store holds
//! strings), and a missing key reads as the empty string (GET answers `""`, never nil).
//! APPEND answers the value's length right after this append, as Redis does: the store
//! computes it when it applies the append, in log order.

use super::{SubmitError, Submitter};
use crate::msg::{KvError, Op};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, SinkExt, StreamExt};
use resp::{ClientState, Command, Protocol, Reply, RespCodec, info_wants};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::codec::{FramedRead, FramedWrite};

/// RESP connections open at once. Why 1024: redis-benchmark's usual 50–200 clients with room
/// to spare, far below a process's descriptor limit. Past it a new connection is told
/// `-ERR max number of clients reached` (Redis's words) and closed.
pub const RESP_CONNECTIONS_MAX: usize = 1024;

/// Commands of one connection in flight at once. Why 16: redis-benchmark's `-P 16`; deeper
/// pipelines still work, the rest waits in the socket buffer (TCP backpressure).
pub const PIPELINE_DEPTH_MAX: usize = 16;

/// How long an operation may wait for the log before the client is told
/// `-ERR timeout (the operation may still happen)`.
pub const OP_DEADLINE: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (out of descriptors, say) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts RESP connections on `listener` until the task is aborted; aborting it also ends
/// every connection (they live in its `JoinSet`).
pub async fn serve(listener: TcpListener, submitter: Submitter) {
    serve_with_deadline(listener, submitter, OP_DEADLINE).await;
}

/// [`serve`] with another per-operation deadline than [`OP_DEADLINE`] (tests).
pub async fn serve_with_deadline(listener: TcpListener, submitter: Submitter, deadline: Duration) {
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
        let connection = Connection::new(submitter.clone(), deadline, id, server.clone());
        connections.spawn(connection.run(socket, permit));
    }
}

/// A session of the connection (once opened) with its last operation number: one operation
/// at a time.
#[derive(Default)]
struct SubClient {
    session: Option<u64>,
    seq: u64,
}

/// What one command's future yields: its reply, the key it held, the session to reuse, and
/// the protocol to encode this reply and the later ones in, if the command changed it.
type Answered = (Reply, Option<Bytes>, Option<SubClient>, Option<Protocol>);

/// What INFO reports about the front door as a whole.
struct ServerFacts {
    started: tokio::time::Instant,
    port: u16,
    /// Connection slots; those taken are the connected clients.
    slots: Arc<Semaphore>,
}

/// One RESP connection.
struct Connection {
    submitter: Submitter,
    deadline: Duration,
    /// The connection's id, name, library and protocol, as of the last command admitted.
    state: ClientState,
    connected: tokio::time::Instant,
    server: Arc<ServerFacts>,
    /// Sessions free for the next command.
    free: Vec<SubClient>,
    /// Commands in flight, answered in order.
    in_flight: FuturesOrdered<BoxFuture<'static, Answered>>,
    /// Keys of the commands in flight, with how many hold each.
    keys: HashMap<Bytes, usize>,
}

impl Connection {
    fn new(submitter: Submitter, deadline: Duration, id: u64, server: Arc<ServerFacts>) -> Self {
        Connection {
            submitter,
            deadline,
            state: ClientState::new(id),
            connected: tokio::time::Instant::now(),
            server,
            free: Vec::new(),
            in_flight: FuturesOrdered::new(),
            keys: HashMap::new(),
        }
    }

    async fn run(mut self, socket: TcpStream, _permit: OwnedSemaphorePermit) {
        let (read, write) = socket.into_split();
        let mut reader = FramedRead::new(read, RespCodec::new());
        let mut writer = FramedWrite::new(write, RespCodec::new());
        // A command read but not admitted yet (its key is in flight).
        let mut held: Option<Command> = None;
        // Set once the client has sent all it will: EOF, or a protocol error to report last.
        let mut finished: Option<Option<Reply>> = None;
        loop {
            if let Some(command) = held.take() {
                if self.conflicts(&command) {
                    held = Some(command);
                } else if self.admit(command) {
                    // QUIT: answer what came before it and its `+OK`, read no further.
                    finished = Some(None);
                }
            }
            if finished.is_some() && held.is_none() && self.in_flight.is_empty() {
                break;
            }
            let can_read =
                finished.is_none() && held.is_none() && self.in_flight.len() < PIPELINE_DEPTH_MAX;
            tokio::select! {
                biased;
                next = reader.next(), if can_read => match next {
                    Some(Ok(command)) => held = Some(command),
                    Some(Err(err)) => {
                        tracing::debug!(%err, "RESP protocol error; closing the connection");
                        finished = Some(Some(err.to_reply()));
                    }
                    None => finished = Some(None),
                },
                Some(answered) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    if self.write_ready(&mut writer, answered).await.is_err() {
                        return;
                    }
                }
            }
        }
        if let Some(Some(reply)) = finished {
            let _ = SinkExt::<Reply>::send(&mut writer, reply).await;
        }
    }

    /// Writes `first` and every further reply already available, then flushes once.
    async fn write_ready(
        &mut self,
        writer: &mut FramedWrite<tokio::net::tcp::OwnedWriteHalf, RespCodec>,
        first: Answered,
    ) -> Result<(), resp::RespError> {
        let mut next = Some(first);
        while let Some((reply, key, sub, protocol)) = next {
            self.release(key, sub);
            if let Some(protocol) = protocol {
                writer.encoder_mut().set_protocol(protocol);
            }
            writer.feed(reply).await?;
            next = self.in_flight.next().now_or_never().flatten();
        }
        SinkExt::<Reply>::flush(writer).await
    }

    fn release(&mut self, key: Option<Bytes>, sub: Option<SubClient>) {
        if let Some(key) = key
            && let Some(count) = self.keys.get_mut(&key)
        {
            *count -= 1;
            if *count == 0 {
                self.keys.remove(&key);
            }
        }
        if let Some(sub) = sub {
            self.free.push(sub);
        }
    }

    /// True if `command` touches a key an earlier command still has in flight.
    fn conflicts(&self, command: &Command) -> bool {
        key_of(command).is_some_and(|key| self.keys.contains_key(key))
    }

    /// Starts answering `command`; true if it was QUIT, after which nothing more is read.
    fn admit(&mut self, command: Command) -> bool {
        let before = self.state.protocol();
        let age_secs = self.connected.elapsed().as_secs();
        if let Some(reply) = self.state.answer(&command, age_secs) {
            let after = self.state.protocol();
            self.push_ready(reply, (after != before).then_some(after));
            return false;
        }
        if let Command::Info { sections } = command {
            let submitter = self.submitter.clone();
            let server = self.server.clone();
            self.in_flight.push_back(
                async move {
                    let reply = match info(&submitter, &server, &sections).await {
                        Ok(text) => Reply::Bulk(Bytes::from(text)),
                        Err(err) => error_reply(err),
                    };
                    (reply, None, None, None)
                }
                .boxed(),
            );
            return false;
        }
        if let Some(reply) = command.local_reply() {
            self.push_ready(reply, None);
            return command == Command::Quit;
        }
        let key = key_of(&command).cloned();
        let op = match to_op(command) {
            Ok(op) => op,
            Err(reply) => {
                self.push_ready(reply, None);
                return false;
            }
        };
        if let Some(key) = &key {
            *self.keys.entry(key.clone()).or_insert(0) += 1;
        }
        let sub = self.free.pop().unwrap_or_default();
        let submitter = self.submitter.clone();
        self.in_flight
            .push_back(execute(submitter, sub, op, key, self.deadline).boxed());
        false
    }

    /// Queues a reply that is already known, behind those still in flight.
    fn push_ready(&mut self, reply: Reply, protocol: Option<Protocol>) {
        self.in_flight
            .push_back(futures::future::ready((reply, None, None, protocol)).boxed());
    }
}

/// The `INFO` text for `sections`, in Redis's layout: a `# Name` header per section, then
/// `field:value` lines, sections apart by a blank line. The replication and keyspace fields
/// come from the core (asked only if wanted); `role:leader|follower` is what scripts grep.
async fn info(
    submitter: &Submitter,
    server: &ServerFacts,
    sections: &[Bytes],
) -> Result<String, SubmitError> {
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
        let status = submitter.status().await?;
        if replication {
            parts.push(status.replication_info());
        }
        if keyspace {
            parts.push(status.keyspace_info());
        }
    }
    Ok(parts.join("\r\n"))
}

/// Runs one store command and builds its reply. A session whose operation timed out is
/// retired (that operation may still run later, after a newer one in the same session).
async fn execute(
    submitter: Submitter,
    mut sub: SubClient,
    op: Op,
    key: Option<Bytes>,
    deadline: Duration,
) -> Answered {
    let kind = Kind::of(&op);
    let result = run(&submitter, &mut sub, op, deadline).await;
    let reply = match (kind, result) {
        (_, Err(err)) => return (error_reply(err), key, None, None),
        (_, Ok(Err(err))) => return (kv_error_reply(err), key, Some(sub), None),
        (Kind::Get, Ok(Ok(value))) => Reply::Bulk(Bytes::from(value)),
        (Kind::Set, Ok(Ok(_))) => Reply::ok(),
        // The store answers an Append with the value's new length, as of this append.
        (Kind::Append, Ok(Ok(length))) => match length.parse::<i64>() {
            Ok(length) => Reply::Integer(length),
            Err(_) => Reply::error(format!("ERR the store answered APPEND with {length:?}")),
        },
    };
    (reply, key, Some(sub), None)
}

/// Runs `op` in `sub`'s session, opening one first if it has none. If the session expired
/// (evicted after many others ran since), the operation did not run: that is certain here,
/// unlike for a clerk that retries, because the front door sends each operation number once,
/// to its own replica, over no network, and retires a session whose operation timed out. The
/// client is told so, and the connection's next command opens a new session.
async fn run(
    submitter: &Submitter,
    sub: &mut SubClient,
    op: Op,
    mut deadline: Duration,
) -> Result<Result<String, KvError>, SubmitError> {
    let session = match sub.session {
        Some(session) => session,
        None => {
            let started = tokio::time::Instant::now();
            let session = match submitter.register(deadline).await? {
                Ok(session) => session,
                Err(err) => return Ok(Err(err)),
            };
            *sub = SubClient {
                session: Some(session),
                seq: 0,
            };
            deadline = deadline.saturating_sub(started.elapsed());
            session
        }
    };
    sub.seq += 1;
    let answered = submitter.submit(session, sub.seq, op, deadline).await?;
    if answered == Err(KvError::SessionExpired) {
        sub.session = None;
    }
    Ok(answered)
}

#[derive(Clone, Copy)]
enum Kind {
    Get,
    Set,
    Append,
}

impl Kind {
    fn of(op: &Op) -> Kind {
        match op {
            Op::Get { .. } => Kind::Get,
            Op::Put { .. } => Kind::Set,
            Op::Append { .. } => Kind::Append,
        }
    }
}

fn error_reply(err: SubmitError) -> Reply {
    Reply::error(format!("ERR {err}"))
}

fn kv_error_reply(err: KvError) -> Reply {
    match err {
        KvError::Busy => Reply::error("ERR busy"),
        KvError::SessionExpired => Reply::error(
            "ERR session expired (many clients came since): the command did not run; retry it",
        ),
        KvError::Unavailable => Reply::error(format!("ERR {err}")),
    }
}

fn key_of(command: &Command) -> Option<&Bytes> {
    match command {
        Command::Get { key } | Command::Set { key, .. } | Command::Append { key, .. } => Some(key),
        _ => None,
    }
}

/// The store operation of a GET, SET or APPEND; an error reply if a key or value is not text.
fn to_op(command: Command) -> Result<Op, Reply> {
    Ok(match command {
        Command::Get { key } => Op::Get { key: text(key)? },
        Command::Set { key, value } => Op::Put {
            key: text(key)?,
            value: text(value)?,
        },
        Command::Append { key, value } => Op::Append {
            key: text(key)?,
            value: text(value)?,
        },
        other => {
            return Err(other
                .local_reply()
                .unwrap_or_else(|| Reply::error("ERR unsupported command")));
        }
    })
}

fn text(bytes: Bytes) -> Result<String, Reply> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Reply::error("ERR this store holds UTF-8 text: keys and values must be UTF-8"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap (STYLE 2.5).
mod tests {
    use crate::server::KvServer;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Reads until `want` bytes or EOF, bounded by 10 s.
    async fn read_n(stream: &mut TcpStream, want: usize) -> Vec<u8> {
        read_while(stream, |got| got.len() < want).await
    }

    /// Reads while `more` says the bytes so far are not all, until EOF, bounded by 10 s.
    async fn read_while(stream: &mut TcpStream, more: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let read = async {
            while more(&got) {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("answered within 10 s");
        got
    }

    /// In process, three replicas: a pipeline mixing local and store commands on one key is
    /// answered in order and sees its own writes; the next replica reads the same value;
    /// non-UTF-8 values and unknown commands get errors and the connection stays open; a
    /// malformed stream gets a protocol error and EOF.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipeline_answers_in_order_and_errors_keep_the_connection() {
        let servers = KvServer::local_cluster(3, true).await.unwrap();
        let mut a = TcpStream::connect(servers[0].resp_addr().unwrap())
            .await
            .unwrap();
        a.write_all(b"PING\r\nSET k 1\r\nAPPEND k 23\r\nGET k\r\nNOPE\r\nSET other x\r\nGET k\r\n")
            .await
            .unwrap();
        let want = b"+PONG\r\n+OK\r\n:3\r\n$3\r\n123\r\n-ERR unknown command 'NOPE'\r\n+OK\r\n$3\r\n123\r\n";
        assert_eq!(
            String::from_utf8_lossy(&read_n(&mut a, want.len()).await),
            String::from_utf8_lossy(want)
        );
        a.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n\xff\r\n")
            .await
            .unwrap();
        let got = read_n(&mut a, 5).await;
        assert!(got.starts_with(b"-ERR this store holds UTF-8"), "{got:?}");

        let mut b = TcpStream::connect(servers[1].resp_addr().unwrap())
            .await
            .unwrap();
        b.write_all(b"GET k\r\n").await.unwrap();
        assert_eq!(read_n(&mut b, 9).await, b"$3\r\n123\r\n");
        b.write_all(b"*1\r\n$x\r\n").await.unwrap();
        let got = read_n(&mut b, usize::MAX).await;
        assert!(got.starts_with(b"-ERR Protocol error"), "{got:?}");

        a.write_all(b"GET k\r\n").await.unwrap();
        assert_eq!(read_n(&mut a, 9).await, b"$3\r\n123\r\n");
    }

    /// A replica cut off from its majority (the other two are dead) cannot run anything: the
    /// client is told `-ERR timeout (the operation may still happen)` at the deadline, and
    /// the connection keeps working for local commands.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unanswered_operation_times_out_with_an_error_reply() {
        let servers = KvServer::local_cluster(3, false).await.unwrap();
        servers[1].kill();
        servers[2].kill();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let front = tokio::spawn(super::serve_with_deadline(
            listener,
            servers[0].submitter(),
            Duration::from_millis(300),
        ));
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"SET k v\r\nPING\r\n").await.unwrap();
        let want = b"-ERR timeout (the operation may still happen)\r\n+PONG\r\n";
        assert_eq!(
            String::from_utf8_lossy(&read_n(&mut c, want.len()).await),
            String::from_utf8_lossy(want)
        );
        front.abort();
    }

    /// redis-py 8's handshake on one connection, pipelined: `HELLO 3` is answered in RESP3
    /// (a map), so is everything after it (CLIENT GETNAME's null is `_`) until `HELLO 2`;
    /// CLIENT SETINFO, SELECT 0 and ECHO answer as Redis; `INFO replication` has only that
    /// section; QUIT answers `+OK` and closes, and a command after it is never run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hello_switches_protocol_in_order_and_quit_closes() {
        let servers = KvServer::local_cluster(3, true).await.unwrap();
        let mut c = TcpStream::connect(servers[0].resp_addr().unwrap())
            .await
            .unwrap();
        c.write_all(
            b"CLIENT GETNAME\r\nHELLO 3\r\nCLIENT GETNAME\r\nCLIENT SETINFO LIB-NAME redis-py\r\n\
              SELECT 0\r\nECHO hi\r\nHELLO 2\r\nCLIENT GETNAME\r\nCLIENT ID\r\n",
        )
        .await
        .unwrap();
        let got = read_until(&mut c, b":1\r\n").await;
        let got = String::from_utf8_lossy(&got);
        assert!(got.starts_with("$-1\r\n%7\r\n$6\r\nserver\r\n"), "{got}");
        assert!(
            got.contains("$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n"),
            "{got}"
        );
        assert!(
            got.contains("*0\r\n_\r\n+OK\r\n+OK\r\n$2\r\nhi\r\n*14\r\n"),
            "{got}"
        );
        assert!(got.ends_with("*0\r\n$-1\r\n:1\r\n"), "{got}");

        c.write_all(b"INFO replication\r\nQUIT\r\nSET after-quit x\r\n")
            .await
            .unwrap();
        let got = read_n(&mut c, usize::MAX).await;
        let got = String::from_utf8_lossy(&got);
        assert!(got.contains("# Replication\r\nrole:"), "{got}");
        assert!(
            !got.contains("# Server") && !got.contains("# Keyspace"),
            "{got}"
        );
        assert!(got.ends_with("\r\n+OK\r\n"), "{got}");

        let mut d = TcpStream::connect(servers[1].resp_addr().unwrap())
            .await
            .unwrap();
        d.write_all(b"GET after-quit\r\nINFO\r\n").await.unwrap();
        let got = read_until(&mut d, b"avg_ttl=0\r\n\r\n").await;
        let got = String::from_utf8_lossy(&got);
        assert!(got.starts_with("$0\r\n\r\n"), "QUIT stops reading: {got}");
        for section in ["# Server", "# Clients", "# Replication", "# Keyspace"] {
            assert!(got.contains(section), "{section}: {got}");
        }
        assert!(got.contains("connected_clients:"), "{got}");
    }

    /// Reads until the bytes end with `tail`, or EOF, bounded by 10 s.
    async fn read_until(stream: &mut TcpStream, tail: &[u8]) -> Vec<u8> {
        read_while(stream, |got| !got.ends_with(tail)).await
    }
}
