//! The numbers and messages of the view service (was `viewservice/common.go`).

use rpc::NodeId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A view number. View 0 is the empty view before any server pinged.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ViewNum(pub u64);

impl fmt::Display for ViewNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// Who serves: the primary, the backup, and the view's number (SPEC §3.1 `View`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct View {
    /// The view's number; it grows by one at each change.
    pub num: ViewNum,
    /// The primary, if any.
    pub primary: Option<NodeId>,
    /// The backup, if any.
    pub backup: Option<NodeId>,
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |id: Option<NodeId>| id.map_or_else(|| "-".to_string(), |id| id.to_string());
        write!(
            f,
            "{}{{p={}, b={}}}",
            self.num,
            name(self.primary),
            name(self.backup)
        )
    }
}

/// The longest server address the view service records. Why 256: a DNS name plus a port fits;
/// anything longer is garbage from the network and is refused before it is stored.
pub const ADDR_BYTES_MAX: usize = 256;

/// The answer to a ping or a get: the current view, the addresses of its servers (over TCP a
/// server is known by the address it registered with; in the simulator addresses are empty and
/// a server is its [`NodeId`]) and, for a ping, the identity the view service knows the caller by.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewReply {
    /// The current view.
    pub view: View,
    /// The identity of the pinging server; `None` for a `Get`, or if the ping was refused.
    pub you: Option<NodeId>,
    /// The address the primary registered with ("" in the simulator).
    pub primary_addr: String,
    /// The address the backup registered with ("" in the simulator).
    pub backup_addr: String,
    /// True once the primary acknowledged this view: until then the view service will not
    /// move on, whatever fails (operators and tests wait for it before killing a server).
    pub acked: bool,
}

/// Messages between servers and the view service when both are nodes of one cluster (the
/// simulator): a ping is a peer `Send`, the view comes back as its `Respond`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VsMsg {
    /// SPEC §3.1 `Ping(me, viewnum)`: the sender is alive and knows view `viewnum`; 0 means
    /// "I just (re)started".
    Ping {
        /// The latest view the sender has accepted.
        viewnum: ViewNum,
    },
    /// The answer to a ping.
    View(ViewReply),
}

/// Requests from clients of the view service over TCP: servers ping as clients there, since
/// the view service cannot know their addresses in advance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VsRequest {
    /// SPEC §3.1 `Ping`; the server is known by `addr`, the address it serves clients on.
    Ping {
        /// The latest view the sender has accepted; 0 means "I just (re)started".
        viewnum: ViewNum,
        /// The address the server listens on; becomes its identity.
        addr: String,
    },
    /// SPEC §3.1 `Get`: the current view, without counting as a ping.
    Get,
}
