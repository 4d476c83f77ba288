//! Counters a test can assert on: RPC counts per node (SPEC §5.3 `TestRPCCount` counts the RPCs
//! each peer received) and dropped messages by cause.

/// Why a message was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropCause {
    /// The destination was crashed or killed when the message was sent or when it arrived (or it
    /// restarted in between: the message was addressed to the old process).
    Down,
    /// A partition or a one-way cut separates sender and receiver.
    Partition,
    /// The receiver is deaf: nobody can open a connection to it.
    Deaf,
    /// Random per-message loss ([`FaultConfig::loss`](crate::FaultConfig::loss)).
    Loss,
    /// Unreliable mode dropped the request before it was read (SPEC §1.2 step 1).
    UnreliableRequest,
    /// Unreliable mode let the request execute but lost its answer (SPEC §1.2 step 2).
    UnreliableReply,
    /// Sent by address ([`rpc::Effect::SendTo`], [`rpc::ClientEffect::RequestTo`]) to an
    /// address no node has ([`crate::Sim::set_address`]): nothing listens there.
    UnknownAddress,
}

/// Dropped messages, counted by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    /// See [`DropCause::Down`].
    pub down: u64,
    /// See [`DropCause::Partition`].
    pub partition: u64,
    /// See [`DropCause::Deaf`].
    pub deaf: u64,
    /// See [`DropCause::Loss`].
    pub loss: u64,
    /// See [`DropCause::UnreliableRequest`].
    pub unreliable_request: u64,
    /// See [`DropCause::UnreliableReply`].
    pub unreliable_reply: u64,
    /// See [`DropCause::UnknownAddress`].
    pub unknown_address: u64,
}

impl DropCounts {
    /// Counts one drop.
    pub fn add(&mut self, cause: DropCause) {
        let counter = match cause {
            DropCause::Down => &mut self.down,
            DropCause::Partition => &mut self.partition,
            DropCause::Deaf => &mut self.deaf,
            DropCause::Loss => &mut self.loss,
            DropCause::UnreliableRequest => &mut self.unreliable_request,
            DropCause::UnreliableReply => &mut self.unreliable_reply,
            DropCause::UnknownAddress => &mut self.unknown_address,
        };
        *counter += 1;
    }

    /// All drops, whatever the cause.
    pub fn total(&self) -> u64 {
        self.down
            + self.partition
            + self.deaf
            + self.loss
            + self.unreliable_request
            + self.unreliable_reply
            + self.unknown_address
    }
}

/// What one node received, and what was addressed to it but dropped. Counts survive crashes and
/// restarts: they describe the node's address, not one process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Peer `Send`s handled: the RPC count as the 2015 tests counted it (a request that unreliable
    /// mode executed but whose answer it lost still counts; one it dropped does not).
    pub requests_received: u64,
    /// Peer `Respond`s handled.
    pub responds_received: u64,
    /// Client requests handled.
    pub client_requests_received: u64,
    /// Ticks handled.
    pub ticks: u64,
    /// Disk operations that failed ([`Sim::fail_disk`](crate::Sim::fail_disk),
    /// [`DiskFaultConfig`](crate::DiskFaultConfig)); each one stopped the node.
    pub disk_errors: u64,
    /// Messages addressed to this node that were dropped, by cause. An answer lost by
    /// unreliable mode counts against the node it was addressed to.
    pub dropped: DropCounts,
}

/// Network-wide totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages handed to the network (each duplicate counts once more).
    pub sent: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Messages handled by their receiver.
    pub delivered: u64,
    /// Every dropped message, by cause (client-bound replies included).
    pub dropped: DropCounts,
    /// Replies a node sent for a request the simulator no longer tracks (answered already, or
    /// handed to an earlier process of that node): ignored, as a closed connection would.
    pub replies_unroutable: u64,
}
