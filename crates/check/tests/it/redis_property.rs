//! Property tests of the Redis model: histories produced by running random commands one after
//! another (no overlap) against a simple reference store are linearizable, and corrupting one
//! read's reply makes them illegal (with no overlap there is only one order to explain it);
//! and overlapping runs that took effect inside their intervals are linearizable.

use std::collections::HashMap;

use check::{Budget, History, RedisError, RedisInput, RedisOutput, check_redis};
use proptest::prelude::*;

const KEYS: [&str; 3] = ["a", "b", "c"];
/// Values mixing integers (canonical and not) and text, so INCRBY meets every case.
const VALUES: [&str; 6] = ["1", "01", "-5", "x", "", "9223372036854775807"];
const INCREMENTS: [i64; 4] = [-2, 1, 5, i64::MAX];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(&KEYS[..]).prop_map(str::to_owned)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(&VALUES[..]).prop_map(|value| value.as_bytes().to_vec())
}

fn keys() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(key(), 1..=3)
}

/// A command other than a transaction.
fn command() -> impl Strategy<Value = RedisInput> {
    prop_oneof![
        key().prop_map(|key| RedisInput::Get { key }),
        (key(), value()).prop_map(|(key, value)| RedisInput::Set { key, value }),
        (key(), value()).prop_map(|(key, value)| RedisInput::SetNx { key, value }),
        keys().prop_map(|keys| RedisInput::Del { keys }),
        (key(), prop::sample::select(&INCREMENTS[..]))
            .prop_map(|(key, by)| RedisInput::IncrBy { key, by }),
        (key(), value()).prop_map(|(key, value)| RedisInput::Append { key, value }),
        prop::collection::vec((key(), value()), 1..=3).prop_map(|pairs| RedisInput::MSet { pairs }),
        keys().prop_map(|keys| RedisInput::MGet { keys }),
    ]
}

fn input() -> impl Strategy<Value = RedisInput> {
    prop_oneof![
        4 => command(),
        1 => prop::collection::vec(command(), 1..=3).prop_map(RedisInput::Txn),
    ]
}

/// The reference store: a plain map, written independently of the crate's semantics.
#[derive(Default)]
struct Reference {
    values: HashMap<String, Vec<u8>>,
}

impl Reference {
    fn run(&mut self, input: &RedisInput) -> RedisOutput {
        match input {
            RedisInput::Get { key } => RedisOutput::Value(self.values.get(key).cloned()),
            RedisInput::Set { key, value } => {
                self.values.insert(key.clone(), value.clone());
                RedisOutput::Ok
            }
            RedisInput::SetNx { key, value } => {
                if self.values.contains_key(key) {
                    return RedisOutput::Bool(false);
                }
                self.values.insert(key.clone(), value.clone());
                RedisOutput::Bool(true)
            }
            RedisInput::Del { keys } => {
                let mut removed = 0;
                for key in keys {
                    removed += i64::from(self.values.remove(key).is_some());
                }
                RedisOutput::Int(removed)
            }
            RedisInput::IncrBy { key, by } => self.incr_by(key, *by),
            RedisInput::Append { key, value } => {
                let stored = self.values.entry(key.clone()).or_default();
                stored.extend_from_slice(value);
                RedisOutput::Int(stored.len() as i64)
            }
            RedisInput::MSet { pairs } => {
                for (key, value) in pairs {
                    self.values.insert(key.clone(), value.clone());
                }
                RedisOutput::Ok
            }
            RedisInput::MGet { keys } => RedisOutput::Values(
                keys.iter()
                    .map(|key| self.values.get(key).cloned())
                    .collect(),
            ),
            RedisInput::Txn(commands) => {
                RedisOutput::Txn(commands.iter().map(|command| self.run(command)).collect())
            }
        }
    }

