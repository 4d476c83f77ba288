//! The view service of SPEC §3: it watches the primary/backup servers' pings and decides, view
//! by view, which server is primary and which is backup.
//!
//! # Protocol
//! Every server pings once per ping interval with the number of the latest view it has
//! accepted (0 after a (re)start) and gets the current view back. A server that misses
//! [`DEAD_PINGS`] intervals is dead; a server of the current view that pings 0 restarted and
//! lost its role. Once the primary has acknowledged the current view (pinged its number), the
//! service forms the next view when the primary or the backup failed, or when there is no backup
//! and an idle server is alive. See `docs/DESIGN.md`, "Primary/backup", for the state diagram.
//!
//! # Invariants
//! - View numbers grow by one per change; primary and backup always differ.
//! - A new primary was the primary or the backup of the previous view: an idle or restarted
//!   (empty) server never becomes primary, so if both fail the service is stuck.
//! - No view follows view X before the primary of X pinged X.
//!
//! # Driver contract
//! [`ViewService`] implements [`rpc::Node`]: (1) pings arrive either as peer messages
//! ([`VsMsg::Ping`], the simulator: the sender is the server) answered with a `Respond`, or as
//! client requests ([`VsRequest::Ping`], TCP: the server is known by its address) answered with
//! a `Reply`; (2) messages may be lost, duplicated or reordered: a late ping only refreshes
//! liveness; (3) `on_tick` runs once per ping interval (100 ms, SPEC §11); (4) nothing is
//! written to disk: the view service never crashes in the SPEC's scenarios.

mod msg;
pub mod server;
mod service;

pub use msg::{ADDR_BYTES_MAX, View, ViewNum, ViewReply, VsMsg, VsRequest};
pub use server::{PING_INTERVAL, VIEW_SERVICE_ID, ViewServer};
pub use service::{DEAD_PINGS, FIRST_REGISTERED_ID, REGISTERED_MAX, ViewService, VsOutbox};
