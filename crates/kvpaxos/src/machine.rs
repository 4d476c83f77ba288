//! The key/value store as an `rsm` state machine: kvpaxos is this, replicated by
//! [`rsm::Replica`].

use bytes::Bytes;
use kvstore::{KvData, Op};
use paxos::Seq;
use rsm::{RestoreError, StateMachine};

/// The store (crate `kvstore`) plugged into `rsm`. Sessions and at-most-once are `rsm`'s; this
/// only runs Get/Put/Append in log order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvMachine {
    data: KvData,
}

/// The store's reads (`get`, `len`, `is_empty`, `retained_bytes`) are `KvData`'s.
impl std::ops::Deref for KvMachine {
    type Target = KvData;

    fn deref(&self) -> &KvData {
        &self.data
    }
}

impl StateMachine for KvMachine {
    type Command = Op;
    type Output = String;

    fn apply(&mut self, _slot: Seq, op: &Op) -> String {
        self.data.apply(op)
    }

    fn snapshot(&self) -> Bytes {
        Bytes::from(postcard::to_stdvec(&self.data).expect("a map of strings always encodes"))
    }

    fn restore(bytes: &[u8]) -> Result<Self, RestoreError> {
        let data = postcard::from_bytes(bytes).map_err(|e| RestoreError(e.to_string()))?;
        Ok(KvMachine { data })
    }

    fn retained_bytes(&self) -> usize {
        self.data.retained_bytes()
    }

    fn command_bytes(op: &Op) -> usize {
        match op {
            Op::Get { key } => key.len(),
            Op::Put { key, value } | Op::Append { key, value } => key.len() + value.len(),
        }
    }

    fn output_bytes(output: &String) -> usize {
        output.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_restores_an_equal_store() {
        let mut m = KvMachine::default();
        m.apply(
            Seq(0),
            &Op::Put {
                key: "k".into(),
                value: "v".into(),
            },
        );
        m.apply(
            Seq(1),
            &Op::Append {
                key: "k".into(),
                value: "w".into(),
            },
        );
        let back = KvMachine::restore(&m.snapshot()).expect("restores");
        assert_eq!(back, m);
        assert_eq!(back.get("k"), "vw");
        assert!(KvMachine::restore(&[0xff, 0xff]).is_err());
    }
}
