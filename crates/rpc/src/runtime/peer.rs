//! One outbound connection per peer: dial, say `Hello`, then stream queued messages.
//!
//! The task redials whenever the connection fails, with capped exponential backoff and seeded
//! jitter. Messages wait in a bounded queue while the peer is away; the actor drops new ones once
//! it is full. A message taken off the queue when the connection breaks is lost: the contract
//! allows it, and redelivering could not tell "lost" from "delivered but not acknowledged".
//!
//! The connection is one-way, so the task also reads from it: the only thing it can legitimately
//! read is the end of the stream, which tells at once that the peer died, instead of at the next
//! failed write.

use super::stats::{Counters, bump};
use crate::backoff::Backoff;
use crate::codec::{self, WireCodec};
use crate::error::RpcError;
use crate::ids::NodeId;
use crate::wire::{Never, PeerFrame, Wire};
use futures::SinkExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;

/// Messages waiting for one peer. Why 256: it rides out a reconnect (hundreds of milliseconds of
/// traffic) yet bounds what a dead peer costs; with 1 MB Paxos values that is at most 256 MB.
pub const PEER_QUEUE_CAPACITY: usize = 256;

/// The first redial delay after a failure.
pub const RECONNECT_BACKOFF_BASE: Duration = Duration::from_millis(10);

/// The largest redial delay. Why 500 ms: a restarted peer is back in at most about one Paxos
/// timeout, and redialling a dead peer twice a second costs nothing.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(500);

/// How long a dial may take. A dial towards a blackholed address would otherwise hang for the
/// operating system's limit (minutes) while messages pile up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one batch of writes may take. A peer that stops reading (a hung process) would
/// otherwise hold the task forever; past this the connection is dropped and redialled.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames written before one flush. Batching saves a syscall per message under load; the cap
/// keeps a long queue from delaying the first message's flush.
const WRITE_BATCH_FRAMES: usize = 64;

/// Who a peer task serves.
pub(crate) struct PeerLink {
    pub(crate) me: NodeId,
    /// Every node's address, in this node's order (sent in the `Hello`).
    pub(crate) cluster: Arc<Vec<SocketAddr>>,
    /// The peer's id, or [`NodeId::EXTERNAL`] for a link by address.
    pub(crate) to: NodeId,
    pub(crate) addr: SocketAddr,
    pub(crate) stop: CancellationToken,
    pub(crate) counters: Arc<Counters>,
}

impl PeerLink {
    /// True for a link to a node named by address, not one of the peers.
    fn by_address(&self) -> bool {
        self.to == NodeId::EXTERNAL
    }
}

/// Why one connection ended.
enum Ended {
    /// The actor closed the queue: the node is stopping.
    QueueClosed,
    /// The connection failed or was never made; redial.
    Lost(RpcError),
}

/// Keeps a connection to `link.to` and sends everything queued, until the node stops.
pub(crate) async fn run<M: Wire>(link: PeerLink, mut queue: mpsc::Receiver<M>) {
    let seed = (u64::from(link.me.0) << 32) ^ u64::from(link.to.0) ^ u64::from(link.addr.port());
    let mut backoff = Backoff::new(RECONNECT_BACKOFF_BASE, RECONNECT_BACKOFF_MAX, seed);
    loop {
        let ended = tokio::select! {
            () = link.stop.cancelled() => return,
            ended = connect_and_pump(&link, &mut queue, &mut backoff) => ended,
        };
        let reason = match ended {
            Ended::QueueClosed => return,
            Ended::Lost(reason) => reason,
        };
        let delay = backoff.next_delay();
        tracing::debug!(%reason, ?delay, "peer connection down; redialling");
        tokio::select! {
            () = link.stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

async fn connect_and_pump<M: Wire>(
    link: &PeerLink,
    queue: &mut mpsc::Receiver<M>,
    backoff: &mut Backoff,
) -> Ended {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(link.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(source)) => {
            return Ended::Lost(RpcError::Unreachable {
                addr: link.addr,
                source,
            });
        }
        Err(_) => return Ended::Lost(RpcError::Timeout),
    };
    // Protocol messages are small and latency-bound: do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    bump(&link.counters.peer_connects, 1);
    let (mut read_half, write_half) = stream.into_split();
    let mut sink = FramedWrite::new(write_half, WireCodec::<Never>::new());
    let hello = if link.by_address() {
        PeerFrame::<M>::Stranger
    } else {
        PeerFrame::<M>::Hello {
            from: link.me,
            cluster: link.cluster.to_vec(),
        }
    };
    if let Err(err) = write_batch(
        &mut sink,
        vec![codec::encode(&hello).expect("a Hello always encodes")],
    )
    .await
    {
        return Ended::Lost(err);
    }
    bump(&link.counters.frames_out, 1);
    tracing::debug!("connected");
    let mut probe = [0u8; 64];
    loop {
        tokio::select! {
            read = read_half.read(&mut probe) => {
                return Ended::Lost(match read {
                    Ok(0) => RpcError::ConnectionClosed,
                    Ok(_) => RpcError::UnexpectedFrame { kind: "any", context: "on a one-way peer connection" },
                    Err(err) => RpcError::Io(err),
                });
            }
            msg = queue.recv() => {
                let Some(msg) = msg else { return Ended::QueueClosed };
                let payloads = encode_batch(link, msg, queue);
                let frames = payloads.len() as u64;
                if let Err(err) = write_batch(&mut sink, payloads).await {
                    return Ended::Lost(err);
                }
                bump(&link.counters.frames_out, frames);
                // Only a connection that carried traffic proves the peer is back.
                backoff.reset();
            }
        }
    }
}

/// Encodes `first` and whatever else is already queued, up to [`WRITE_BATCH_FRAMES`].
fn encode_batch<M: Wire>(
    link: &PeerLink,
    first: M,
    queue: &mut mpsc::Receiver<M>,
) -> Vec<bytes::Bytes> {
    let mut payloads = Vec::new();
    let mut next = Some(first);
    while let Some(msg) = next {
        match codec::encode(&PeerFrame::<M>::Peer(msg)) {
            Ok(payload) => payloads.push(payload),
            Err(err) => {
                bump(&link.counters.dropped, 1);
                tracing::warn!(%err, "cannot encode a peer message; dropped");
            }
        }
        next = if payloads.len() < WRITE_BATCH_FRAMES {
            queue.try_recv().ok()
        } else {
            None
        };
    }
    payloads
}

async fn write_batch(
    sink: &mut FramedWrite<OwnedWriteHalf, WireCodec<Never>>,
    payloads: Vec<bytes::Bytes>,
) -> Result<(), RpcError> {
    let write = async {
        for payload in payloads {
            sink.feed(payload).await?;
        }
        sink.flush().await
    };
    tokio::time::timeout(WRITE_TIMEOUT, write)
        .await
        .map_err(|_| RpcError::Timeout)?
}
