//! Deterministic synthetic histories of a linearizable key/value store, for tests and benches.
//!
//! Clients run one operation at a time with random gaps and durations, so operations of
//! different clients overlap. Each operation takes effect at a random instant inside its
//! interval, and outputs come from applying the operations in order of those instants to a
//! sequential store: the history is linearizable by construction. Shared with
//! `benches/checker.rs` through `#[path]`, so both use one generator.

use std::collections::BTreeMap;

use check::{History, KvInput, KvOutput, Operation};

/// splitmix64: a tiny seeded generator, so no `rand` dependency and one seed replays a history.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound > 0`); the modulo bias is irrelevant here.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// Shape of a synthetic workload.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Seed of the generator.
    pub seed: u64,
    /// Number of operations.
    pub ops: usize,
    /// Number of concurrent clients.
    pub clients: u64,
    /// Number of distinct keys.
    pub keys: u64,
    /// Chance, in percent, that an operation never returns (half of those take effect).
    pub pending_percent: u64,
}

/// One generated operation before its output is known.
struct Planned {
    client: u64,
    input: KvInput,
    call_time: u64,
    return_time: Option<u64>,
    /// When it takes effect, or `None` if it never does.
    effect_time: Option<u64>,
}

/// A linearizable history of `workload`.
pub fn linearizable_history(workload: Workload) -> History {
    let mut rng = SplitMix::new(workload.seed);
    let planned = plan(&mut rng, workload);
    let outputs = execute(&planned);
    let mut history = History::new();
    for (op, output) in planned.into_iter().zip(outputs) {
        let id = history.invoke(op.client, op.input, op.call_time);
        if let Some(return_time) = op.return_time {
            history.complete(id, output, return_time);
        }
    }
    history
}

fn plan(rng: &mut SplitMix, workload: Workload) -> Vec<Planned> {
    let mut free_at: Vec<u64> = (0..workload.clients).map(|_| rng.below(10)).collect();
    let mut planned = Vec::with_capacity(workload.ops);
    for serial in 0..workload.ops {
        let client = rng.below(workload.clients);
        let call_time = free_at[client as usize] + rng.below(5);
        let duration = 1 + rng.below(50);
        let return_time = call_time + duration;
        free_at[client as usize] = return_time;
        let key = format!("k{}", rng.below(workload.keys));
        let input = match rng.below(4) {
            0 | 1 => KvInput::get(key),
            2 => KvInput::put(key, format!("{client}.{serial}")),
            _ => KvInput::append(key, format!("{client}.{serial};")),
        };
        let effect_time = Some(call_time + rng.below(duration + 1));
        let pending = rng.below(100) < workload.pending_percent;
        planned.push(Planned {
            client,
            input,
            call_time,
            return_time: if pending { None } else { Some(return_time) },
            effect_time: if pending && rng.below(2) == 0 {
                None
            } else {
                effect_time
            },
        });
    }
    planned
}

/// The output of each planned operation when applied in order of effect time.
fn execute(planned: &[Planned]) -> Vec<KvOutput> {
    let mut order: Vec<usize> = (0..planned.len())
        .filter(|&i| planned[i].effect_time.is_some())
        .collect();
    order.sort_by_key(|&i| (planned[i].effect_time, i));
    let mut store: BTreeMap<&str, String> = BTreeMap::new();
    let mut outputs = vec![KvOutput::Ok; planned.len()];
    for index in order {
        outputs[index] = match &planned[index].input {
            KvInput::Get { key } => {
                KvOutput::Value(store.get(key.as_str()).cloned().unwrap_or_default())
            }
            KvInput::Put { key, value } => {
                store.insert(key, value.clone());
                KvOutput::Ok
            }
            KvInput::Append { key, value } => {
                store.entry(key).or_default().push_str(value);
                KvOutput::Ok
            }
        };
    }
    outputs
}

/// A copy of `history` where one completed read returns a value no write produced or, if
/// `stale`, the value of the latest read of the same key that finished before it started.
pub fn corrupt_one_read(history: &History, rng: &mut SplitMix, stale: bool) -> (History, String) {
    let reads: Vec<(usize, &Operation<KvInput, KvOutput>)> = history
        .iter()
        .filter(|(_, op)| matches!(op.input(), KvInput::Get { .. }) && !op.is_pending())
        .map(|(id, op)| (id.index(), op))
        .collect();
    let (target, read) = reads[rng.below(reads.len() as u64) as usize];
    let key = read.input().key().to_owned();
    let earlier = reads
        .iter()
        .filter(|(_, op)| op.input().key() == key && op.output() != read.output())
        .filter(|(_, op)| op.return_time().is_some_and(|ret| ret < read.call_time()))
        .max_by_key(|(_, op)| op.return_time())
        .and_then(|(_, op)| op.output().cloned());
    let replacement = match earlier {
        Some(output) if stale => output,
        _ => KvOutput::value("never written"),
    };
    let mut corrupted = History::new();
    for (id, op) in history.iter() {
        let new_id = corrupted.invoke(op.client(), op.input().clone(), op.call_time());
        let (Some(output), Some(time)) = (op.output(), op.return_time()) else {
            continue;
        };
        let output = if id.index() == target {
            replacement.clone()
        } else {
            output.clone()
        };
        corrupted.complete(new_id, output, time);
    }
    (corrupted, key)
}
