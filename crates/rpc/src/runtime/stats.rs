//! Counters a node keeps about its own traffic, for tests, benches and operators.
//!
//! Every task bumps shared atomics; [`Stats`] is a plain copy read at one moment. Relaxed ordering
//! is enough: each counter is read on its own, never as a consistent set.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a node's counters since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames decoded from inbound connections (peer messages, requests, handshakes).
    pub frames_in: u64,
    /// Frames written: peer messages (and handshakes) and responses to clients.
    pub frames_out: u64,
    /// Messages and replies dropped on purpose: a full peer queue, a full reply queue, a reply
    /// whose request was evicted, a message that could not be encoded.
    pub dropped: u64,
    /// Inbound connections accepted.
    pub connections_accepted: u64,
    /// Inbound connections closed for a protocol violation (garbage, oversized or misplaced frame).
    pub connections_refused: u64,
    /// Outbound peer connections established (the first one and every reconnect).
    pub peer_connects: u64,
    /// `Sync` effects completed.
    pub disk_syncs: u64,
    /// fsync calls made (files and the directory). With group commit, one `Sync` after many
    /// appends to one log costs one fsync, not one per append, and the `Sync`s of every input
    /// handled in one turn of the actor share it: `disk_fsyncs` well below `disk_syncs`.
    pub disk_fsyncs: u64,
    /// Turns of the actor that held effects for a `Sync` and released them after one disk batch:
    /// the group commits. `disk_syncs / group_commits` is how many `Sync`s one commit covered.
    pub group_commits: u64,
    /// Inputs (messages, requests, calls, ticks) handled in those turns:
    /// `group_commit_inputs / group_commits` is how many inputs shared one commit.
    pub group_commit_inputs: u64,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) frames_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) peer_connects: AtomicU64,
    pub(crate) disk_syncs: AtomicU64,
    pub(crate) disk_fsyncs: AtomicU64,
    pub(crate) group_commits: AtomicU64,
    pub(crate) group_commit_inputs: AtomicU64,
}

/// Adds `n` to one counter.
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            frames_in: get(&self.frames_in),
            frames_out: get(&self.frames_out),
            dropped: get(&self.dropped),
            connections_accepted: get(&self.connections_accepted),
            connections_refused: get(&self.connections_refused),
            peer_connects: get(&self.peer_connects),
            disk_syncs: get(&self.disk_syncs),
            disk_fsyncs: get(&self.disk_fsyncs),
            group_commits: get(&self.group_commits),
            group_commit_inputs: get(&self.group_commit_inputs),
        }
    }
}
