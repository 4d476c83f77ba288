//! Small protocol numbers shared by every system: who a node is, what a client request is, and
//! how time is counted inside a core.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The identity of a server node: its index in the cluster's peer list.
///
/// On the wire this is a `u32`, never a `usize`, so that the encoding is the same on every host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The sender of a message that came by address ([`crate::Effect::SendTo`]), and of the
    /// answer to a request by address: not a peer, and not to be answered by id. No cluster
    /// has this many nodes.
    pub const EXTERNAL: NodeId = NodeId(u32::MAX);

    /// The node's position in a peer list.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// The identity of a client (clerk) as seen by the driver that routes its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u64);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A driver-assigned handle for one client request that a node must answer with
/// [`Effect::Reply`](crate::Effect::Reply). The node treats it as opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReqId(pub u64);

/// Time inside a core: the number of `on_tick` calls. Cores never read a clock.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ticks(pub u64);
