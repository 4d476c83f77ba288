//! The work of one task, without any I/O: map a split into sorted runs, one per reduce partition;
//! reduce the runs of one partition; merge the reduce outputs into the final text. Every mode
//! (sequential, in-process, distributed) runs exactly these functions, which is why their outputs
//! are byte-identical.

use crate::fx::FxHashMap;
use crate::job::Job;
use crate::partition::partition_of;
use crate::records::{RecordError, decode_records, put_record};
use std::io::{self, Write};

/// Runs `job`'s map over one split of `doc` and returns one sorted run per reduce partition.
///
/// # Panics
/// If `reduces` is zero.
pub fn run_map(job: &dyn Job, doc: &str, split: &[u8], reduces: u32) -> Vec<Vec<u8>> {
    assert!(reduces > 0, "at least one reduce partition");
    let mut parts: Vec<Vec<(&[u8], Vec<u8>)>> = (0..reduces).map(|_| Vec::new()).collect();
    // Small at first, as the baseline's: a table sized for the split (3 MB for 32 MiB) spills
    // out of the L2 cache, and on the 1 GiB benchmark cost workers 20 % more CPU than growing.
    let mut counts: FxHashMap<&[u8], u64> =
        FxHashMap::with_capacity_and_hasher((split.len() / 256).min(1 << 12), Default::default());
    if job.map_keys(doc, split, &mut |key| *counts.entry(key).or_insert(0) += 1) {
        let mut counted: Vec<Vec<(&[u8], u64)>> = (0..reduces).map(|_| Vec::new()).collect();
        for (key, n) in counts {
            counted[partition_of(key, reduces) as usize].push((key, n));
        }
        return counted
            .into_iter()
            .map(|mut part| {
                // Keys are distinct: an unstable sort is deterministic here.
                part.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut out = Vec::with_capacity(part.len() * 16);
                for (key, n) in &part {
                    put_record(&mut out, key, &n.to_le_bytes());
                }
                out
            })
            .collect();
    } else if job.has_combiner() {
        let mut table: FxHashMap<&[u8], Vec<u8>> = FxHashMap::default();
        job.map(doc, split, &mut |key, value| match table.get_mut(key) {
            Some(acc) => job.combine(acc, value),
            None => {
                table.insert(key, value.to_vec());
            }
        });
        for (key, value) in table {
            parts[partition_of(key, reduces) as usize].push((key, value));
        }
    } else {
        job.map(doc, split, &mut |key, value| {
            parts[partition_of(key, reduces) as usize].push((key, value.to_vec()));
        });
    }
    parts
        .into_iter()
        .map(|mut part| {
            part.sort_by(|a, b| a.0.cmp(b.0));
            let mut out = Vec::new();
            for (key, value) in &part {
                put_record(&mut out, key, value);
            }
            out
        })
        .collect()
}

/// Reduces one partition: `runs` are the map outputs for it (one per map task), each sorted.
/// Returns the partition's output as sorted records `key -> reduced value`.
///
/// # Errors
/// [`RecordError`] if a run is malformed (it came from a broken or hostile worker).
pub fn run_reduce<B: AsRef<[u8]>>(job: &dyn Job, runs: &[B]) -> Result<Vec<u8>, RecordError> {
    let mut records = Vec::new();
    for run in runs {
        decode_records(run.as_ref(), &mut records)?;
    }
    // Stable, so the values of one key keep their order (map task, then position).
    records.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    let mut value = Vec::new();
    let mut rest = &records[..];
    while let Some(&(key, _)) = rest.first() {
        let same = rest.iter().take_while(|r| r.0 == key).count();
        value.clear();
        job.reduce(key, &mut rest[..same].iter().map(|r| r.1), &mut value);
        put_record(&mut out, key, &value);
        rest = &rest[same..];
    }
    Ok(out)
}

/// Merges the reduce outputs (each sorted, keys disjoint) into the final output: one
/// `key: value` line per key, sorted by key in byte order. Returns the number of lines.
///
/// # Errors
/// [`MergeError::Records`] for a malformed output, [`MergeError::Io`] if writing fails.
pub fn merge_outputs<B: AsRef<[u8]>>(outputs: &[B], mut w: impl Write) -> Result<u64, MergeError> {
    let mut records = Vec::new();
    for output in outputs {
        decode_records(output.as_ref(), &mut records)?;
    }
    records.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in &records {
        w.write_all(key)?;
        w.write_all(b": ")?;
        w.write_all(value)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(records.len() as u64)
}

/// Why the final merge failed.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A reduce output is malformed.
    #[error(transparent)]
    Records(#[from] RecordError),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Io(#[from] io::Error),
}
