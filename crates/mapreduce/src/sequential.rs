//! The sequential run (SPEC §2.1 `RunSingle`): every map task, then every reduce task, in this
//! thread, with no networking. The reference the other modes must match byte for byte.

use crate::error::MrError;
use crate::job::Job;
use crate::split::{doc_name, plan_splits, read_range};
use crate::task::{run_map, run_reduce};
use std::path::PathBuf;

/// Runs `job` over `inputs` with splits of about `split_bytes` and `reduces` partitions; returns
/// the reduce outputs, one per partition (merge them with [`crate::output::write_output`]).
///
/// # Errors
/// [`MrError::Input`] if an input cannot be read.
///
/// # Panics
/// If `reduces` is zero.
pub fn run_sequential(
    job: &dyn Job,
    inputs: &[PathBuf],
    split_bytes: u64,
    reduces: u32,
) -> Result<Vec<Vec<u8>>, MrError> {
    let splits = plan_splits(inputs, split_bytes)?;
    let mut runs: Vec<Vec<Vec<u8>>> = (0..reduces).map(|_| Vec::new()).collect();
    for split in &splits {
        let path = &inputs[split.file as usize];
        let text = read_range(path, split.offset, split.len)?;
        for (r, run) in run_map(job, &doc_name(path), &text, reduces)
            .into_iter()
            .enumerate()
        {
            runs[r].push(run);
        }
    }
    runs.iter()
        .map(|parts| run_reduce(job, parts).map_err(MrError::from))
        .collect()
}