    fn incr_by(&mut self, key: &str, by: i64) -> RedisOutput {
        let current = match self.values.get(key) {
            None => 0,
            Some(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                match text.parse::<i64>() {
                    Ok(n) if n.to_string() == text => n,
                    _ => return RedisOutput::Error(RedisError::NotInteger),
                }
            }
        };
        let Some(sum) = current.checked_add(by) else {
            return RedisOutput::Error(RedisError::Overflow);
        };
        self.values
            .insert(key.to_owned(), sum.to_string().into_bytes());
        RedisOutput::Int(sum)
    }
}

/// A different reply of the same shape, for a top-level read; `None` for writes.
fn corrupted(output: &RedisOutput) -> Option<RedisOutput> {
    let flip = |value: &Option<Vec<u8>>| match value {
        None => Some(b"!".to_vec()),
        Some(_) => None,
    };
    match output {
        RedisOutput::Value(value) => Some(RedisOutput::Value(flip(value))),
        RedisOutput::Values(values) => {
            let mut values = values.clone();
            let first = values.first_mut()?;
            *first = flip(first);
            Some(RedisOutput::Values(values))
        }
        _ => None,
    }
}

/// Runs `inputs` one after another from 3 clients, each in `[10 i, 10 i + 5]`; with
/// `corrupt`, the first top-level read at or after that position replies wrongly. Returns the
/// history and whether a read was corrupted.
fn sequential_history(
    inputs: &[RedisInput],
    corrupt: Option<usize>,
) -> (History<RedisInput, RedisOutput>, bool) {
    let mut reference = Reference::default();
    let mut history = History::default();
    let mut pending_corruption = corrupt;
    let mut corrupted_any = false;
    for (i, input) in (0u64..).zip(inputs) {
        let mut output = reference.run(input);
        if pending_corruption.is_some_and(|at| at <= i as usize)
            && let Some(wrong) = corrupted(&output)
        {
            output = wrong;
            pending_corruption = None;
            corrupted_any = true;
        }
        history.record(i % 3, input.clone(), 10 * i, output, 10 * i + 5);
    }
    (history, corrupted_any)
}

/// Runs `inputs` with overlapping intervals `[call, call + duration]`, each taking effect on
/// the reference store at a point inside its interval (`effect_permille` of the way); an
/// operation marked pending never returns but still takes effect. Linearizable by construction.
fn concurrent_history(
    ops: &[(RedisInput, u64, u64, u64, bool)],
) -> History<RedisInput, RedisOutput> {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    let effect = |i: usize| {
        let (_, call, duration, permille, _) = &ops[i];
        call * 1000 + duration * permille
    };
    order.sort_by_key(|&i| (effect(i), i));
    let mut reference = Reference::default();
    let mut outputs = vec![RedisOutput::Ok; ops.len()];
    for i in order {
        outputs[i] = reference.run(&ops[i].0);
    }
    let mut history = History::default();
    for (client, ((input, call, duration, _, pending), output)) in
        (0u64..).zip(ops.iter().zip(outputs))
    {
        let id = history.invoke(client, input.clone(), call * 1000);
        if !pending {
            history.complete(id, output, (call + duration) * 1000);
        }
    }
    history
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// A sequential run of the reference store is linearizable; one wrong read is not.
    #[test]
    fn sequential_runs_are_linearizable_and_a_wrong_read_is_not(
        inputs in prop::collection::vec(input(), 1..=16),
        corrupt in prop::option::of(0..16usize),
    ) {
        let (history, corrupted) = sequential_history(&inputs, corrupt);
        let outcome = check_redis(&history, Budget::default());
        prop_assert_eq!(outcome.is_linearizable(), !corrupted, "{}", outcome);
    }

    /// Overlapping operations that took effect inside their intervals are linearizable,
    /// whatever components the multi-key commands form.
    #[test]
    fn concurrent_runs_are_linearizable(
        ops in prop::collection::vec(
            (input(), 0..20u64, 0..6u64, 0..=1000u64, prop::bool::weighted(0.1)),
            1..=10,
        ),
    ) {
        let outcome = check_redis(&concurrent_history(&ops), Budget::default());
        prop_assert!(outcome.is_linearizable(), "{}", outcome);
    }
}
