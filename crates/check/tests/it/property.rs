//! Property tests: the checker agrees exactly with the brute-force checker on small histories
//! (at most 7 operations, 1–2 keys, 2–3 clients), both random ones and ones produced by a real
//! linearizable execution (optionally with one read corrupted).

use check::{History, KvInput, KvOutput, Outcome};
use proptest::prelude::*;

use crate::{brute, verdict};

const KEYS: [&str; 2] = ["a", "b"];
const VALUES: [&str; 2] = ["x", "y"];
/// Values a random read may return: reachable ones and impossible ones.
const READS: [&str; 7] = ["", "x", "y", "xy", "yx", "xx", "yy"];

/// The random choices for one operation.
#[derive(Clone, Debug)]
struct Spec {
    client: u64,
    key: usize,
    kind: u8,
    value: usize,
    call_time: u64,
    duration: u64,
    /// Where in its interval the operation takes effect in an execution, in thousandths.
    effect_permille: u64,
    pending: bool,
    /// Whether a pending operation takes effect in an execution.
    takes_effect: bool,
    /// A random read's output, as an index into `READS`.
    read: usize,
}

impl Spec {
    fn input(&self, keys: usize) -> KvInput {
        let key = KEYS[self.key % keys];
        match self.kind {
            0 => KvInput::get(key),
            1 => KvInput::put(key, VALUES[self.value]),
            _ => KvInput::append(key, VALUES[self.value]),
        }
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (0..3u64, 0..2usize, 0..3u8, 0..2usize),
        (0..30u64, 0..12u64, 0..=1000u64),
        (prop::bool::weighted(0.15), any::<bool>(), 0..READS.len()),
    )
        .prop_map(
            |(
                (client, key, kind, value),
                (call_time, duration, effect_permille),
                (pending, takes_effect, read),
            )| {
                Spec {
                    client,
                    key,
                    kind,
                    value,
                    call_time,
                    duration,
                    effect_permille,
                    pending,
                    takes_effect,
                    read,
                }
            },
        )
}

/// Operations, number of keys, number of clients.
fn workload() -> impl Strategy<Value = (Vec<Spec>, usize, u64)> {
    (prop::collection::vec(spec(), 1..=7), 1..=2usize, 2..=3u64)
}

/// A history with random outputs: reads return any of `READS`.
fn random_history(specs: &[Spec], keys: usize, clients: u64) -> History {
    let mut history = History::new();
    for spec in specs {
        let input = spec.input(keys);
        let output = match input {
            KvInput::Get { .. } => KvOutput::value(READS[spec.read]),
            _ => KvOutput::Ok,
        };
        let id = history.invoke(spec.client % clients, input, spec.call_time);
        if !spec.pending {
            history.complete(id, output, spec.call_time + spec.duration);
        }
    }
    history
}

/// A history whose outputs come from applying the operations at their effect times to a
/// sequential store; then, if `corrupt` is set, that operation (if a completed read) returns
/// `READS[corrupt.1]` instead.
fn executed_history(
    specs: &[Spec],
    keys: usize,
    clients: u64,
    corrupt: Option<(usize, usize)>,
) -> History {
    let effect_times: Vec<Option<u64>> = specs
        .iter()
        .map(|spec| match (spec.pending, spec.takes_effect) {
            (false, _) => Some(spec.call_time + spec.duration * spec.effect_permille / 1000),
            (true, true) => Some(spec.call_time + spec.effect_permille / 25),
            (true, false) => None,
        })
        .collect();
    let mut order: Vec<usize> = (0..specs.len())
        .filter(|&i| effect_times[i].is_some())
        .collect();
    order.sort_by_key(|&i| (effect_times[i], i));
    let mut store = std::collections::BTreeMap::<&str, String>::new();
    let mut outputs = vec![KvOutput::Ok; specs.len()];
    for index in order {
        let key = KEYS[specs[index].key % keys];
        let value = VALUES[specs[index].value];
        match specs[index].kind {
            0 => outputs[index] = KvOutput::value(store.get(key).cloned().unwrap_or_default()),
            1 => drop(store.insert(key, value.to_owned())),
            _ => store.entry(key).or_default().push_str(value),
        }
    }
    if let Some((index, read)) = corrupt {
        let index = index % specs.len();
        if specs[index].kind == 0 {
            outputs[index] = KvOutput::value(READS[read]);
        }
    }
    let mut history = History::new();
    for (spec, output) in specs.iter().zip(outputs) {
        let id = history.invoke(spec.client % clients, spec.input(keys), spec.call_time);
        if !spec.pending {
            history.complete(id, output, spec.call_time + spec.duration);
        }
    }
    history
}

/// Checks the crate's verdict against brute force, and that any report is a counterexample.
fn assert_agrees(history: &History) -> Result<bool, TestCaseError> {
    let expected = brute::is_linearizable(history);
    let outcome = verdict(history);
    match &outcome {
        Outcome::Linearizable => {
            prop_assert!(expected, "checker passed a bad history: {history:?}")
        }
        Outcome::Illegal(found) => {
            prop_assert!(!expected, "checker failed a good history:\n{found}");
            let sub = brute::sub_history(history, found.ops());
            prop_assert!(
                !brute::is_linearizable(&sub),
                "report is no counterexample:\n{found}"
            );
        }
        Outcome::Unknown { .. } => prop_assert!(false, "tiny history ran out of budget: {outcome}"),
    }
    Ok(expected)
}

/// Cases per property: 10,000 by default (a fraction of a second), `PROPTEST_CASES=N` for a soak run.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(10_000),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Random intervals and outputs (mostly not linearizable): both checkers agree exactly.
    #[test]
    fn agrees_with_brute_force_on_random_histories((specs, keys, clients) in workload()) {
        assert_agrees(&random_history(&specs, keys, clients))?;
    }

    /// Histories of real executions are linearizable by construction; with one read corrupted
    /// they usually are not. Both checkers agree exactly either way.
    #[test]
    fn agrees_with_brute_force_on_executed_histories(
        (specs, keys, clients) in workload(),
        corrupt in prop::option::weighted(0.5, (0..7usize, 0..READS.len())),
    ) {
        let linearizable = assert_agrees(&executed_history(&specs, keys, clients, corrupt))?;
        prop_assert!(linearizable || corrupt.is_some(), "an execution must be linearizable");
    }
}
