//! A shard's table of clients: the last command each clerk ran on the shard and its answer,
//! so that a retry runs once, even at the shard's next owner (the table moves with the shard).
//!
//! Why per shard and not per group: a shard moves alone, and its table with it, so the new
//! owner never has to merge two tables for one shard (SPEC §8.2's "merge, don't overwrite"
//! is about a group-wide table; here the receiving group had no table for the shard at all).

use kvpaxos::msg::KvOutput;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The most clerks a shard remembers. Why 4,096: a clerk does one command at a time, so this
/// is how many clerks may be retrying on one shard at once; an evicted clerk's retry of a
/// write could run twice, so the bound is far above any real number of clients per shard,
/// while a shard's table stays below a few MB of small answers.
pub const CLIENTS_MAX: usize = 4096;

/// What a clerk's latest command on the shard was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Last {
    /// Its number.
    pub seq: u64,
    /// Its answer, kept only for writes: a retried read runs again, which is just as correct
    /// (its answer is taken at a point within the retry) and keeps large reads out of the table.
    pub output: Option<KvOutput>,
    /// When it was recorded (the table's own counter), for eviction.
    pub stamp: u64,
}

/// What the table says about a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen<'a> {
    /// Never ran: run it.
    Fresh,
    /// Ran; here is its answer (`None` for a read: run it again).
    Repeat(Option<&'a KvOutput>),
    /// Older than the clerk's latest: a delayed duplicate.
    Stale,
}

/// The table. Bounded by [`CLIENTS_MAX`], evicting the clerk recorded longest ago.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clients {
    last: BTreeMap<u64, Last>,
    /// `(stamp, clerk)` of every entry: the oldest first.
    by_age: BTreeSet<(u64, u64)>,
    next_stamp: u64,
}

impl Clients {
    /// What the table knows of command `seq` of `clerk`.
    pub fn seen(&self, clerk: u64, seq: u64) -> Seen<'_> {
        match self.last.get(&clerk) {
            Some(last) if seq == last.seq => Seen::Repeat(last.output.as_ref()),
            Some(last) if seq < last.seq => Seen::Stale,
            _ => Seen::Fresh,
        }
    }

    /// Records that command `seq` of `clerk` ran and answered `output` (`None` for a read).
    pub fn record(&mut self, clerk: u64, seq: u64, output: Option<KvOutput>) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        if let Some(old) = self.last.insert(clerk, Last { seq, output, stamp }) {
            self.by_age.remove(&(old.stamp, clerk));
        }
        self.by_age.insert((stamp, clerk));
        while self.last.len() > CLIENTS_MAX {
            let (_, oldest) = self.by_age.pop_first().expect("one entry per clerk");
            self.last.remove(&oldest);
        }
        assert_eq!(self.last.len(), self.by_age.len(), "one age per clerk");
    }

    /// Number of clerks remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// True if no clerk is remembered.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// The bytes the table holds, approximately.
    pub fn retained_bytes(&self) -> usize {
        self.last
            .values()
            .map(|l| 64 + l.output.as_ref().map_or(0, output_bytes))
            .sum()
    }

    /// True if the table is consistent (checked when one arrives from another group).
    pub fn is_valid(&self) -> bool {
        self.last.len() <= CLIENTS_MAX
            && self.last.len() == self.by_age.len()
            && self
                .by_age
                .iter()
                .all(|(stamp, clerk)| self.last.get(clerk).is_some_and(|l| l.stamp == *stamp))
            && self.last.values().all(|l| l.stamp < self.next_stamp)
    }
}

fn output_bytes(output: &KvOutput) -> usize {
    match output {
        KvOutput::Lab(text) => text.len(),
        KvOutput::Redis(values) => values.iter().map(keyspace::Value::encoded_bytes).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_is_answered_and_an_older_command_is_stale() {
        let mut t = Clients::default();
        assert_eq!(t.seen(1, 1), Seen::Fresh);
        t.record(1, 1, Some(KvOutput::Lab("x".into())));
        assert_eq!(t.seen(1, 1), Seen::Repeat(Some(&KvOutput::Lab("x".into()))));
        t.record(1, 2, None);
        assert_eq!(t.seen(1, 2), Seen::Repeat(None));
        assert_eq!(t.seen(1, 1), Seen::Stale);
        assert_eq!(t.seen(1, 3), Seen::Fresh);
        assert_eq!(t.seen(2, 1), Seen::Fresh);
        assert!(t.is_valid());
    }

    #[test]
    fn the_clerk_recorded_longest_ago_is_evicted_first() {
        let mut t = Clients::default();
        for clerk in 0..CLIENTS_MAX as u64 {
            t.record(clerk, 1, None);
        }
        t.record(0, 2, None); // clerk 0 is now the youngest
        t.record(u64::MAX, 1, None);
        assert_eq!(t.len(), CLIENTS_MAX);
        assert_eq!(t.seen(1, 1), Seen::Fresh, "clerk 1 was the oldest: evicted");
        assert_eq!(t.seen(0, 2), Seen::Repeat(None));
        assert!(t.is_valid());
    }
}
