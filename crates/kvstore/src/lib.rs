//! The key/value state machine that every KV service of dsys replicates (primary/backup,
//! kvpaxos, and later shardkv and diskv): Get / Put / Append on string keys. Pure: every
//! replica that applies the same operations in the same order reaches the same state, answers
//! included.
//!
//! Two layers: [`KvData`] is the store alone (what kvpaxos plugs into `rsm`, whose sessions
//! make operations at-most-once); [`KvState`] adds a per-clerk dedup table for primary/backup,
//! which replicates without a log and so without `rsm`'s sessions.
//!
//! # Invariants
//! - A missing key reads as "" (SPEC §4.1, §6.1); Append to a missing key creates it.
//! - [`KvState`]: a clerk has at most one operation outstanding and numbers them from 1
//!   upward, so one dedup entry per clerk is enough: a higher `seq` tells the state that the
//!   clerk saw the previous answer (SPEC §6.2: dedup memory must be freed quickly). The table
//!   holds at most [`CLIENTS_MAX`] clerks; past it the one idle longest is forgotten, in an
//!   order derived from the applied operations alone.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(feature = "testing")]
pub mod testing;

/// What a clerk's completion says, as a test history must record it (`testing` uses it; it
/// lives here so that each service can implement it for its own clerk's output). Implemented for the two
/// shapes clerks have: a plain value (a clerk that retries until it succeeds), and a `Result`
/// (a test client that can give up with an error).
pub trait ClerkOutput {
    /// `Ok(value)` if the operation took effect and answered `value` (what a Get read; Put and
    /// Append answer something the history ignores). `Err(why)` if it failed: the operation
    /// then stays pending in the history, because it may or may not have taken effect.
    ///
    /// # Errors
    /// The failure, as text for the scenario's error message.
    fn answer(&self) -> Result<&str, String>;
}

impl ClerkOutput for String {
    fn answer(&self) -> Result<&str, String> {
        Ok(self)
    }
}

impl<T: ClerkOutput, E: std::fmt::Display> ClerkOutput for Result<T, E> {
    fn answer(&self) -> Result<&str, String> {
        match self {
            Ok(output) => output.answer(),
            Err(err) => Err(err.to_string()),
        }
    }
}

/// One key/value operation (SPEC §4.1, §6.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Read a key; a missing key reads as "".
    Get {
        /// The key.
        key: String,
    },
    /// Overwrite a key.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Append to a key's value ("" if missing); answers the value's new length in bytes, as
    /// Redis's APPEND does (SPEC §6.1 answers nothing; the length costs nothing and lets the
    /// RESP front door answer exactly). Replication carries the argument, not the result
    /// (SPEC §6.2).
    Append {
        /// The key.
        key: String,
        /// The suffix.
        value: String,
    },
}

/// A clerk's operation with its identity: `(client, seq)` is unique, and a clerk's `seq` only
/// grows, which is what makes retries at-most-once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRequest {
    /// The clerk (a random 62-bit number, SPEC §1.7 `nrand`).
    pub client: u64,
    /// The clerk's operation number, from 1.
    pub seq: u64,
    /// The operation.
    pub op: Op,
}

/// Bytes counted per dedup-table entry besides its result, in [`KvState::retained_bytes`].
const CLIENT_OVERHEAD_BYTES: usize = 96;

/// The most clerks the dedup table remembers (STYLE §2.8: every table has a limit). Past it the
/// clerk that ran an operation longest ago is forgotten. Clerks come and go (every RESP
/// connection is one), so without a bound the table would only grow. A forgotten clerk that
/// retries its last operation after 100,000 other clerks have run one since would run it a
/// second time: at-most-once holds for every clerk that retries within that window.
pub const CLIENTS_MAX: usize = 100_000;

/// What applying one request produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The request ran now (or is a repeat of the clerk's last one): its result.
    Result(String),
    /// The clerk has moved on past this request; nobody waits for its answer.
    Stale,
}

/// The store: keys and values, nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvData {
    data: BTreeMap<String, String>,
}

