//! A deterministic, single-threaded simulator for the workspace's sans-IO cores.
//!
//! [`Sim`] drives [`rpc::Node`]s (servers) and [`rpc::Client`]s (clerks) under virtual time: a
//! message, a client request or a tick goes in, the effects that come out are carried out by
//! the simulated network and disks. Everything random (latencies, losses, duplicates, tick
//! phases, the unreliable draws) comes from one [`rpc::Rng`] seeded with [`SimConfig::seed`], and
//! events at the same instant run in the order they were scheduled. So **one seed reproduces a
//! whole run**, byte for byte: [`Sim::trace_hash`] hashes every event, and two runs with the same
//! seed and the same test code end with the same hash.
//!
//! # How a test uses it
//! 1. Build `Sim::new(SimConfig::new(seed), nodes)`; node `i` is `NodeId(i)`. Add clerks with
//!    [`Sim::add_client`]. A node-only run (Paxos) uses the default client type [`NoClient`].
//! 2. Drive it: [`Sim::invoke`] / [`Sim::run_op`] start client operations, [`Sim::call`] runs a
//!    core's local API (Paxos `start`, `status`) and carries out what it emitted.
//! 3. Run it: [`Sim::run_for`] a span of virtual time, or [`Sim::run_until`] a condition holds,
//!    with a virtual deadline. Every run is bounded: a deadline passed is a
//!    [`SimError::Liveness`], and [`SimConfig::steps_max`] / [`SimConfig::time_us_max`] cap
//!    every run, so a simulation never hangs.
//! 4. Inject faults at any instant with the verbs below, check state with [`Sim::node`],
//!    [`Sim::stats`], [`Sim::disk`], and install [`Sim::set_invariant`] to check a node after
//!    every event it handles.
//! 5. Wrap the whole test in [`for_each_seed!`] to run it over many seeds.
//!
//! # Fault model (SPEC §1.2–1.6 and §12)
//!
//! | Fault in the 2015 labs | Here |
//! |---|---|
//! | §1.2 unreliable: 10% of RPCs lost, 18% executed with the reply lost | [`FaultConfig::unreliable`], [`Sim::set_unreliable`]: drawn at the receiver for every peer `Send` and client request; answers to a "reply lost" request (its `Respond`s, or the `Reply` to that `ReqId`, whenever sent) are dropped |
//! | §1.3 partitions `part(g1, g2, g3)`, client↔server never cut | [`Sim::partition`], [`Sim::heal`]; client traffic ignores partitions; [`Sim::cut_client`] when a test needs it |
//! | (one-way link failure) | [`Sim::cut`], [`Sim::uncut`] |
//! | §1.4 deaf server (socket removed: can send, cannot be reached) | [`Sim::deafen`], [`Sim::undeafen`]: `Send`s and client requests to it are dropped; `Respond`s to its own requests and everything it sends still go through |
//! | §1.5 slow proxy | [`FaultConfig::delay`] / [`FaultConfig::delay_us_max`] |
//! | §1.6 `kill()` | [`Sim::kill`]: the core is dropped, messages to it are lost (unsynced writes are flushed: a clean stop); a later [`Sim::restart`] pads appended files as after a crash |
//! | §1.6/§12 crash, disk kept; unsynced writes lost | [`Sim::crash`] then [`Sim::restart`] from the surviving [`rpc::DiskImage`]: what was synced, plus a seeded-random prefix of each file's unsynced appends (a torn last record), then reserved zero bytes at the end of every file the process appended to (the runtime preallocates) |
//! | §1.6 crash with disk lost (`rm -rf` the directory) | [`Sim::crash_and_lose_disk`] then [`Sim::restart`] from an empty image |
//! | (disk I/O errors: fsync EIO, disk full) | [`Sim::fail_disk`] arms one ([`DiskFault::Sync`] or [`DiskFault::Write`]); [`DiskFaultConfig`] draws them per operation. The node stops at the failed effect as the TCP runtime's does: nothing after it in that input leaves, the disk keeps what a crash keeps, and the node is [`NodeStatus::Crashed`] until [`Sim::restart`]; counted in [`NodeStats::disk_errors`] |
//! | §1.6 pbservice restart with fresh state | [`Sim::kill`] then [`Sim::restart`] ignoring the image |
//! | (TCP gives none; cores must survive them, driver contract 3) | [`FaultConfig::loss`], [`FaultConfig::duplicate`], latency `latency_us_min..=latency_us_max` per message (reordering) |
//!
//! Delivery rules, in the order they are checked:
//! * **At send**: destination down → dropped; partition or cut (servers), client cut (clients)
//!   → dropped; destination deaf (except for a `Respond`) → dropped; then the loss draw, the
//!   duplicate draw (a second copy with its own latency), and the latency draw.
//! * **On arrival**: the same reachability checks again, so a partition or crash that happens
//!   while a message is in flight stops it. A message addressed to a process that has since
//!   crashed is dropped even if the node restarted. Then, for a `Send` or a client request in
//!   unreliable mode, the SPEC §1.2 draw.
//! * A message already sent still arrives if its sender crashes meanwhile (the request left the
//!   machine); the answer to it is then addressed to the dead process and dropped.
//! * A node always reaches itself, unless a test [`Sim::cut`]s it from itself.
//! * Client replies are routed by the [`rpc::ReqId`] the simulator handed to `on_request` (a
//!   fresh one per delivered copy); a reply to a request the node's previous process received is
//!   ignored and counted in [`NetStats::replies_unroutable`].
//! * Each node ticks every [`SimConfig::tick_us`] from a random phase, and so does each client.
//!   A crashed node's ticks stop; a restarted one ticks from a fresh random phase.
//! * The disk: every change is pending until `Sync`. A crash keeps what was synced and, per
//!   file, a seeded-random prefix of its unsynced `Append`s and `Truncate`s (the last append cut
//!   at any byte), never an unsynced `Write`/`Remove` ([`SimDisk`] has the exact rule). A
//!   disk operation that fails ([`Sim::fail_disk`]) crashes its node right there, before any
//!   later effect of the same input is carried out.
//! * A restart with the disk kept, after a crash or a kill, adds a seeded-random run of zero
//!   bytes (possibly none) to the end of every file the previous process appended to. A core
//!   must `Truncate` a file it found on disk to its real length (or `Write` or `Remove` it)
//!   before it appends to it; an append that breaks this rule, or a bad `Truncate`, panics
//!   naming the node ("broke the disk contract").
//!
//! # Seeds and replay
//! [`for_each_seed!`] runs a test for seeds `0..N`: `N` is the test's default (at least 20 in CI)
//! or `SIM_SEEDS=N`. `SIM_SEED=S` runs seed `S` alone. A failing seed panics with the seed, the
//! error and the command that replays it, for example
//! `SIM_SEED=17 cargo test -p paxos --test it -- sim_basic::basic --exact`; prefix `SIM_TRACE=1` and append `--nocapture`
//! to print one status line per event to stderr (virtual time, what happened, `from->to`, the
//! message's `Debug` text). Every [`SimError`] names its seed too.
//!
//! # Cost
//! Events are small keys in a binary heap; messages are moved, never cloned, except to
//! duplicate one. The trace hash formats each message with `Debug` into one reused buffer (the
//! contract gives messages `Debug`, not `Hash`), stopping after [`TRACE_TEXT_BYTES_MAX`] bytes so
//! a large value costs no more than a small one. `benches/events.rs` measures the event rate: on
//! the 2-core CI machine, about 7M events/s with small messages, 3.5M with a 64-byte value per
//! message and 2.8M with 4 KiB values; formatting the messages is most of that cost (without it,
//! 12–16M events/s).

mod client;
mod config;
mod deliver;
mod disk;
mod error;
mod faults;
mod net;
mod queue;
pub mod seeds;
mod sim;
mod stats;
mod trace;
mod transmit;

pub use client::{Completion, NoClient};
pub use config::{
    DiskFaultConfig, FaultConfig, STEPS_MAX_DEFAULT, SimConfig, TICK_US_DEFAULT,
    TIME_US_MAX_DEFAULT,
};
pub use disk::SimDisk;
pub use error::SimError;
pub use faults::DiskFault;
pub use sim::{Invariant, NodeStatus, Sim};
pub use stats::{DropCause, DropCounts, NetStats, NodeStats};
pub use trace::{Endpoint, TRACE_TEXT_BYTES_MAX};
