//! The frames carried on every connection.
//!
//! A connection has one of two shapes, fixed by its first frame:
//!
//! ```text
//! peer connection (node i dials node j, one-way)    client connection (both ways)
//!   (or, by address: Stranger, then Peer(msg) ...)
//!   i -> j  Hello { from: i, cluster }                        c -> s  Request { id: 1, body }
//!   i -> j  Peer(msg)                                  c -> s  Request { id: 2, body }
//!   i -> j  Peer(msg) ...                              s -> c  Response { id: 2, body }
//!                                                      s -> c  Response { id: 1, body } ...
//! ```
//!
//! A peer connection carries messages one way only: node `j` answers node `i` (a `Respond`
//! effect) over its *own* connection to `i`. A client connection multiplexes calls: `id` is
//! the client's correlation id, echoed in the matching `Response`, so answers may come back in
//! any order. Any other frame kind on either shape is a protocol violation that closes only that
//! connection.
//!
//! The encoding is postcard: the variant index as a varint, then the fields. **The order of the
//! variants is the wire format**; never reorder them. Because the index does not depend on the
//! type parameters, a side that cannot name some of them (a client does not know the peer message
//! type) uses [`Never`] in their place and decodes the same bytes.

use crate::ids::NodeId;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// One frame on a connection, generic over the peer message `M`, the request `Q` and the
/// response `P` of one protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame<M, Q, P> {
    /// The first frame of a peer connection: who is dialling, and the cluster as it sees it.
    Hello {
        /// The dialling node.
        from: NodeId,
        /// Every node's address, in the dialling node's order. A node whose own list holds the
        /// same addresses in another order refuses the connection: the two would disagree on
        /// who is who, and every message between them would be misread. (Different addresses
        /// are not compared: behind proxies every node dials addresses of its own.)
        cluster: Vec<SocketAddr>,
    },
    /// A message between peers (a `Send` or a `Respond` effect).
    Peer(M),
    /// A client request.
    Request {
        /// The client's correlation id, echoed in the answer.
        id: u64,
        /// The request.
        body: Q,
    },
    /// The answer to the request with the same `id`.
    Response {
        /// The correlation id of the request answered.
        id: u64,
        /// The answer.
        body: P,
    },
    /// The first frame of a peer connection by address ([`crate::Effect::SendTo`]): the
    /// dialler is not in the receiver's peer list, so its messages arrive from
    /// [`NodeId::EXTERNAL`] and name no one the receiver could take it for.
    Stranger,
}

impl<M, Q, P> Frame<M, Q, P> {
    /// The variant's name, for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "Hello",
            Frame::Peer(_) => "Peer",
            Frame::Request { .. } => "Request",
            Frame::Response { .. } => "Response",
            Frame::Stranger => "Stranger",
        }
    }
}

/// A type with no values, standing for a frame parameter that one side never sends or accepts.
/// Decoding a frame that would need a `Never` fails, which is exactly the protocol check we want.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Never {}

/// The frames a client sends: requests only.
pub type ClientFrame<Q> = Frame<Never, Q, Never>;

/// The frames a client accepts: responses only.
pub type ServerFrame<P> = Frame<Never, Never, P>;

/// The frames a node sends on its outbound peer connections.
pub type PeerFrame<M> = Frame<M, Never, Never>;

/// What a type needs to travel in a frame and cross tasks: postcard both ways, `Send`, owned.
/// Implemented for every such type; it only shortens bounds.
pub trait Wire: Serialize + serde::de::DeserializeOwned + Send + 'static {}

impl<T: Serialize + serde::de::DeserializeOwned + Send + 'static> Wire for T {}
