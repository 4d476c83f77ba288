//! Calling a server over TCP: [`RpcClient`] for one server, [`ClientRunner`] for a client core.
//!
//! An `RpcClient` keeps one connection to one server and multiplexes calls over it: each call
//! gets a correlation id, the server answers in any order, and a connection task routes each
//! `Response` to the call waiting for that id. At most [`MAX_IN_FLIGHT_CALLS`] calls are in
//! flight; further calls wait for a slot (inside their timeout). When the connection fails,
//! every call in flight fails with [`RpcError::ConnectionClosed`] and the next call redials.
//! A call that times out leaves the connection alone: the answer may simply be slow, and other
//! calls share the connection.

mod runner;

pub use runner::{
    ClientRunner, DEFAULT_REQUEST_TIMEOUT, MAX_ADDRESS_SERVERS, MAX_OUTSTANDING_REQUESTS,
};

use crate::codec::{self, WireCodec};
use crate::error::RpcError;
use crate::wire::{ClientFrame, Frame, ServerFrame, Wire};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio_util::codec::Framed;

/// Calls one client may have in flight at once. Why 128: far more than any clerk needs (they
/// have one operation at a time), enough for a load generator, and it bounds the server's reply
/// queue per connection ([`RESPONSE_QUEUE_CAPACITY`](crate::runtime::RESPONSE_QUEUE_CAPACITY)).
pub const MAX_IN_FLIGHT_CALLS: usize = 128;

/// A connection to one server, shared by concurrent calls. Cheap to clone (clones share the
/// connection).
pub struct RpcClient<Q, P> {
    inner: Arc<Inner<P>>,
    _request: PhantomData<fn(Q)>,
}

impl<Q, P> Clone for RpcClient<Q, P> {
    fn clone(&self) -> Self {
        RpcClient {
            inner: self.inner.clone(),
            _request: PhantomData,
        }
    }
}

struct Inner<P> {
    addr: SocketAddr,
    /// The current connection, if any; the lock also serialises redials.
    conn: tokio::sync::Mutex<Option<Arc<Conn<P>>>>,
    in_flight: Semaphore,
    next_id: AtomicU64,
}

/// One live connection: a queue to its task and the calls waiting for answers.
struct Conn<P> {
    outgoing: mpsc::Sender<Bytes>,
    waiting: Arc<Mutex<Waiting<P>>>,
    task: AbortHandle,
}

/// Calls waiting for an answer, by correlation id.
struct Waiting<P> {
    /// False once the connection task has ended; no call may register after that.
    open: bool,
    calls: HashMap<u64, oneshot::Sender<Result<P, RpcError>>>,
}

fn lock<P>(waiting: &Mutex<Waiting<P>>) -> MutexGuard<'_, Waiting<P>> {
    waiting
        .lock()
        .expect("no code panics while holding the waiting-calls lock")
}

