//! Writing the final output: into a temporary file beside the target, renamed over it only once
//! complete, so a failed run never leaves a partial file that looks finished.

use crate::error::MrError;
use crate::records::decode_records;
use crate::task::merge_outputs;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Merges `outputs` (reduce outputs) into `path` atomically. Returns the number of lines.
///
/// # Errors
/// [`MrError::Output`] if the file cannot be written or renamed (the temporary file is removed);
/// [`MrError::Records`] for a malformed reduce output.
pub fn write_output<B: AsRef<[u8]>>(path: &Path, outputs: &[B]) -> Result<u64, MrError> {
    let tmp = tmp_path(path);
    let result = (|| {
        let file = File::create(&tmp).map_err(|source| output_err(path, source))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let lines = merge_outputs(outputs, &mut w).map_err(|e| match e {
            crate::task::MergeError::Io(source) => output_err(path, source),
            other => MrError::from(other),
        })?;
        let file = w
            .into_inner()
            .map_err(|e| output_err(path, e.into_error()))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|source| output_err(path, source))?;
        Ok(lines)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn output_err(path: &Path, source: std::io::Error) -> MrError {
    MrError::Output {
        path: path.to_path_buf(),
        source,
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// The `n` keys with the largest decimal values (ties broken by key), largest first: the top of
/// a word count.
///
/// # Errors
/// [`MrError::Records`] for a malformed reduce output.
pub fn top_by_value<B: AsRef<[u8]>>(
    outputs: &[B],
    n: usize,
) -> Result<Vec<(String, u64)>, MrError> {
    let mut records = Vec::new();
    for output in outputs {
        decode_records(output.as_ref(), &mut records)?;
    }
    let mut counted: Vec<(u64, &[u8])> = records
        .iter()
        .filter_map(|(k, v)| Some((std::str::from_utf8(v).ok()?.parse().ok()?, *k)))
        .collect();
    counted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    Ok(counted
        .into_iter()
        .take(n)
        .map(|(count, key)| (String::from_utf8_lossy(key).into_owned(), count))
        .collect())
}