impl KvData {
    /// Runs `op` and returns its answer: the value for a Get ("" if missing), "" for a Put,
    /// the value's new length in bytes (decimal) for an Append.
    pub fn apply(&mut self, op: &Op) -> String {
        match op {
            Op::Get { key } => self.data.get(key).cloned().unwrap_or_default(),
            Op::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                String::new()
            }
            Op::Append { key, value } => {
                let stored = self.data.entry(key.clone()).or_default();
                stored.push_str(value);
                // The length after this append, in bytes (what Redis's APPEND answers): known
                // only here, where appends are applied in log order.
                stored.len().to_string()
            }
        }
    }

    /// The value of `key` ("" if missing).
    pub fn get(&self, key: &str) -> &str {
        self.data.get(key).map_or("", String::as_str)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if no key is stored.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The bytes of the keys and values.
    pub fn retained_bytes(&self) -> usize {
        self.data.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

/// The database and, per clerk, its last operation and that operation's result. A clerk has at
/// most one operation outstanding and numbers them in order, so one entry per clerk is enough:
/// a higher `seq` tells every replica that the clerk saw the previous answer (SPEC §6.2, "dedup
/// memory must be freed quickly"). The table is bounded by the number of clerks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvState {
    data: KvData,
    /// clerk -> its last applied operation.
    last: BTreeMap<u64, LastOp>,
    /// When each clerk in `last` last ran an operation (a count of operations applied):
    /// the oldest is forgotten first. Derived from the applied order, so every replica
    /// forgets the same clerks.
    by_age: BTreeMap<u64, u64>,
    /// Operations applied (run, not repeats): the clock of `by_age`.
    applied: u64,
}

/// A clerk's last applied operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct LastOp {
    seq: u64,
    result: String,
    /// Its place in `by_age`.
    stamp: u64,
}

impl KvState {
    /// Applies `req` at most once: a repeat of the clerk's last operation returns the recorded
    /// result without running it again; an older one returns [`Applied::Stale`].
    pub fn apply(&mut self, req: &OpRequest) -> Applied {
        if let Some(last) = self.last.get(&req.client) {
            if last.seq == req.seq {
                return Applied::Result(last.result.clone());
            }
            if last.seq > req.seq {
                return Applied::Stale;
            }
        }
        let result = self.data.apply(&req.op);
        self.remember(req.client, req.seq, result.clone());
        Applied::Result(result)
    }

    /// Records a clerk's last operation, forgetting the clerk idle longest past
    /// [`CLIENTS_MAX`].
    fn remember(&mut self, client: u64, seq: u64, result: String) {
        self.applied += 1;
        let stamp = self.applied;
        let last = LastOp { seq, result, stamp };
        if let Some(previous) = self.last.insert(client, last) {
            self.by_age.remove(&previous.stamp);
        }
        self.by_age.insert(stamp, client);
        if self.last.len() > CLIENTS_MAX
            && let Some((_, oldest)) = self.by_age.pop_first()
        {
            self.last.remove(&oldest);
        }
        debug_assert_eq!(self.last.len(), self.by_age.len());
    }

    /// The answer for `req` if it was already applied: its result if it is the clerk's last
    /// operation, [`Applied::Stale`] if the clerk has moved past it, `None` if not applied yet.
    pub fn cached(&self, req: &OpRequest) -> Option<Applied> {
        let last = self.last.get(&req.client)?;
        if last.seq == req.seq {
            Some(Applied::Result(last.result.clone()))
        } else if last.seq > req.seq {
            Some(Applied::Stale)
        } else {
            None
        }
    }

