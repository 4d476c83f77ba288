//! The key/value store as an `rsm` state machine: kvpaxos is this, replicated by
//! [`rsm::Replica`].

use crate::msg::{KvCommand, KvOutput, Op};
use bytes::Bytes;
use keyspace::{Batch, Cmd, Condition, Keyspace, SetExpiry, Value};
use paxos::Seq;
use rsm::{RestoreError, StateMachine};

/// The store (crate `keyspace`: Redis strings) plugged into `rsm`. Sessions and at-most-once
/// are `rsm`'s; this runs commands in log order. The lab's operations are Redis commands with
/// the lab's answers: GET of a missing key is "", PUT is SET, APPEND is APPEND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvMachine {
    store: Keyspace,
}

/// The store's reads (`get`, `len`, `clock_ms`, `retained_bytes`) are `Keyspace`'s.
impl std::ops::Deref for KvMachine {
    type Target = Keyspace;

    fn deref(&self) -> &Keyspace {
        &self.store
    }
}

impl KvMachine {
    /// The value of `key` as the lab reads it: "" if missing, lossily if not UTF-8.
    pub fn get_text(&self, key: &str) -> String {
        self.store
            .get(key.as_bytes())
            .map_or_else(String::new, |v| String::from_utf8_lossy(v).into_owned())
    }

    fn apply_lab(&mut self, op: &Op) -> String {
        let cmd = match op {
            Op::Get { key } => return self.get_text(key),
            Op::Put { key, value } => Cmd::Set {
                key: Bytes::from(key.clone()),
                value: Bytes::from(value.clone()),
                condition: Condition::Always,
                get: false,
                expiry: SetExpiry::Clear,
            },
            Op::Append { key, value } => Cmd::Append {
                key: Bytes::from(key.clone()),
                value: Bytes::from(value.clone()),
            },
        };
        // No time stamp: a lab operation leaves the clock where it is (stamps only grow it).
        let answers = self.store.apply_batch(&Batch {
            now_ms: 0,
            cmds: vec![cmd],
        });
        match answers.first() {
            Some(Value::Ok) => String::new(),
            Some(Value::Int(length)) => length.to_string(),
            // A value past the store's limit: the lab's API has no errors, so the clerk sees
            // the error text (the operation changed nothing).
            Some(Value::Error(text)) => text.clone(),
            other => format!("{other:?}"),
        }
    }
}

impl StateMachine for KvMachine {
    type Command = KvCommand;
    type Output = KvOutput;

    fn apply(&mut self, _slot: Seq, cmd: &KvCommand) -> KvOutput {
        match cmd {
            KvCommand::Lab(op) => KvOutput::Lab(self.apply_lab(op)),
            KvCommand::Redis(batch) => KvOutput::Redis(self.store.apply_batch(batch)),
        }
    }

    fn snapshot(&self) -> Bytes {
        Bytes::from(self.store.snapshot())
    }

    fn restore(bytes: &[u8]) -> Result<Self, RestoreError> {
        let store = Keyspace::restore(bytes).map_err(RestoreError)?;
        Ok(KvMachine { store })
    }

    fn retained_bytes(&self) -> usize {
        self.store.retained_bytes()
    }

    fn command_bytes(cmd: &KvCommand) -> usize {
        match cmd {
            KvCommand::Lab(Op::Get { key }) => key.len(),
            KvCommand::Lab(Op::Put { key, value } | Op::Append { key, value }) => {
                key.len() + value.len()
            }
            KvCommand::Redis(batch) => batch.cmds.iter().map(Cmd::payload_bytes).sum(),
        }
    }

    fn output_bytes(output: &KvOutput) -> usize {
        match output {
            KvOutput::Lab(text) => text.len(),
            KvOutput::Redis(values) => values.iter().map(Value::encoded_bytes).sum(),
        }
    }
}

/// What the shared test harness records of a lab operation's answer.
impl kvstore::ClerkOutput for KvOutput {
    fn answer(&self) -> Result<&str, String> {
        match self {
            KvOutput::Lab(text) => Ok(text),
            KvOutput::Redis(values) => {
                Err(format!("a Redis answer to a lab operation: {values:?}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(m: &mut KvMachine, op: Op) -> KvOutput {
        m.apply(Seq(0), &KvCommand::Lab(op))
    }

    #[test]
    fn lab_and_redis_commands_share_one_store() {
        let mut m = KvMachine::default();
        let put = Op::Put {
            key: "k".into(),
            value: "v".into(),
        };
        assert_eq!(lab(&mut m, put), KvOutput::Lab(String::new()));
        let append = Op::Append {
            key: "k".into(),
            value: "w".into(),
        };
        assert_eq!(lab(&mut m, append), KvOutput::Lab("2".into()));
        let get = Op::Get { key: "nope".into() };
        assert_eq!(lab(&mut m, get), KvOutput::Lab(String::new()));
        let redis = KvCommand::Redis(Batch {
            now_ms: 5,
            cmds: vec![
                Cmd::Get {
                    key: Bytes::from_static(b"k"),
                },
                Cmd::Get {
                    key: Bytes::from_static(b"nope"),
                },
            ],
        });
        assert_eq!(
            m.apply(Seq(1), &redis),
            KvOutput::Redis(vec![Value::Bulk(Bytes::from_static(b"vw")), Value::Nil])
        );
        let back = KvMachine::restore(&m.snapshot()).expect("restores");
        assert_eq!(back, m);
        assert_eq!(back.get_text("k"), "vw");
        assert!(KvMachine::restore(&[0xff, 0xff]).is_err());
    }
}
