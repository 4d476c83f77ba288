//! Transport failures, as one enum whose variants name causes.
//!
//! Application outcomes (`WrongLeader`, `ErrNoKey`, ...) never travel here: they are data inside a
//! system's own response type. An `RpcError` only says what happened to the *transport*, and each
//! variant's doc answers the one question a caller must ask before retrying: **may the request
//! have run?** "No" means a retry cannot execute it twice. "Maybe" means the outcome is unknown,
//! so the caller retries with the *same* request identity (for example the same
//! `(client_id, seq)`) and relies on the server's duplicate detection.

use crate::ids::NodeId;
use std::io;
use std::net::SocketAddr;

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// No connection could be made to `addr` (refused, unroutable, or the connect timed out).
    ///
    /// May have run: **no**. Nothing was sent.
    #[error("cannot connect to {addr}: {source}")]
    Unreachable {
        /// The address dialled.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },

    /// No answer came back within the caller's time limit.
    ///
    /// May have run: **maybe**. The request may still be queued, running, or answered on a reply
    /// that is lost; retry with the same request identity.
    #[error("timed out waiting for an answer")]
    Timeout,

    /// A value could not be encoded, or bytes could not be decoded as the expected type (the
    /// peer speaks another protocol, another version, or sent garbage).
    ///
    /// May have run: **no** when our request failed to encode (nothing was sent); **maybe** when
    /// the answer failed to decode (the server ran the request and then its reply was unreadable).
    #[error("cannot encode or decode a frame: {0}")]
    Codec(#[from] postcard::Error),

    /// A frame's length exceeds [`MAX_FRAME_BYTES`](crate::codec::MAX_FRAME_BYTES). Inbound, this is
    /// detected from the 4-byte length prefix alone, before any buffer is allocated for the body.
    ///
    /// May have run: **no** for an oversized request (it is refused before it is sent); **maybe**
    /// when the oversized frame is an answer.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes", max = crate::codec::MAX_FRAME_BYTES)]
    FrameTooLarge {
        /// The length the frame declared or would have had.
        len: u64,
    },

    /// A well-formed frame arrived where the protocol forbids its kind (for example a `Response`
    /// as the first frame of a server connection, or a `Peer` message on a client connection).
    ///
    /// May have run: **maybe** (seen on a client, the server may have run the request first).
    #[error("unexpected {kind} frame: {context}")]
    UnexpectedFrame {
        /// The kind of frame that arrived (`Hello`, `Peer`, `Request`, `Response`).
        kind: &'static str,
        /// Where it arrived, in words.
        context: &'static str,
    },

    /// A peer dialled listing the cluster's nodes in another order: the connection is refused.
    ///
    /// May have run: **no**.
    #[error(
        "node {from} lists the cluster as {theirs:?} but this node lists it as {ours:?}: every node needs the same peer list, in the same order"
    )]
    ClusterMismatch {
        /// The dialling node's id.
        from: NodeId,
        /// Its list.
        theirs: Vec<SocketAddr>,
        /// This node's list.
        ours: Vec<SocketAddr>,
    },

    /// The stream ended in the middle of a frame: the peer closed after sending part of one.
    ///
    /// May have run: **maybe**.
    #[error("connection closed inside a frame ({buffered} bytes of it received)")]
    Truncated {
        /// How many bytes of the unfinished frame had arrived.
        buffered: usize,
    },

    /// The connection closed (or failed) while the request was in flight.
    ///
    /// May have run: **maybe**. The request may have reached the server before the connection
    /// dropped. The next call reconnects.
    #[error("connection closed before the answer arrived")]
    ConnectionClosed,

    /// The local node or client runtime has stopped (killed, shut down, or stopped itself after a
    /// disk failure), so it takes no more work.
    ///
    /// May have run: **maybe**. A call accepted just before the stop may have run.
    #[error("the runtime has shut down")]
    Shutdown,

    /// Any other I/O failure on an established connection.
    ///
    /// May have run: **maybe**.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl RpcError {
    /// True if the request certainly did not run, so a retry (even with a new identity) cannot
    /// execute it twice. Conservative: `false` whenever the outcome is unknown.
    pub fn certainly_not_run(&self) -> bool {
        matches!(self, RpcError::Unreachable { .. })
    }
}
