//! One inbound connection: decode frames, feed the actor, write answers back.
//!
//! The first frame fixes the connection's shape ([`crate::wire`]): `Hello` makes it a peer
//! connection (then only `Peer` frames), `Request` a client connection (then only `Request`
//! frames, answered by `Response` frames). Anything else, and any framing or decoding error,
//! closes this connection alone with a warning naming the reason. Nothing here panics on input.
//! A connection that sends no first frame within [`FIRST_FRAME_TIMEOUT`] is closed too, so an
//! idle or half-open connection cannot hold one of the listener's slots forever.

use super::WireNode;
use super::actor::{Input, Responder};
use super::stats::{Counters, bump};
use crate::codec::{self, WireCodec};
use crate::error::RpcError;
use crate::ids::NodeId;
use crate::node::Node;
use crate::wire::{Frame, Never};
use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// Answers waiting to be written to one client connection. Why 256: at least
/// [`MAX_IN_FLIGHT_CALLS`](crate::client::MAX_IN_FLIGHT_CALLS), so a well-behaved client never
/// loses an answer here; a client that sends more and does not read loses the excess.
pub const RESPONSE_QUEUE_CAPACITY: usize = 256;

const _: () = assert!(RESPONSE_QUEUE_CAPACITY >= crate::client::MAX_IN_FLIGHT_CALLS);

/// How long an accepted connection may take to send its first frame (`Hello` or a request).
/// Peers and clients send it as soon as they connect; 10 s covers a loaded machine.
pub const FIRST_FRAME_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What every connection task of a node shares.
pub(crate) struct Shared<N: WireNode> {
    pub(crate) id: NodeId,
    pub(crate) peer_count: usize,
    /// Every node's address, in this node's order: a peer's `Hello` must list the same.
    pub(crate) cluster: Arc<Vec<SocketAddr>>,
    pub(crate) inbox: mpsc::Sender<Input<N>>,
    pub(crate) stop: CancellationToken,
    pub(crate) counters: Arc<Counters>,
}

impl<N: WireNode> Clone for Shared<N> {
    fn clone(&self) -> Self {
        Shared {
            id: self.id,
            peer_count: self.peer_count,
            cluster: self.cluster.clone(),
            inbox: self.inbox.clone(),
            stop: self.stop.clone(),
            counters: self.counters.clone(),
        }
    }
}

/// Every frame a node may read; which ones are allowed depends on the connection's shape.
type NodeFrame<N> = Frame<<N as Node>::Msg, <N as Node>::Req, <N as Node>::Resp>;

type NodeFramed<N> = Framed<TcpStream, WireCodec<NodeFrame<N>>>;

/// Serves one accepted connection until it closes, breaks the protocol, or the node stops.
pub(crate) async fn serve<N: WireNode>(
    stream: TcpStream,
    remote: SocketAddr,
    shared: Shared<N>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let mut framed: NodeFramed<N> = Framed::new(stream, WireCodec::new());
    let outcome = tokio::select! {
        () = shared.stop.cancelled() => Ok(()),
        outcome = serve_frames(&mut framed, &shared) => outcome,
    };
    match outcome {
        Ok(()) => tracing::debug!("connection closed"),
        Err(reason) => {
            bump(&shared.counters.connections_refused, 1);
            // The fields repeat the span's: a warn-level filter hides debug spans.
            tracing::warn!(node = %shared.id, %remote, %reason, "closing connection");
        }
    }
}

/// Reads the first frame and hands over to the loop for the connection's shape.
async fn serve_frames<N: WireNode>(
    framed: &mut NodeFramed<N>,
    shared: &Shared<N>,
) -> Result<(), RpcError> {
    let first = tokio::time::timeout(FIRST_FRAME_TIMEOUT, framed.next())
        .await
        .map_err(|_| RpcError::Timeout)?;
    let Some(first) = first.transpose()? else {
        return Ok(());
    };
    bump(&shared.counters.frames_in, 1);
    match first {
        Frame::Hello { from, cluster } if reordered(&cluster, &shared.cluster) => {
            let err = RpcError::ClusterMismatch {
                from,
                theirs: cluster,
                ours: shared.cluster.to_vec(),
            };
            tracing::error!(%err, "peer connection refused");
            Err(err)
        }
        Frame::Hello { from, .. } if from.index() < shared.peer_count && from != shared.id => {
            tracing::debug!(from = %from, "peer connection");
            serve_peer(framed, shared, from).await
        }
        Frame::Hello { .. } => Err(RpcError::UnexpectedFrame {
            kind: "Hello",
            context: "from this node itself or from outside the cluster",
        }),
        Frame::Stranger => {
            tracing::debug!("peer connection by address");
            serve_peer(framed, shared, NodeId::EXTERNAL).await
        }
        Frame::Request { id, body } => serve_client(framed, shared, id, body).await,
        other => Err(RpcError::UnexpectedFrame {
            kind: other.kind(),
            context: "as the first frame (expected Hello, Stranger or Request)",
        }),
    }
}