    /// The value of `key` ("" if missing).
    pub fn get(&self, key: &str) -> &str {
        self.data.get(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if no key is stored.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of clerks in the dedup table.
    pub fn clients(&self) -> usize {
        self.last.len()
    }

    /// The bytes this state holds: keys, values and the dedup table.
    pub fn retained_bytes(&self) -> usize {
        let data = self.data.retained_bytes();
        let dedup: usize = self
            .last
            .values()
            .map(|last| CLIENT_OVERHEAD_BYTES + last.result.len())
            .sum();
        data + dedup
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(client: u64, seq: u64, op: Op) -> OpRequest {
        OpRequest { client, seq, op }
    }

    fn append(v: &str) -> Op {
        Op::Append {
            key: "k".into(),
            value: v.into(),
        }
    }

    fn done(s: &str) -> Applied {
        Applied::Result(s.into())
    }

    /// A retried Append runs once; an older one is stale; Get of a missing key is "".
    #[test]
    fn apply_is_at_most_once() {
        let mut s = KvState::default();
        assert_eq!(s.apply(&req(1, 1, append("a"))), done("1"));
        assert_eq!(
            s.apply(&req(1, 1, append("a"))),
            done("1"),
            "the first answer again"
        );
        assert_eq!(s.apply(&req(1, 2, append("b"))), done("2"));
        assert_eq!(s.apply(&req(1, 1, append("a"))), Applied::Stale);
        assert_eq!(s.get("k"), "ab");
        let get = req(2, 1, Op::Get { key: "k".into() });
        assert_eq!(s.cached(&get), None);
        assert_eq!(s.apply(&get), done("ab"));
        assert_eq!(s.cached(&get), Some(done("ab")));
        assert_eq!(s.clients(), 2);
    }

    /// The dedup table keeps one entry per clerk however many operations it ran.
    #[test]
    fn dedup_table_is_one_entry_per_clerk() {
        let mut s = KvState::default();
        for seq in 1..=100 {
            s.apply(&req(7, seq, append("x")));
        }
        assert_eq!(s.clients(), 1);
        assert_eq!(s.get("k").len(), 100);
    }

    /// Past CLIENTS_MAX clerks, the one idle longest is forgotten, the same on every replica.
    #[test]
    fn dedup_table_forgets_the_clerk_idle_longest() {
        let put = |v: &str| Op::Put {
            key: "k".into(),
            value: v.into(),
        };
        let mut s = KvState::default();
        for client in 0..=CLIENTS_MAX as u64 {
            if client == 5 {
                // Clerk 0 runs again, so clerk 1 becomes the one idle longest.
                s.apply(&req(0, 2, put("y")));
            }
            s.apply(&req(client, 1, put("x")));
        }
        assert_eq!(s.clients(), CLIENTS_MAX);
        assert_eq!(s.cached(&req(1, 1, put("x"))), None, "clerk 1 forgotten");
        assert_eq!(s.cached(&req(0, 2, put("y"))), Some(done("")));
        assert_eq!(s.cached(&req(2, 1, put("x"))), Some(done("")));
    }

    fn op_strategy() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let key = prop_oneof![Just("a".to_string()), Just("b".to_string())];
        let value = "[xyz]{0,3}";
        prop_oneof![
            key.clone().prop_map(|key| Op::Get { key }),
            (key.clone(), value).prop_map(|(key, value)| Op::Put { key, value }),
            (key, value).prop_map(|(key, value)| Op::Append { key, value }),
        ]
    }

    proptest::proptest! {
        /// At most once: a log in which any entry may appear again later (a clerk's retry
        /// proposed by another replica) reaches the same state, and gives every request the
        /// same answer, as the log without the repeats.
        #[test]
        fn repeats_in_the_log_change_nothing(
            ops in proptest::collection::vec((0u64..3, op_strategy()), 1..40),
            repeats in proptest::collection::vec((0usize..40, 0usize..40), 0..20),
        ) {
            let mut seqs = [0u64; 3];
            let log: Vec<OpRequest> = ops
                .into_iter()
                .map(|(client, op)| {
                    seqs[client as usize] += 1;
                    req(client, seqs[client as usize], op)
                })
                .collect();
            let mut with_repeats = log.clone();
            for (from, at) in repeats {
                let copy = log[from % log.len()].clone();
                let at = (at % with_repeats.len()).max(with_repeats.iter().position(|r| *r == copy).unwrap_or(0) + 1);
                with_repeats.insert(at.min(with_repeats.len()), copy);
            }
            let mut plain = KvState::default();
            let answers: Vec<Applied> = log.iter().map(|r| plain.apply(r)).collect();
            let mut repeated = KvState::default();
            for r in &with_repeats {
                let got = repeated.apply(r);
                if let Applied::Result(_) = &got {
                    // A repeat answers with the result of the first application, or is stale.
                    let first = log.iter().position(|l| l == r).expect("copies come from the log");
                    proptest::prop_assert_eq!(&got, &answers[first]);
                }
            }
            proptest::prop_assert_eq!(plain, repeated);
        }
    }
}
