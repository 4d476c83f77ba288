//! The replicated state machine: the key/value map and the at-most-once table. Pure.

use crate::msg::{Op, OpRequest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The database and, per clerk, its last operation and that operation's result. A clerk has at
/// most one operation outstanding and numbers them in order, so one entry per clerk is enough
/// (STYLE §2.8: the dedup table is bounded by the number of clerks).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvState {
    data: BTreeMap<String, String>,
    /// clerk -> (seq of its last applied operation, that operation's result).
    last: BTreeMap<u64, (u64, String)>,
}

impl KvState {
    /// Applies `req` once: a repeat of the clerk's last operation returns the recorded result
    /// without running it again; an operation older than that returns `None` (its clerk has
    /// already moved on and will never look at the answer).
    pub fn apply(&mut self, req: &OpRequest) -> Option<String> {
        if let Some((seq, result)) = self.last.get(&req.clerk) {
            if *seq == req.seq {
                return Some(result.clone());
            }
            if *seq > req.seq {
                return None;
            }
        }
        let result = match &req.op {
            Op::Get { key } => self.data.get(key).cloned().unwrap_or_default(),
            Op::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                String::new()
            }
            Op::Append { key, value } => {
                self.data.entry(key.clone()).or_default().push_str(value);
                String::new()
            }
        };
        self.last.insert(req.clerk, (req.seq, result.clone()));
        Some(result)
    }

    /// The result of `req` if it was already applied (the clerk's last operation).
    pub fn cached(&self, req: &OpRequest) -> Option<&str> {
        self.last
            .get(&req.clerk)
            .filter(|(seq, _)| *seq == req.seq)
            .map(|(_, result)| result.as_str())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(clerk: u64, seq: u64, op: Op) -> OpRequest {
        OpRequest { clerk, seq, op }
    }

    fn append(v: &str) -> Op {
        Op::Append {
            key: "k".into(),
            value: v.into(),
        }
    }

    /// A retried Append runs once; an older one is ignored; Get of a missing key is "".
    #[test]
    fn apply_is_at_most_once() {
        let mut s = KvState::default();
        assert_eq!(s.apply(&req(1, 1, append("a"))), Some(String::new()));
        assert_eq!(s.apply(&req(1, 1, append("a"))), Some(String::new()));
        assert_eq!(s.apply(&req(1, 2, append("b"))), Some(String::new()));
        assert_eq!(s.apply(&req(1, 1, append("a"))), None);
        assert_eq!(s.get("k"), "ab");
        let get = req(2, 1, Op::Get { key: "nope".into() });
        assert_eq!(s.apply(&get), Some(String::new()));
        assert_eq!(s.cached(&get), Some(""));
    }
}