/// True if `theirs` lists the same nodes as `ours` in another order: two nodes that would take
/// each other for someone else. Lists of different addresses are not compared: behind proxies
/// (the Paxos demo, partition tests) every node legitimately dials its own addresses.
fn reordered(theirs: &[SocketAddr], ours: &[SocketAddr]) -> bool {
    if theirs == ours {
        return false;
    }
    let (mut a, mut b) = (theirs.to_vec(), ours.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

async fn serve_peer<N: WireNode>(
    framed: &mut NodeFramed<N>,
    shared: &Shared<N>,
    from: NodeId,
) -> Result<(), RpcError> {
    while let Some(frame) = framed.next().await.transpose()? {
        bump(&shared.counters.frames_in, 1);
        let Frame::Peer(msg) = frame else {
            return Err(RpcError::UnexpectedFrame {
                kind: frame.kind(),
                context: "on a peer connection",
            });
        };
        if shared
            .inbox
            .send(Input::Message { from, msg })
            .await
            .is_err()
        {
            return Ok(()); // The actor has stopped.
        }
    }
    Ok(())
}

async fn serve_client<N: WireNode>(
    framed: &mut NodeFramed<N>,
    shared: &Shared<N>,
    first_id: u64,
    first_body: N::Req,
) -> Result<(), RpcError> {
    let (responder, mut answers) = mpsc::channel(RESPONSE_QUEUE_CAPACITY);
    if !forward(shared, &responder, first_id, first_body).await {
        return Ok(());
    }
    loop {
        tokio::select! {
            frame = framed.next() => {
                let Some(frame) = frame.transpose()? else { return Ok(()) };
                bump(&shared.counters.frames_in, 1);
                let Frame::Request { id, body } = frame else {
                    return Err(RpcError::UnexpectedFrame { kind: frame.kind(), context: "on a client connection" });
                };
                if !forward(shared, &responder, id, body).await {
                    return Ok(());
                }
            }
            Some(answer) = answers.recv() => write_answers::<N>(framed, &shared.counters, answer, &mut answers).await?,
        }
    }
}

/// Hands one request to the actor; false if the actor has stopped.
async fn forward<N: WireNode>(
    shared: &Shared<N>,
    responder: &Responder<N::Resp>,
    corr: u64,
    body: N::Req,
) -> bool {
    let input = Input::Request {
        responder: responder.clone(),
        corr,
        body,
    };
    shared.inbox.send(input).await.is_ok()
}

/// Writes `first` and every answer already queued, then flushes once.
async fn write_answers<N: WireNode>(
    framed: &mut NodeFramed<N>,
    counters: &Counters,
    first: (u64, N::Resp),
    answers: &mut mpsc::Receiver<(u64, N::Resp)>,
) -> Result<(), RpcError> {
    let mut next = Some(first);
    let mut written = 0;
    while let Some((id, body)) = next {
        written += 1;
        match codec::encode(&Frame::<Never, Never, N::Resp>::Response { id, body }) {
            Ok(payload) => {
                framed.feed(payload).await?;
                bump(&counters.frames_out, 1);
            }
            Err(err) => {
                // The client times out and retries; the connection itself is fine.
                bump(&counters.dropped, 1);
                tracing::warn!(%err, id, "cannot encode an answer; dropped");
            }
        }
        // One queue's worth per flush, so a fast actor cannot keep this loop from flushing.
        next = if written < RESPONSE_QUEUE_CAPACITY {
            answers.try_recv().ok()
        } else {
            None
        };
    }
    framed.flush().await
}
