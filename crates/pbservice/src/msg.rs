//! Requests, answers and messages of the primary/backup service (was `pbservice/common.go`).

use kvstore::KvState;
use rpc::NodeId;
use serde::{Deserialize, Serialize};
use viewservice::{ViewNum, ViewReply, VsMsg, VsRequest};

/// The operation and its clerk identity are the shared KV state machine's (crate `kvstore`).
pub use kvstore::{Op, OpRequest};

/// Why a server did not run a clerk's operation (SPEC §4.1 `ErrWrongServer`). Application
/// outcomes are data in replies (STYLE §2.5); a missing key is not an error here: it reads "".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum PbError {
    /// This server is not the primary of its view; ask the view service again.
    #[error("wrong server: not the primary")]
    WrongServer,
}

/// Why a backup refused a forwarded operation or a state transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupError {
    /// The receiver is not the backup of that view (it moved on, or never was).
    NotBackup,
    /// The receiver is the backup but has not received the state transfer yet (it restarted).
    NotSynced,
}

/// A message between servers, or between a server and the view service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PbMsg {
    /// Ping and view, as the view service speaks them.
    Vs(VsMsg),
    /// Primary to backup: apply these operations, in order, in view `view`.
    Forward {
        /// The primary's view.
        view: ViewNum,
        /// The batch number (unique per primary process).
        batch: u64,
        /// The operations, Gets included (SPEC §4.2).
        ops: Vec<OpRequest>,
    },
    /// Backup to primary: the answer to a `Forward`.
    ForwardReply {
        /// The view of the `Forward`.
        view: ViewNum,
        /// Its batch number.
        batch: u64,
        /// `Ok` if every operation was applied.
        result: Result<(), BackupError>,
    },
    /// Primary to new backup: the whole database and dedup table (SPEC §4.2).
    Transfer {
        /// The primary's view.
        view: ViewNum,
        /// The state.
        state: KvState,
    },
    /// Backup to primary: the answer to a `Transfer`.
    TransferReply {
        /// The view of the `Transfer`.
        view: ViewNum,
        /// `Ok` if the backup installed the state.
        result: Result<(), BackupError>,
    },
}

/// A request to a node of the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PbRequest {
    /// A clerk's operation, for the primary.
    Op(OpRequest),
    /// A clerk asking the view service (when it is a node of the same cluster: the simulator).
    View(VsRequest),
    /// A server-to-server message carried as a request (TCP, where servers know each other
    /// only by address); the answer is [`PbResponse::Peer`].
    Peer {
        /// The sender's identity.
        from: NodeId,
        /// The message.
        msg: PbMsg,
    },
}

/// An answer to a [`PbRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PbResponse {
    /// The outcome of a clerk's operation: the value for a Get, "" for a Put, the value's new
    /// length (decimal) for an Append.
    Op {
        /// The clerk.
        clerk: u64,
        /// The operation number.
        seq: u64,
        /// The value, or why the server did not run it.
        result: Result<String, PbError>,
    },
    /// The view service's answer.
    View(ViewReply),
    /// A server's answer to a [`PbRequest::Peer`].
    Peer(PbMsg),
}

impl From<ViewReply> for PbResponse {
    fn from(reply: ViewReply) -> Self {
        PbResponse::View(reply)
    }
}