impl<Q: Wire, P: Wire> RpcClient<Q, P> {
    /// A client for the server at `addr`. It connects on the first call.
    pub fn new(addr: SocketAddr) -> Self {
        let inner = Inner {
            addr,
            conn: tokio::sync::Mutex::new(None),
            in_flight: Semaphore::new(MAX_IN_FLIGHT_CALLS),
            next_id: AtomicU64::new(1),
        };
        RpcClient {
            inner: Arc::new(inner),
            _request: PhantomData,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Sends `req` and waits at most `timeout` for the answer (connecting first if needed).
    ///
    /// # Errors
    /// [`RpcError::Timeout`] if no answer came in time (the request may have run: retry with the
    /// same identity); [`RpcError::Unreachable`] if no connection could be made;
    /// [`RpcError::ConnectionClosed`] if the connection broke first; [`RpcError::Codec`] or
    /// [`RpcError::FrameTooLarge`] if `req` cannot be encoded (nothing was sent).
    pub async fn call(&self, req: Q, timeout: Duration) -> Result<P, RpcError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let payload = codec::encode(&ClientFrame::<Q>::Request { id, body: req })?;
        tokio::time::timeout(timeout, self.exchange(id, payload))
            .await
            .map_err(|_| RpcError::Timeout)?
    }

    async fn exchange(&self, id: u64, payload: Bytes) -> Result<P, RpcError> {
        let _slot = self
            .inner
            .in_flight
            .acquire()
            .await
            .map_err(|_| RpcError::Shutdown)?;
        let conn = self.connection().await?;
        let (answer_tx, answer_rx) = oneshot::channel();
        {
            let mut waiting = lock(&conn.waiting);
            if !waiting.open {
                return Err(RpcError::ConnectionClosed);
            }
            waiting.calls.insert(id, answer_tx);
        }
        // Removes the entry however this call ends (answer, timeout, or the caller giving up).
        let _registration = Registration {
            waiting: &conn.waiting,
            id,
        };
        conn.outgoing
            .send(payload)
            .await
            .map_err(|_| RpcError::ConnectionClosed)?;
        answer_rx.await.unwrap_or(Err(RpcError::ConnectionClosed))
    }

    /// The open connection, or a new one if there is none or it has failed.
    async fn connection(&self) -> Result<Arc<Conn<P>>, RpcError> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(conn) = slot.as_ref()
            && !conn.outgoing.is_closed()
            && lock(&conn.waiting).open
        {
            return Ok(conn.clone());
        }
        let addr = self.inner.addr;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| RpcError::Unreachable { addr, source })?;
        let _ = stream.set_nodelay(true);
        let (outgoing, queue) = mpsc::channel(MAX_IN_FLIGHT_CALLS);
        let waiting = Arc::new(Mutex::new(Waiting {
            open: true,
            calls: HashMap::new(),
        }));
        let task =
            tokio::spawn(drive_connection(stream, queue, waiting.clone(), addr)).abort_handle();
        let conn = Arc::new(Conn {
            outgoing,
            waiting,
            task,
        });
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

impl<P> Drop for Conn<P> {
    fn drop(&mut self) {
        // The last user is gone: close the socket rather than leave the task reading forever.
        self.task.abort();
    }
}

struct Registration<'a, P> {
    waiting: &'a Mutex<Waiting<P>>,
    id: u64,
}

impl<P> Drop for Registration<'_, P> {
    fn drop(&mut self) {
        lock(self.waiting).calls.remove(&self.id);
    }
}

/// Writes queued requests and routes answers until the connection fails or nobody uses it.
async fn drive_connection<P: Wire>(
    stream: TcpStream,
    mut queue: mpsc::Receiver<Bytes>,
    waiting: Arc<Mutex<Waiting<P>>>,
    addr: SocketAddr,
) {
    let mut framed = Framed::new(stream, WireCodec::<ServerFrame<P>>::new());
    let failure = loop {
        tokio::select! {
            payload = queue.recv() => {
                let Some(payload) = payload else { break None };
                if let Err(err) = send_batch(&mut framed, payload, &mut queue).await {
                    break Some(err);
                }
            }
            frame = framed.next() => match frame {
                None => break None,
                Some(Err(err)) => break Some(err),
                Some(Ok(Frame::Response { id, body })) => {
                    if let Some(call) = lock(&waiting).calls.remove(&id) {
                        let _ = call.send(Ok(body));
                    } else {
                        tracing::debug!(server = %addr, id, "answer to a call that gave up");
                    }
                }
                Some(Ok(other)) => {
                    break Some(RpcError::UnexpectedFrame { kind: other.kind(), context: "from a server" });
                }
            },
        }
    };
    if let Some(err) = failure {
        tracing::warn!(server = %addr, %err, "closing client connection");
    }
    let calls = {
        let mut waiting = lock(&waiting);
        waiting.open = false;
        std::mem::take(&mut waiting.calls)
    };
    for (_, call) in calls {
        let _ = call.send(Err(RpcError::ConnectionClosed));
    }
}

async fn send_batch<P: Wire>(
    framed: &mut Framed<TcpStream, WireCodec<ServerFrame<P>>>,
    first: Bytes,
    queue: &mut mpsc::Receiver<Bytes>,
) -> Result<(), RpcError> {
    framed.feed(first).await?;
    // The queue holds at most MAX_IN_FLIGHT_CALLS, so this loop is bounded.
    while let Ok(payload) = queue.try_recv() {
        framed.feed(payload).await?;
    }
    framed.flush().await
}
