//! A brute-force linearizability checker: tries every order consistent with real time.
//!
//! Deliberately independent of the crate's search: no partitioning (one map for all keys), no
//! event list, no memoization, and its own key/value semantics.

use std::collections::BTreeMap;

use check::{History, KvInput, KvOutput, Operation};

type Op = Operation<KvInput, KvOutput>;

/// Whether some order of the operations respects real time and key/value semantics. Pending
/// operations may take effect at any point after their call, or never.
pub fn is_linearizable(history: &History) -> bool {
    let ops: Vec<&Op> = history.iter().map(|(_, op)| op).collect();
    assert!(ops.len() <= 10, "brute force is for tiny histories");
    let mut done = vec![false; ops.len()];
    search(&ops, &mut done, &mut BTreeMap::new())
}

fn search(ops: &[&Op], done: &mut [bool], store: &mut BTreeMap<String, String>) -> bool {
    if ops
        .iter()
        .zip(done.iter())
        .all(|(op, &done)| done || op.is_pending())
    {
        return true;
    }
    for next in 0..ops.len() {
        if done[next] || !may_go_next(ops, done, next) {
            continue;
        }
        let Some(undo) = apply(store, ops[next]) else {
            continue;
        };
        done[next] = true;
        if search(ops, done, store) {
            return true;
        }
        done[next] = false;
        undo.restore(store);
    }
    false
}

/// No remaining operation returned before `next` was called.
fn may_go_next(ops: &[&Op], done: &[bool], next: usize) -> bool {
    let call_time = ops[next].call_time();
    (0..ops.len()).all(|other| {
        done[other] || other == next || ops[other].return_time().is_none_or(|ret| ret >= call_time)
    })
}

/// How to undo one applied operation.
struct Undo {
    key: String,
    previous: Option<String>,
}

impl Undo {
    fn restore(self, store: &mut BTreeMap<String, String>) {
        match self.previous {
            Some(value) => store.insert(self.key, value),
            None => store.remove(&self.key),
        };
    }
}

/// Applies `op` if its output matches; `None` if it cannot happen now.
fn apply(store: &mut BTreeMap<String, String>, op: &Op) -> Option<Undo> {
    let previous = store.get(op.input().key()).cloned();
    let undo = Undo {
        key: op.input().key().to_owned(),
        previous: previous.clone(),
    };
    match (op.input(), op.output()) {
        (KvInput::Get { .. }, None) => Some(undo),
        (KvInput::Get { .. }, Some(KvOutput::Value(seen))) => {
            (*seen == previous.unwrap_or_default()).then_some(undo)
        }
        (KvInput::Put { key, value }, None | Some(KvOutput::Ok)) => {
            store.insert(key.clone(), value.clone());
            Some(undo)
        }
        (KvInput::Append { key, value }, None | Some(KvOutput::Ok)) => {
            store.insert(key.clone(), previous.unwrap_or_default() + value);
            Some(undo)
        }
        _ => None,
    }
}

/// The sub-history of `history` made of `ids`, for re-checking a report.
pub fn sub_history(history: &History, ids: &[check::OpId]) -> History {
    let mut sub = History::new();
    for &id in ids {
        let op = history.get(id).expect("report ids come from the history");
        let new_id = sub.invoke(op.client(), op.input().clone(), op.call_time());
        if let (Some(output), Some(time)) = (op.output(), op.return_time()) {
            sub.complete(new_id, output.clone(), time);
        }
    }
    sub
}
