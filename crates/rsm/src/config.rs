//! The tunables of a replica, in one validated struct (raft-rs `Config::validate`).
//!
//! Two kinds of setting live here. Most only shape one replica's behaviour (how many requests
//! it holds, how often it retries) and may differ between replicas. Two are part of the
//! replicated state machine's meaning and must be the same on every replica, or their states
//! diverge: [`Config::sessions_max`] (which sessions are evicted, in log order) and nothing
//! else. [`Config::validate`] cannot see other replicas; the servers take both from one place.

/// A replica's tunables. [`Config::default`] is what the servers run with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The most client requests a replica holds while their entries are not yet applied.
    /// Beyond it a request is refused with [`crate::RsmError::Busy`] (STYLE §2.8).
    pub waiting_max: usize,
    /// The most proposals the leader holds to put in the log (its own clients' and forwarded
    /// ones). Beyond it its own clients get `Busy` and forwarded proposals are dropped: their
    /// replica forwards them again later.
    pub queue_max: usize,
    /// Log entries the leader keeps in flight at once. More overlap more round trips; fewer
    /// make bigger batches. Eight keeps both cores busy on a 2-core machine with 64 clients.
    pub window: usize,
    /// The most proposals in one log entry.
    pub batch_max: usize,
    /// The most command bytes in one log entry, well under a 16 MiB frame. A command larger
    /// than this still goes alone in its own entry.
    pub batch_bytes_max: usize,
    /// Ticks a forwarded request may stay unapplied before its replica forwards it again (to
    /// the leader it knows then): the leader may have changed or the message may be lost.
    pub forward_retry_ticks: u64,
    /// Ticks the slot after the last applied one may stay undecided, while this replica knows
    /// of higher slots, before it acts: a follower asks for the decisions it missed; the
    /// leader proposes a no-op there (a slot a previous leader left half done).
    pub hole_ticks: u64,
    /// How many missed slots a follower asks about at once when catching up.
    pub catch_up_slots: u64,
    /// The most open client sessions. Past it the session idle longest (in log order) is
    /// evicted; its next command is refused with [`crate::RsmError::SessionExpired`]. Must be
    /// the same on every replica.
    pub sessions_max: usize,
    /// Take a snapshot once this many slots were applied since the last one.
    pub snapshot_every_slots: u64,
    /// Take a snapshot once this many bytes of log entries were applied since the last one,
    /// or as many as the last snapshot holds if that is more. The log kept (in memory, and on
    /// disk for a durable replica) then stays within about twice the larger of this and the
    /// live state, while snapshotting costs O(1) per byte written whatever the state's size.
    pub snapshot_every_bytes: u64,
    /// Bytes of a snapshot per transfer message, well under a 16 MiB frame.
    pub snapshot_chunk_bytes: usize,
    /// Ticks a snapshot transfer waits for a chunk before asking again (and, after a few
    /// tries, asking another replica).
    pub snapshot_retry_ticks: u64,
    /// The largest snapshot a replica accepts from a peer: a transfer announcing more is
    /// refused, so a bad peer cannot make it allocate without bound.
    pub snapshot_bytes_max: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            waiting_max: 4096,
            queue_max: 8192,
            window: 8,
            batch_max: 1024,
            batch_bytes_max: 4 << 20,
            forward_retry_ticks: 3,
            hole_ticks: 3,
            catch_up_slots: 64,
            sessions_max: 100_000,
            snapshot_every_slots: 10_000,
            // Small enough that a small live state keeps a small log on disk; a large state
            // snapshots every time as many bytes as it holds were written instead.
            snapshot_every_bytes: 8 << 20,
            snapshot_chunk_bytes: 1 << 20,
            snapshot_retry_ticks: 20,
            snapshot_bytes_max: 16 << 30,
        }
    }
}

/// A setting out of range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rsm config: {field} must be {rule} (got {value})")]
pub struct ConfigError {
    /// The setting.
    pub field: &'static str,
    /// What it must be.
    pub rule: &'static str,
    /// What it was.
    pub value: u64,
}

/// The largest chunk: a chunk travels in one frame with a little envelope around it.
const CHUNK_BYTES_MAX: usize = 8 << 20;

impl Config {
    /// Checks every setting.
    ///
    /// # Errors
    /// The first setting out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, field, rule, value: u64| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError { field, rule, value })
            }
        };
        let n = |v: usize| v as u64;
        check(
            self.waiting_max >= 1,
            "waiting_max",
            "at least 1",
            n(self.waiting_max),
        )?;
        check(
            self.queue_max >= 1,
            "queue_max",
            "at least 1",
            n(self.queue_max),
        )?;
        check(
            (1..=64).contains(&self.window),
            "window",
            "1 to 64",
            n(self.window),
        )?;
        check(
            self.batch_max >= 1,
            "batch_max",
            "at least 1",
            n(self.batch_max),
        )?;
        check(
            self.batch_bytes_max >= 1,
            "batch_bytes_max",
            "at least 1",
            n(self.batch_bytes_max),
        )?;
        check(
            self.forward_retry_ticks >= 1,
            "forward_retry_ticks",
            "at least 1",
            self.forward_retry_ticks,
        )?;
        check(
            self.hole_ticks >= 1,
            "hole_ticks",
            "at least 1",
            self.hole_ticks,
        )?;
        check(
            self.catch_up_slots >= 1,
            "catch_up_slots",
            "at least 1",
            self.catch_up_slots,
        )?;
        check(
            self.sessions_max >= 1,
            "sessions_max",
            "at least 1",
            n(self.sessions_max),
        )?;
        check(
            self.snapshot_every_slots >= 1,
            "snapshot_every_slots",
            "at least 1",
            self.snapshot_every_slots,
        )?;
        check(
            self.snapshot_every_bytes >= 1,
            "snapshot_every_bytes",
            "at least 1",
            self.snapshot_every_bytes,
        )?;
        check(
            (1..=CHUNK_BYTES_MAX).contains(&self.snapshot_chunk_bytes),
            "snapshot_chunk_bytes",
            "1 to 8 MiB",
            n(self.snapshot_chunk_bytes),
        )?;
        check(
            self.snapshot_retry_ticks >= 1,
            "snapshot_retry_ticks",
            "at least 1",
            self.snapshot_retry_ticks,
        )?;
        check(
            self.snapshot_bytes_max >= 1,
            "snapshot_bytes_max",
            "at least 1",
            self.snapshot_bytes_max,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_zeroes_are_not() {
        assert_eq!(Config::default().validate(), Ok(()));
        let bad = Config {
            window: 0,
            ..Config::default()
        };
        let err = bad.validate().expect_err("window 0");
        assert_eq!(err.field, "window");
        let big_chunk = Config {
            snapshot_chunk_bytes: 64 << 20,
            ..Config::default()
        };
        assert!(big_chunk.validate().is_err());
    }
}
